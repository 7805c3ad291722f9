"""Is the GPU fed? Training throughput of E3D-S fed by the data pipeline against the same steps on a batch
already on the GPU, same run, for the videos, their prepared copy, and the prepared copy with the
augmentation rendered on the GPU.

SSv2-shaped data (VP9 webm, 240 px short side, 48 frames; ``experiments.common`` builds it from the real
footage and prepares the copy), E3D-S at 13×160, bf16 autocast, channels_last_3d, SGD, batch 32. The step is a
plain loop (forward, loss, backward, step) so that the figure is the pipeline's, not a framework's;
``--compile`` uses torch.compile. cuDNN's autotuner is set as ``trainer=gpu`` sets it (its ``benchmark``,
which Lightning applies to ``torch.backends.cudnn.benchmark``): the GPU is timed running the kernels training
runs (on an H200, E3D-S alone ran at 184 clips/s with the autotuner off, 341 with it on).
``--no-cudnn-benchmark`` turns it off for a comparison. Needs a CUDA device.

    python -m experiments.bench_feed --workers 15            # ~2 min on a 16-core node (+1 with --compile)
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from e3dnas.arch import load_arch
from e3dnas.models import build_model, prepare_model
from experiments import common

ROOT = Path(__file__).resolve().parents[1]


def trainer_benchmark() -> bool:
    """``benchmark`` of the training config with ``trainer=gpu``: whether training autotunes cuDNN."""
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return bool(compose("train", overrides=["trainer=gpu"]).trainer.get("benchmark") or False)


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: str):
    """One bf16 SGD step on a batch already on the device."""

    def step(clips: torch.Tensor, labels: torch.Tensor) -> None:
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(clips), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def on_device(
    batches: Iterator[dict], datamodule, device: str
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches moved to the GPU as Lightning would (non-blocking from pinned memory, then the data module's
    on-device rendering when ``gpu_transforms`` is on), channels_last_3d."""
    for batch in batches:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        batch = datamodule.on_after_batch_transfer(batch, 0)
        yield batch["clip"].contiguous(memory_format=torch.channels_last_3d), batch["label"]


def forever(datamodule) -> Iterator[dict]:
    """Training batches epoch after epoch from one loader (its persistent workers stay up)."""
    loader = datamodule.train_dataloader()
    while True:
        yield from loader


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def rate(
    step, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], steps: int, warmup: int, device: str
) -> float:
    """Clips per second over ``steps`` steps after ``warmup`` (the device synchronised at both ends)."""
    for _ in range(warmup):
        step(*next(batches))
    synchronize(device)
    start, clips = time.perf_counter(), 0
    for _ in range(steps):
        clips_, labels = next(batches)
        step(clips_, labels)
        clips += len(labels)
    synchronize(device)
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "e3dnas-bench-data")
    parser.add_argument("--workers", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--per-source", type=int, default=8)
    parser.add_argument("--copies", type=int, default=64)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--device", default="cuda", help="cpu: a smoke test of this script, not a figure")
    parser.add_argument(
        "--no-cudnn-benchmark",
        dest="cudnn_benchmark",
        action="store_false",
        help="time with cuDNN's autotuner off (default: as trainer=gpu sets it)",
    )
    args = parser.parse_args()
    args.frames, args.resolution = 13, 160
    logging.basicConfig(level=logging.WARNING)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("bench_feed: skipped, no CUDA device on this machine (--device cpu only checks that it runs)")
        return
    videos = common.build(args.data, "sthv2", args.per_source, args.copies)
    prepared = common.prepared_copy(videos, "sthv2", args)

    torch.backends.cudnn.benchmark = args.cudnn_benchmark and trainer_benchmark()
    torch.manual_seed(0)
    arch = load_arch(ROOT / "conf" / "arch" / "e3d_s.yaml")
    model = build_model("e3d", arch=arch, num_classes=174, frames=13, resolution=160).to(device)
    model = prepare_model(model, channels_last_3d=True, compile=args.compile)
    step = training_step(model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), device)

    def datamodule(root: Path, gpu_transforms: bool):
        dm = common.ours(root, "sthv2", args)
        dm.pin_memory, dm.gpu_transforms = True, gpu_transforms
        return dm

    dm = datamodule(prepared, False)
    cached = next(on_device(iter([next(iter(dm.train_dataloader()))]), dm, device))
    alone = rate(step, iter(lambda: cached, None), args.steps, args.warmup, device)
    print(
        f"{torch.cuda.get_device_name() if device == 'cuda' else 'CPU'},"
        f" {args.workers} workers, batch {args.batch_size}, 13×160, bf16,"
        f" channels_last_3d, compile={args.compile}, cudnn.benchmark={torch.backends.cudnn.benchmark}"
    )
    print(f"GPU alone (cached batch): {alone:.1f} clips/s")
    for name, root, gpu_transforms in (
        ("videos", videos, False),
        ("prepared", prepared, False),
        ("prepared + gpu_transforms", prepared, True),
    ):
        dm = datamodule(root, gpu_transforms)
        known = {child.pid for child in multiprocessing.active_children()}
        batches = on_device(forever(dm), dm, device)  # held: its workers must outlive the timing
        fed = rate(step, batches, args.steps, args.warmup, device)
        workers = [c.pid for c in multiprocessing.active_children() if c.pid not in known]
        memory = max(common.private_mb(pid) for pid in workers)
        print(
            f"fed by {name}: {fed:.1f} clips/s = {100 * fed / alone:.0f} % of the GPU alone"
            f" (largest worker private memory {memory:.0f} MB)"
        )
        del batches


if __name__ == "__main__":
    main()
