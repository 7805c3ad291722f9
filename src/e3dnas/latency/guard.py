"""Retake timings that other processes disturbed (CPU, Linux).

On a shared machine another process takes a core for seconds at a time, and with every core busy an
intra-op thread pool waits a scheduler time slice at each barrier: a 0.1 ms op then takes 30 ms, and no
statistic over its own calls removes that. The kernel says how busy every CPU was (``/proc/stat``) and how
much of that was this process (``os.times``); the difference over a timing is what others used. A timing
during which others used more than ``guard_load`` cores (beyond the 10 ms tick's rounding) is retaken
once they have calmed down, up to ``guard_retries`` times; then the lowest is kept and counted. After
``GIVE_UP`` such timings in a row the machine is busy for longer than retaking can bridge: timings are
taken once and counted until one comes clean again (a profile's later rounds get another chance).

(A first version timed a reference op around each timing instead: the reference itself ran up to 1.7×
slower after an idle pause or a large op of this process, so it retook a timing in five on a quiet
machine.) Not on a GPU, whose host had 16 idle cores; not where ``/proc/stat`` is missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from e3dnas.latency.timing import DeviceSettings, TimingSettings

T = TypeVar("T")
PROC_STAT = Path("/proc/stat")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: /proc/stat and os.times count whole ticks: two of them are rounding, not load.
SLACK_TICKS = 2


def _snapshot() -> tuple[float, int, float]:
    """(wall seconds, busy ticks of all CPUs, ticks of this process)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, PROC_STAT.read_text().split()[1:9])
    own = os.times()
    return (
        time.monotonic(),
        user + nice + system + irq + softirq + steal,
        (own.user + own.system) * TICKS_PER_SECOND,
    )


def others_cores(start: tuple[float, int, float], end: tuple[float, int, float]) -> float:
    """Cores used by other processes between two snapshots, on average (rounding slack removed)."""
    wall, busy, own = (b - a for a, b in zip(start, end, strict=True))
    return max(0.0, busy - own - SLACK_TICKS) / (max(wall, 1e-9) * TICKS_PER_SECOND)


class LoadGuard:
    """Measures through :meth:`measure`; counts the timings it retook and those it never got clean."""

    WAIT_SECONDS = 5.0
    POLL_SECONDS = 0.1
    GIVE_UP = 3

    def __init__(self, device: DeviceSettings, timing: TimingSettings):
        self.timing = timing
        self.enabled = timing.guard_load is not None and device.backend.load_sensitive and PROC_STAT.exists()
        self.retaken = 0
        self.contended = 0
        self._in_a_row = 0

    def wait_quiet(self) -> None:
        """Until others use at most ``guard_load`` cores over a poll interval (``WAIT_SECONDS`` at most)."""
        deadline = time.monotonic() + self.WAIT_SECONDS
        while time.monotonic() < deadline:
            start = _snapshot()
            time.sleep(self.POLL_SECONDS)
            if others_cores(start, _snapshot()) <= self.timing.guard_load:
                return

    def measure(self, job: Callable[[], T], key: Callable[[T], float] = float) -> T:
        """``job()`` (a timing) taken while others left the CPUs alone, else the try of lowest ``key``."""
        if not self.enabled:
            return job()
        values = []
        retries = self.timing.guard_retries if self._in_a_row < self.GIVE_UP else 0
        for attempt in range(retries + 1):
            if attempt:
                self.retaken += 1
                self.wait_quiet()
            start = _snapshot()
            values.append(job())
            if others_cores(start, _snapshot()) <= self.timing.guard_load:
                self._in_a_row = 0
                return values[-1]
        self.contended += 1
        self._in_a_row += 1
        return min(values, key=key)
