"""Search speed and quality (issue 3), printed as figures.

    python experiments/bench_search.py [--seeds 5] [--budgets e3d_s e3d_m e3d_l]

1. Throughput: candidates evaluated per second in one process (mutation + cost + budget check + score),
   against a per-candidate baseline measured in the same run: build each candidate's nn.Module and count
   its FLOPs with fvcore, as a search without a closed-form cost model has to.
2. Quality: ``python -m e3dnas.search +budget=B search.seed=S`` with the defaults, as a user runs it (wall
   time includes start-up, plots and the offline wandb run); best STEntr against the released E3D at the
   same budget, mean ± std over the seeds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from e3dnas import scores
from e3dnas.arch import ArchBatch, load_arch, read_arch
from e3dnas.cli import read_conf
from e3dnas.search import Budget, ScorerSpec, SearchSettings, run_search
from e3dnas.space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]


def load_budget(name: str) -> Budget:
    return Budget.from_config(read_conf("budget", name))


def load_space(budget: Budget) -> SearchSpace:
    return budget.space(read_conf("space", "e3d"))


def module_baseline(space: SearchSpace, budget: Budget, n: int) -> float:
    """Candidates/s when each candidate is built as a torch module and measured with fvcore."""
    import torch
    from fvcore.nn import FlopCountAnalysis

    from e3dnas.models import build_model

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    genes = np.repeat(ArchBatch.from_archs([space.seed]).genes, n, axis=0)
    for _ in range(20):
        genes = space.mutate(genes, rng)
    batch = ArchBatch(space.skeleton, genes)
    clip = torch.zeros(1, 3, budget.frames, budget.resolution, budget.resolution)
    start = time.perf_counter()
    for i in range(n):
        model = build_model("e3d", arch=batch.arch(i), num_classes=400).eval()
        counter = FlopCountAnalysis(model.backbone, clip)
        counter.unsupported_ops_warnings(False)
        counter.uncalled_modules_warnings(False)
        counter.total()
    return n / (time.perf_counter() - start)


def throughput(budget: Budget, iterations: int) -> float:
    space = load_space(budget)
    result = run_search(
        space, ScorerSpec("stentr"), budget, SearchSettings(iterations=iterations), progress=False
    )
    return result.evaluated / result.seconds


def cli_search(budget: str, seed: int, out: Path) -> tuple[float, float, float]:
    """(wall seconds, best STEntr, best GFLOPs) of one default CLI search."""
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "WANDB_SILENT": "true"}
    cmd = [sys.executable, "-m", "e3dnas.search", f"+budget={budget}", f"search.seed={seed}"]
    start = time.perf_counter()
    subprocess.run([*cmd, f"hydra.run.dir={out}", "progress=false"], check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start
    best = read_arch(out / "best.yaml")
    return wall, best.meta["scores"]["stentr"], best.meta["flops"] / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", nargs="+", default=["e3d_s", "e3d_m", "e3d_l"])
    parser.add_argument("--iterations", type=int, default=200_000, help="for the throughput figure")
    parser.add_argument("--baseline-candidates", type=int, default=5)
    args = parser.parse_args()

    budget = load_budget("e3d_s")
    ours = throughput(budget, args.iterations)
    baseline = module_baseline(load_space(budget), budget, args.baseline_candidates)
    print(f"throughput (e3d_s, 1 process): {ours:,.0f} candidates/s; target ≥ 20,000/s")
    print(f"baseline, module + fvcore per candidate: {baseline:,.1f} candidates/s")
    print(f"ratio ours / baseline: {ours / baseline:,.0f}×")
    print("(the authors' implementation: 12 candidates/s on this kind of machine, DESIGN §8)")

    print(f"\nquality: default CLI search, {args.seeds} seeds per budget")
    columns = {"released": 9, "best mean±std": 16, "min": 9, "max": 9, "GFLOPs": 7, "wall s (max)": 13}
    print(f"{'budget':7} " + " ".join(f"{c:>{w}}" for c, w in columns.items()))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.budgets:
            released = scores.score_arch(load_arch(ROOT / "conf" / "arch" / f"{name}.yaml"))
            runs = [cli_search(name, seed, Path(tmp) / f"{name}-{seed}") for seed in range(args.seeds)]
            walls, best, gflops = zip(*runs, strict=True)
            spread = statistics.stdev(best) if len(best) > 1 else 0.0
            print(
                f"{name:7} {released:9.3f} {statistics.mean(best):9.3f} ± {spread:5.3f} {min(best):9.3f} "
                f"{max(best):9.3f} {statistics.mean(gflops):7.3f} "
                f"{statistics.mean(walls):6.1f} ({max(walls):.1f})"
            )
            verdict = "≥" if min(best) >= released else "<"
            print(f"        every seed {verdict} released E3D ({released:.3f}); wall target ≤ 60 s")


if __name__ == "__main__":
    main()
