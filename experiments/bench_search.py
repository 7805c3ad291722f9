"""Search speed and quality, like for like with the E3D authors, printed as figures.

    python -m experiments.bench_search [--seeds 5] [--budgets e3d_s e3d_m e3d_l]
        [--authors-src DIR --authors-python PY [--authors-seconds 60]]

Every figure uses the authors' space (the default ``space=e3d``) and their FLOPs counter (the paper
budgets count BatchNorm, ReLU and pooling); the objective is named on each line.

1. Throughput: candidates evaluated per second in one process (mutation + cost + budget check + score),
   against a per-candidate baseline measured in the same run: build each candidate's nn.Module and count
   its FLOPs with fvcore, as a search without a closed-form cost model has to.
2. Quality: ``python -m e3dnas.search +budget=B search.seed=S`` as a user runs it (wall time includes
   start-up, plots and the offline wandb run), under both presets of each budget: ``B`` (this project's
   objective: the network's own feature-map sides, 500k candidates) and ``B_authors`` (the authors'
   released search: floored sides at 160 px, 500k / 100k / 100k candidates). Best score against the
   released E3D under the same objective; every winner is checked within budget and on the space's grid.
3. Equal wall clock: the authors' own search (their code, ``--authors-src``) for ``--authors-seconds``
   against ours, and ours stopped after as many candidates as theirs evaluated in that time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from e3dnas import cost, scores
from e3dnas.arch import ArchBatch, read_arch
from e3dnas.arch.released import released_arch
from e3dnas.budget import Budget
from e3dnas.configs import read_conf
from e3dnas.search import ScorerSpec, SearchProblem, SearchSettings, run_search
from e3dnas.space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]
AUTHORS_CONFIGS = {
    name: f"configs/action_recognition/E3D_X3D{name[-1].upper()}_FLOPs.py"
    for name in ("e3d_s", "e3d_m", "e3d_l")
}


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
    problem = SearchProblem(
        load_space(budget), ScorerSpec("stentr"), budget, SearchSettings(iterations=iterations)
    )
    result = run_search(problem, progress=False)
    return result.evaluated / result.seconds


def cli_search(preset: str, seed: int, out: Path, *overrides: str) -> tuple[float, dict]:
    """(wall seconds, best.yaml document) of one CLI search with the preset's defaults."""
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "WANDB_SILENT": "true"}
    cmd = [sys.executable, "-m", "e3dnas.search", f"+budget={preset}", f"search.seed={seed}", *overrides]
    start = time.perf_counter()
    subprocess.run([*cmd, f"hydra.run.dir={out}", "progress=false"], check=True, env=env, capture_output=True)
    return time.perf_counter() - start, read_arch(out / "best.yaml")


def quality(budget_name: str, preset: str, seeds: int, tmp: Path) -> None:
    """One line per preset: best vs the released net under the same objective; budget and grid checked."""
    budget, space = load_budget(budget_name), load_space(load_budget(budget_name))
    runs = [cli_search(preset, seed, tmp / f"{preset}-{seed}") for seed in range(seeds)]
    scorer = runs[0][1].meta["source"]["scorer"]
    iterations = runs[0][1].meta["source"]["iterations"]
    released = released_arch(budget_name).arch
    reference = scores.score_arch(released, scorer)
    best = [doc.meta["scores"][scorer] for _, doc in runs]
    gflops = [cost.cost(doc.arch).authors_flops / 1e9 for _, doc in runs]
    for _, doc in runs:
        space.check(doc.arch, f"{preset} winner")  # raises SpaceError when off the authors' grid
    assert max(gflops) <= budget.flops / 1e9, f"{preset}: a winner is over budget: {gflops}"
    walls = [wall for wall, _ in runs]
    spread = statistics.stdev(best) if len(best) > 1 else 0.0
    margin = [b - reference for b in best]
    print(
        f"{preset:14} {scorer:15} {iterations:>7,} {reference:9.3f} {statistics.mean(best):9.3f} "
        f"± {spread:5.3f} {min(margin):+7.3f} {max(margin):+7.3f} {statistics.mean(gflops):7.3f} "
        f"{statistics.mean(walls):6.1f} ({max(walls):.1f})"
    )


def authors_search(src: Path, python: str, budget_name: str, seconds: float, tmp: Path) -> dict:
    """The authors' search in their own code for ``seconds`` (see authors_search.py)."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONWARNINGS": "ignore"}
    cmd = [
        python,
        str(ROOT / "experiments" / "authors_search.py"),
        AUTHORS_CONFIGS[budget_name],
        f"--seconds={seconds}",
        f"--work-dir={tmp / f'authors-{budget_name}'}",
    ]
    run = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def equal_wall_clock(args: argparse.Namespace, tmp: Path) -> None:
    print(
        f"\n3. equal wall clock: the authors' own search for {args.authors_seconds:g} s vs ours "
        "(authors' objective)"
    )
    if not (args.authors_src and args.authors_python):
        print("   skipped: pass --authors-src <their checkout> --authors-python <a Python that imports it>")
        return
    print(
        f"{'budget':7} {'who':32} {'candidates':>10} {'seconds':>8} {'best':>9} {'released':>9} {'GFLOPs':>7}"
    )
    for name in args.budgets:
        reference = scores.score_arch(released_arch(name).arch, "stentr_authors")
        theirs = authors_search(args.authors_src, args.authors_python, name, args.authors_seconds, tmp)
        print(
            f"{name:7} {'authors (their code)':32} {theirs['evaluated']:10,} {theirs['seconds']:8.1f} "
            f"{theirs['best_score']:9.3f} {reference:9.3f} {theirs['best_flops'] / 1e9:7.3f}"
        )
        rows = [
            ("ours, default preset", ()),
            ("ours, same candidate count", (f"search.iterations={theirs['evaluated']}",)),
        ]
        for label, overrides in rows:
            wall, doc = cli_search(f"{name}_authors", 0, tmp / f"equal-{name}-{len(overrides)}", *overrides)
            print(
                f"{name:7} {label:32} {doc.meta['source']['iterations']:10,} {wall:8.1f} "
                f"{doc.meta['scores']['stentr_authors']:9.3f} {reference:9.3f} "
                f"{cost.cost(doc.arch).authors_flops / 1e9:7.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", nargs="+", default=["e3d_s", "e3d_m", "e3d_l"])
    parser.add_argument("--iterations", type=int, default=200_000, help="for the throughput figure")
    parser.add_argument("--baseline-candidates", type=int, default=5)
    parser.add_argument("--authors-src", type=Path, help="a checkout of the authors' repository")
    parser.add_argument("--authors-python", help="a Python that can import it (torch, thop, ...)")
    parser.add_argument("--authors-seconds", type=float, default=60.0)
    args = parser.parse_args()

    budget = load_budget("e3d_s")
    ours = throughput(budget, args.iterations)
    baseline = module_baseline(load_space(budget), budget, args.baseline_candidates)
    print("1. throughput (e3d_s: authors' space and FLOPs counter, objective stentr, 1 process)")
    print(
        f"   ours: {ours:,.0f} candidates/s; module + fvcore per candidate: {baseline:,.1f}/s "
        f"({ours / baseline:,.0f}×)"
    )

    print(
        f"\n2. quality: default CLI search, {args.seeds} seeds per preset "
        "(best score vs the released net, same objective)"
    )
    print(
        f"{'preset':14} {'objective':15} {'iters':>7} {'released':>9} {'best mean±std':>17} "
        f"{'margin min':>10} {'max':>7} {'GFLOPs':>7} {'wall s (max)':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.budgets:
            for preset in (name, f"{name}_authors"):
                quality(name, preset, args.seeds, Path(tmp))
        print("   GFLOPs: the authors' count, ≤ the budget for every seed; margin: best − released")
        equal_wall_clock(args, Path(tmp))


if __name__ == "__main__":
    main()
