"""What several experiments share, in one module (no script imports another):

* the data benchmarks' datasets (``bench_data``, ``bench_feed``): the real footage cut into an SSv2- or
  Kinetics-shaped dataset, its prepared copy, our data module over it, a worker's private memory;
* the latency experiments' table for the device (``latency_accuracy``, ``latency_search``): profiled
  through the CLI, as a user would, resumable, the settings it was measured under, and guarded
  whole-network timing.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from e3dnas.arch import Arch
from e3dnas.budget import Budget
from e3dnas.configs import read_conf
from e3dnas.data import VideoDataModule
from e3dnas.data.config import DatasetConfig
from e3dnas.data.footage import FOOTAGE, footage_cuts
from e3dnas.data.layouts import open_layout, write_layout
from e3dnas.data.prepare import PrepareSettings, prepare, read_manifest
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


# --- the data benchmarks' datasets ----------------------------------------------------------------------

DATASETS = {
    # layout: (short side, frames per cut, fps, sampling, stride)
    "sthv2": (240, 48, 12, "segment", 1),
    "k400": (360, 250, 25, "dense", 6),  # X3D-S / E3D-S: 13 × 6
}


def private_mb(pid: int) -> float:
    """Memory only this process holds (Private_Clean + Private_Dirty of smaps_rollup, the "USS"). RssAnon
    would also count the parent's heap a forked worker shares copy-on-write."""
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        fields = dict(line.split(":", 1) for line in handle if line.startswith("Private_"))
    return sum(int(value.split()[0]) for value in fields.values()) / 1024


def build(root: Path, layout: str, per_source: int, copies: int) -> Path:
    """The layout with ``per_source`` cuts of each footage clip, each listed ``copies`` times in the training
    split: epochs long enough that their boundaries do not dominate the timing."""
    short, length, fps, _, _ = DATASETS[layout]
    folder = root / layout
    done = folder / "done"
    if done.is_file() and done.read_text() == f"{per_source} {copies}":
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    templates = [f"Showing {name}" for name in FOOTAGE]
    train = footage_cuts(length, short, per_source, seed=0)
    val = footage_cuts(length, short, 1, seed=1, split="val", first_id=3 * per_source + 1)
    write_layout(folder, layout, itertools.chain(train, val), templates, fps=fps)
    if layout == "sthv2":
        entries = json.loads((folder / "train.json").read_text())
        (folder / "train.json").write_text(json.dumps(entries * copies))
    else:
        with (folder / "train.csv").open() as handle:
            header, *rows = list(csv.reader(handle))
        with (folder / "train.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows * copies])
    done.write_text(f"{per_source} {copies}")
    return folder


def ours(root: Path, layout: str, args: argparse.Namespace, repeat: int = 1) -> VideoDataModule:
    _, _, _, sampling, stride = DATASETS[layout]
    dm = VideoDataModule(
        DatasetConfig(
            layout=layout,
            root=root,
            frames=args.frames,
            resolution=args.resolution,
            sampling=sampling,
            stride=stride,
            flip="label_pairs" if layout == "sthv2" else "plain",
            batch_size=args.batch_size,
            num_workers=args.workers,
            pin_memory=False,
            persistent_workers=True,
            repeat_clips=repeat,
        )
    )
    dm.setup("fit")
    return dm


def prepared_copy(root: Path, layout: str, args: argparse.Namespace) -> Path:
    """The prepared copy of ``root`` at the largest short side training at ``--resolution`` reads (made
    again when an earlier copy has other settings)."""
    settings = PrepareSettings(layout, str(root), math.ceil(args.resolution * 10 / 7), quality=90)
    out = root.with_name(f"{layout}-prepared-{settings.short_side}")
    manifest = read_manifest(out) if out.is_dir() else None
    if manifest is None or not manifest["complete"] or manifest["settings"] != asdict(settings):
        shutil.rmtree(out, ignore_errors=True)
        prepare(open_layout(layout, root), settings, out, workers=args.workers, progress=False)
    return out
