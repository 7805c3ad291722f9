"""How latency is measured: the device settings a table is valid for, and one timing routine for ops and
whole networks alike, so that the two are comparable.

Warm-up calls first (allocator, oneDNN/cuDNN kernel choice, ``torch.compile``), then blocks of calls, each
block timed as a whole (CUDA synchronised at its ends) and long enough (≥ 1 ms) that the timer's own cost
vanishes, until ``run_time`` seconds and at least ``MIN_BLOCKS`` blocks are spent. The figure is the
minimum or the median of the blocks' per-call times. The minimum is what survives a shared machine: other
processes only ever add time. (``torch.utils.benchmark``'s block-size search spends 100 calls on
millisecond ops before it times anything, which is most of a table's profiling time.)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from e3dnas.arch import Arch
from e3dnas.errors import E3DError
from e3dnas.latency.devices import ALLOCATOR_PRIME_BYTES, DEVICES, CpuDevice, CudaDevice
from e3dnas.latency.modules import CLASSIFIER
from e3dnas.models import build_model

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
STATISTICS = ("median", "min")
#: Blocks timed at least, whatever the run time: a minimum or median of fewer says little.
MIN_BLOCKS = 5
#: Shortest block: the timer and loop overhead (~1 µs) stay under 0.1 %.
MIN_BLOCK_SECONDS = 1e-3


class TimingError(E3DError, ValueError):
    """A device or timing setting is invalid or unavailable; the message names it."""


@dataclass  # not frozen: OmegaConf makes a frozen dataclass a read-only config node
class DeviceSettings:
    """Where and how networks run: a latency table holds for these settings only."""

    device: str = "cpu"
    threads: int = 2
    batch: int = 1
    dtype: str = "float32"
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise TimingError(f"device must be {' or '.join(DEVICES)}, got {self.device!r}")
        problem = DEVICES[self.device].problem()
        if problem:
            raise TimingError(problem)
        if self.dtype not in DTYPES:
            raise TimingError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for key in ("threads", "batch"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TimingError(f"{key} must be an integer >= 1, got {value!r}")
        for key in ("channels_last", "compile"):
            if not isinstance(getattr(self, key), bool):
                raise TimingError(f"{key} must be true or false, got {getattr(self, key)!r}")

    @property
    def backend(self) -> CpuDevice | CudaDevice:
        """What differs between devices (:data:`~e3dnas.latency.devices.DEVICES`)."""
        return DEVICES[self.device]

    def activate(self) -> None:
        """Fix the thread count and the device's state (the CPU allocator's, :class:`CpuDevice`) and let
        cuDNN pick its fastest kernels (CUDA), for ops and networks alike."""
        torch.backends.cudnn.benchmark = True
        self.backend.activate(self.threads)

    def prepare(self, module: nn.Module) -> Callable[..., Any]:
        module = module.eval().to(self.device, DTYPES[self.dtype])
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last_3d)
        if self.compile:
            torch._dynamo.reset()  # one compiled graph per module: no recompile limit across shapes
            return torch.compile(module)
        return module

    def tensor(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """A random (batch, *shape) input in the settings' device, dtype and memory format."""
        x = torch.randn((self.batch, *shape), generator=generator).to(self.device, DTYPES[self.dtype])
        if self.channels_last and x.dim() == 5:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return x

    def describe(self) -> dict[str, Any]:
        """The settings plus what identifies the machine: device name and torch version."""
        return asdict(self) | {"device_name": self.backend.name(), "torch": torch.__version__}


@dataclass  # not frozen: OmegaConf makes a frozen dataclass a read-only config node
class TimingSettings:
    """How long and how each op or network is timed."""

    warmup: int = 3
    min_run_time: float = 0.02  # seconds per op
    network_run_time: float = 1.0  # seconds per whole network
    statistic: str = "min"
    guard_load: float | None = 0.25  # cores other processes may use meanwhile (LoadGuard); None: no guard
    guard_retries: int = 4
    rounds: int = 2  # passes over all timings of a profile, the lowest of each kept

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise TimingError(
                f"timing.statistic must be one of {', '.join(STATISTICS)}, got {self.statistic!r}"
            )
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 1:
            raise TimingError(f"timing.warmup must be an integer >= 1, got {self.warmup!r}")
        for key in ("min_run_time", "network_run_time"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise TimingError(f"timing.{key} must be a number of seconds > 0, got {value!r}")
        load = self.guard_load
        if load is not None and (isinstance(load, bool) or not isinstance(load, int | float) or load < 0):
            raise TimingError(f"timing.guard_load must be null or a number of cores >= 0, got {load!r}")
        for key, low in (("guard_retries", 0), ("rounds", 1)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TimingError(f"timing.{key} must be an integer >= {low}, got {value!r}")

    def describe(self) -> dict[str, Any]:
        return asdict(self) | {
            "method": f"blocks of calls of >= {MIN_BLOCK_SECONDS * 1e3:g} ms, >= {MIN_BLOCKS} blocks, "
            f"{self.statistic} per-call time of the blocks; CPU: malloc primed with a "
            f"{ALLOCATOR_PRIME_BYTES >> 20} MiB block, timings retaken while other processes ran"
        }


def summarize(block_ms: list[float], statistic: str) -> float:
    return statistics.median(block_ms) if statistic == "median" else min(block_ms)


def time_ms(
    module: nn.Module, shapes: list[tuple[int, ...]], device: DeviceSettings, timing: TimingSettings, **kw
) -> float:
    """Milliseconds per forward call: ``timing.statistic`` of the blocks of :func:`time_blocks` (same
    arguments)."""
    return summarize(time_blocks(module, shapes, device, timing, **kw), timing.statistic)


def time_blocks(
    module: nn.Module,
    shapes: list[tuple[int, ...]],
    device: DeviceSettings,
    timing: TimingSettings,
    run_time: float | None = None,
    seed: int = 0,
) -> list[float]:
    """Milliseconds per call in each timed block (see the module's docstring)."""
    generator = torch.Generator().manual_seed(seed)
    call = device.prepare(module)
    inputs = [device.tensor(shape, generator) for shape in shapes]
    sync = device.backend.synchronize

    def block(number: int) -> float:
        sync()
        start = time.perf_counter()
        for _ in range(number):
            call(*inputs)
        sync()
        return (time.perf_counter() - start) / number

    with torch.inference_mode():
        for _ in range(timing.warmup):
            call(*inputs)
        number = max(1, round(MIN_BLOCK_SECONDS / max(block(1), 1e-9)))
        times: list[float] = []
        deadline = time.perf_counter() + (run_time or timing.min_run_time)
        while len(times) < MIN_BLOCKS or time.perf_counter() < deadline:
            times.append(1e3 * block(number))
    return times


def network_blocks(arch: Arch, device: DeviceSettings, timing: TimingSettings, seed: int = 0) -> list[float]:
    """Milliseconds per forward pass of the whole E3D network of ``arch`` (classifier of
    :data:`~e3dnas.latency.modules.CLASSIFIER`) in each block, timed like an op for
    ``timing.network_run_time`` seconds."""
    torch.manual_seed(seed)
    model = build_model("e3d", arch=arch, **CLASSIFIER)
    shape = (3, arch.frames, arch.resolution, arch.resolution)
    return time_blocks(model, [shape], device, timing, timing.network_run_time, seed)


def network_ms(arch: Arch, device: DeviceSettings, timing: TimingSettings, seed: int = 0) -> float:
    """``timing.statistic`` of :func:`network_blocks`: what a table's calibration is fitted to."""
    return summarize(network_blocks(arch, device, timing, seed), timing.statistic)
