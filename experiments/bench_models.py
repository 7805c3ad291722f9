"""CPU latency of E3D vs pytorchvideo X3D at matched budgets, measured in the same run.

    python -m experiments.bench_models [--threads 2] [--repeats 15]

Batch 1, inference mode, ``--threads`` intra-op threads; the two models of a pair are timed alternately
(A B A B …) so drift of a shared machine hits both, and the median is reported. FLOPs are fvcore's totals
(convolutions + BatchNorm + classifier), fvcore's total. With CUDA available it also reports
bf16 training-step throughput (clips/s) of each model.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from fvcore.nn import FlopCountAnalysis

from e3dnas.arch import load_arch
from e3dnas.models import build_model, prepare_model

CONF = Path(__file__).resolve().parents[1] / "conf"
PAIRS = [("e3d_s", "x3d_s", 13, 160), ("e3d_m", "x3d_m", 16, 224)]


def build(name: str, frames: int, resolution: int) -> torch.nn.Module:
    arch = load_arch(CONF / "arch" / f"{name}.yaml") if name.startswith("e3d") else None
    model_name = "e3d" if arch else name
    return build_model(model_name, arch=arch, num_classes=400, frames=frames, resolution=resolution)


def gflops(model: torch.nn.Module, clip: torch.Tensor) -> float:
    counter = FlopCountAnalysis(model, clip)
    counter.unsupported_ops_warnings(False)
    counter.uncalled_modules_warnings(False)
    return counter.total() / 1e9


def paired_latency(models: list[torch.nn.Module], clip: torch.Tensor, repeats: int) -> list[float]:
    """Median milliseconds per forward pass of each model, timed in alternation."""
    times: list[list[float]] = [[] for _ in models]
    with torch.inference_mode():
        for model in models:
            for _ in range(3):
                model(clip)
        for _ in range(repeats):
            for i, model in enumerate(models):
                start = time.perf_counter()
                model(clip)
                times[i].append(1000 * (time.perf_counter() - start))
    return [statistics.median(t) for t in times]


def gpu_training_throughput(
    name: str, frames: int, resolution: int, batch: int = 32, steps: int = 20
) -> float:
    model = prepare_model(build(name, frames, resolution).cuda(), channels_last_3d=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    clips = torch.randn(batch, 3, frames, resolution, resolution, device="cuda")
    clips = clips.to(memory_format=torch.channels_last_3d)
    labels = torch.randint(0, 400, (batch,), device="cuda")
    for step in range(steps + 5):
        if step == 5:
            torch.cuda.synchronize()
            start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(clips), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, median of {args.repeats} (paired)")
    header = f"{'model':8} {'input':>9} {'GFLOPs':>7} {'ms (NCTHW)':>11} {'ms (ch-last)':>13}"
    print(header)
    ratios = []
    for e3d, x3d, frames, resolution in PAIRS:
        models = [build(n, frames, resolution).eval() for n in (e3d, x3d)]
        clip = torch.randn(1, 3, frames, resolution, resolution)
        flops = [gflops(m, clip) for m in models]
        plain = paired_latency(models, clip, args.repeats)
        fast_models = [prepare_model(m, channels_last_3d=True) for m in models]
        fast = paired_latency(fast_models, clip.to(memory_format=torch.channels_last_3d), args.repeats)
        for name, f, p, c in zip((e3d, x3d), flops, plain, fast, strict=True):
            print(f"{name:8} {frames:>3}×{resolution:<5} {f:7.2f} {p:11.1f} {c:13.1f}")
        ratios.append((e3d, x3d, plain[0] / plain[1], fast[0] / fast[1]))
    for e3d, x3d, plain_ratio, fast_ratio in ratios:
        print(
            f"latency {e3d}/{x3d}: {plain_ratio:.2f}× (NCTHW), {fast_ratio:.2f}× (channels_last_3d); "
            "target ≤ 0.70×"
        )
    if torch.cuda.is_available():
        print(f"GPU bf16 training, batch 32, channels_last_3d ({torch.cuda.get_device_name()}):")
        for e3d, x3d, frames, resolution in PAIRS:
            for name in (e3d, x3d):
                print(f"  {name:8} {gpu_training_throughput(name, frames, resolution):8.1f} clips/s")
    else:
        print("GPU training throughput: skipped (no CUDA device on this machine)")


if __name__ == "__main__":
    main()
