"""What the two latency experiments share: a table for the device (profiled through the CLI, as a user
would, resumable), the settings it was measured under, and guarded whole-network timing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from e3dnas.arch import Arch
from e3dnas.budget import Budget
from e3dnas.configs import read_conf
from e3dnas.latency.guard import LoadGuard
from e3dnas.latency.table import LatencyTable
from e3dnas.latency.timing import STATISTICS, DeviceSettings, TimingSettings, network_blocks, summarize

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "latency_results"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def budget(name: str = "e3d_s", **fields) -> Budget:
    return Budget.from_config(read_conf("budget", name) | fields)


def table_for(device: str, table: Path | None, out: Path) -> Path:
    """``table`` if given, else the e3d_s table of ``device`` profiled into ``out/profile-<device>`` (a
    rerun only times what an interrupted profile left)."""
    if table is None:
        run_dir = out / f"profile-{device}"
        cmd = [sys.executable, "-m", "e3dnas.profile", "+budget=e3d_s", f"device={device}"]
        cmd.append(f"hydra.run.dir={run_dir}")
        log(f"profiling: {' '.join(cmd[1:])}")
        start = time.perf_counter()
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        log(f"profile done in {time.perf_counter() - start:.0f} s")
        table = run_dir / "latency.json"
    return table


def settings_of(table: LatencyTable) -> tuple[DeviceSettings, TimingSettings]:
    """The device and timing settings the table was measured under: networks are timed the same way."""
    device = DeviceSettings(**{k: table.device[k] for k in DeviceSettings.__dataclass_fields__})
    timing = TimingSettings(**{k: table.timing[k] for k in TimingSettings.__dataclass_fields__})
    device.activate()
    return device, timing


class NetworkTimer:
    """Whole networks timed with the table's settings, each measurement guarded against other load."""

    def __init__(self, table: LatencyTable, run_time: float | None = None):
        self.device, self.timing = settings_of(table)
        if run_time is not None:
            self.timing = replace(self.timing, network_run_time=run_time)
        self.guard = LoadGuard(self.device, self.timing)

    def __call__(self, arch: Arch) -> dict[str, float]:
        """Median and minimum ms per forward pass over the timed blocks."""
        blocks = self.guard.measure(
            lambda: network_blocks(arch, self.device, self.timing),
            key=lambda b: summarize(b, self.timing.statistic),
        )
        return {statistic: summarize(blocks, statistic) for statistic in STATISTICS}
