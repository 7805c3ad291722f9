"""Training-step throughput and peak memory of E3D-S vs X3D-S at 13×160², same run.

    python -m experiments.bench_train [--batch 2] [--steps 10] [--threads 2]

CPU: fp32, batch ``--batch``, SGD steps on random clips (the data pipeline has its own benchmark); each model
runs in a fresh process so its peak RSS is its own. With CUDA: bf16 autocast at batch 32, with and without
torch.compile / channels_last_3d, peak CUDA memory from the allocator.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("e3d_s", "x3d_s")


def measure(
    name: str, device: str, batch: int, steps: int, threads: int, compile: bool, channels_last: bool
) -> dict:
    import torch

    from e3dnas.arch import load_arch
    from e3dnas.models import build_model, prepare_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    arch = load_arch(ROOT / "conf" / "arch" / "e3d_s.yaml") if name == "e3d_s" else None
    model = build_model("e3d" if arch else name, arch=arch, num_classes=174, frames=13, resolution=160).to(
        device
    )
    model = prepare_model(model, channels_last_3d=channels_last, compile=compile)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    clips = torch.randn(batch, 3, 13, 160, 160, device=device)
    if channels_last:
        clips = clips.contiguous(memory_format=torch.channels_last_3d)
    labels = torch.randint(0, 174, (batch,), device=device)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")

    def step() -> None:
        with autocast:
            loss = torch.nn.functional.cross_entropy(model(clips), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated()
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {"clips_per_s": batch * steps / seconds, "peak_mb": peak / 2**20}


def in_child(**kwargs) -> dict:
    """Run :func:`measure` in a fresh interpreter: peak RSS and allocator state are the model's own."""
    code = (
        f"import json; from experiments import bench_train as b; print(json.dumps(b.measure(**{kwargs!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"CPU training step, 13×160², batch {args.batch}, fp32, {args.threads} threads, {args.steps} steps")
    for channels_last in (False, True):
        layout = "channels_last_3d" if channels_last else "NCTHW (contiguous)"
        cpu = {
            name: in_child(
                name=name,
                device="cpu",
                batch=args.batch,
                steps=args.steps,
                threads=args.threads,
                compile=False,
                channels_last=channels_last,
            )
            for name in MODELS
        }
        for name, figures in cpu.items():
            rate, peak = figures["clips_per_s"], figures["peak_mb"]
            print(f"  {layout:18} {name:6} {rate:7.2f} clips/s   peak RSS {peak:6.0f} MB")
        ratio = cpu["e3d_s"]["clips_per_s"] / cpu["x3d_s"]["clips_per_s"]
        print(f"  {layout:18} throughput E3D-S / X3D-S: {ratio:.2f}×")

    import torch

    if not torch.cuda.is_available():
        print("GPU (bf16, batch 32): skipped, no CUDA device on this machine")
        return
    print(f"GPU training step, bf16 autocast, batch 32 ({torch.cuda.get_device_name()})")
    for compile_, channels_last in ((False, False), (False, True), (True, True)):
        label = f"compile={compile_!s:5} channels_last_3d={channels_last!s:5}"
        for name in MODELS:
            figures = in_child(
                name=name,
                device="cuda",
                batch=32,
                steps=20,
                threads=args.threads,
                compile=compile_,
                channels_last=channels_last,
            )
            print(
                f"  {label} {name:6} {figures['clips_per_s']:8.1f} clips/s  peak {figures['peak_mb']:6.0f} MB"
            )


if __name__ == "__main__":
    main()
