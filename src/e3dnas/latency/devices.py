"""The devices latency is measured on, by name (``device=cpu|cuda``): what differs between them is here, so
the timing and the load guard ask the device instead of comparing its name.

A device says whether torch can use it, prepares the process for timing, waits for queued work (a block is
timed between two such waits), names the hardware for a table's record, and says whether other processes'
CPU load disturbs its timings (what :class:`~e3dnas.latency.guard.LoadGuard` watches).
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch

#: glibc's malloc serves a request under its mmap threshold from the heap (memory reused, no page faults)
#: and maps a larger one afresh on each call (a page fault per 4 KiB: 6 ms instead of 1 ms for a depthwise
#: conv on 5 MB). The threshold starts at 128 KiB and rises to the largest mapped block freed so far, up to
#: 32 MiB, so an op's latency depended on what the process had run before it. Freeing one block just
#: under 32 MiB first puts every timing process in the same steady state: that of any process that has
#: once freed a tensor that large.
ALLOCATOR_PRIME_BYTES = (32 << 20) - (64 << 10)


class CpuDevice:
    """The host's CPUs: threads fixed by the settings, the allocator primed, timings disturbed by others."""

    load_sensitive = True

    def problem(self) -> str | None:
        return None

    def activate(self, threads: int) -> None:
        torch.set_num_threads(threads)
        torch.empty(ALLOCATOR_PRIME_BYTES, dtype=torch.uint8).fill_(0)

    def synchronize(self) -> None:
        """Nothing to wait for: CPU ops return when done."""

    def name(self) -> str:
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.exists():
            for line in cpuinfo.read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        return platform.processor() or platform.machine()


class CudaDevice:
    """The current CUDA GPU: kernels run asynchronously, so a timing waits for them; its host's idle cores
    make other processes' load irrelevant."""

    load_sensitive = False

    def problem(self) -> str | None:
        return None if torch.cuda.is_available() else "device=cuda but torch sees no CUDA device"

    def activate(self, threads: int) -> None:
        torch.set_num_threads(threads)  # the host threads that launch the kernels

    def synchronize(self) -> None:
        torch.cuda.synchronize()

    def name(self) -> str:
        return torch.cuda.get_device_name()


#: The devices by ``device=`` value.
DEVICES: dict[str, CpuDevice | CudaDevice] = {"cpu": CpuDevice(), "cuda": CudaDevice()}
