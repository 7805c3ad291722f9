"""Cost per candidate of each zero-cost proxy scorer, beside STEntr's closed form, measured in one run.

    python -m experiments.bench_proxies [--budgets e3d_s demo] [--candidates 1 3] [--device cpu]

For each budget: ``--candidates`` distinct networks the search could visit there (the budget's seed
network, E3D-S at e3d_s, then admitted mutations of it), each scored once by every proxy as the search
scores it (conf/scorer/<name>.yaml's options: network built, seeded, batch, proxy). A proxy's figure is
the median wall ms per candidate, and its CPU ms (this process, all threads: on a shared machine the
steadier figure, since wall time also waits for the others). STEntr's is the per-candidate share of one
vectorised call on 4,096 candidates (how the search calls it) and, for the call overhead, of a call on
one candidate. The ratio column is a proxy's wall ms over STEntr's vectorised ms. The E3D-S row
dominates the default run (one network at 13×160, three at the demo's 8×56): about a minute of CPU per
proxy on 2 cores; ``--budgets demo`` alone takes about a minute.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from e3dnas import cost
from e3dnas.arch import ArchBatch
from e3dnas.arch.released import released_arch
from e3dnas.budget import Budget
from e3dnas.configs import read_conf
from e3dnas.proxies.scorer import PROXY_SCORERS
from e3dnas.scores import ScorerSpec, build_scorer

#: The network each budget's candidates are mutated from (None: the space's own seed network).
START = {"e3d_s": "e3d_s"}


def candidates(budget_name: str, count: int, seed: int = 0) -> ArchBatch:
    """``count`` distinct networks within ``budget_name``: its start network, then admitted mutations."""
    budget = Budget.from_config(read_conf("budget", budget_name))
    space = budget.space(read_conf("space", "e3d"))
    start = START.get(budget_name)
    arch = (
        space.seed
        if start is None
        else released_arch(start).arch.with_input(budget.frames, budget.resolution)
    )
    genes = ArchBatch.from_archs([arch]).genes
    rng = np.random.default_rng(seed)
    while len(genes) < count:
        child = ArchBatch(space.skeleton, space.mutate(genes[rng.integers(len(genes), size=1)], rng))
        ok = budget.admits(cost.flops(child, budget.counter), cost.params(child), cost.layers(child))
        if ok[0] and not (genes == child.genes[0]).all(axis=1).any():
            genes = np.concatenate([genes, child.genes])
    return ArchBatch(space.skeleton, genes)


def stentr_ms(batch: ArchBatch, repeats: int = 20) -> tuple[float, float]:
    """STEntr's ms per candidate: vectorised over 4,096 candidates, and called on one candidate."""
    score = build_scorer("stentr")
    many = ArchBatch(batch.skeleton, np.repeat(batch.genes, -(-4096 // len(batch)), axis=0)[:4096])
    one = ArchBatch(batch.skeleton, batch.genes[:1])
    timings = []
    for sample, n in ((many, 4096), (one, 1)):
        start = time.perf_counter()
        for _ in range(repeats):
            score(sample)
        timings.append((time.perf_counter() - start) * 1e3 / repeats / n)
    return timings[0], timings[1]


def proxy_ms(name: str, batch: ArchBatch, device: str) -> tuple[float, float]:
    """Median wall ms and CPU ms per candidate of proxy ``name`` (conf defaults, ``device``)."""
    score = ScorerSpec.from_config({**read_conf("scorer", name), "device": device}).build()
    wall, cpu = [], []
    for i in range(len(batch)):
        start, start_cpu = time.perf_counter(), time.process_time()
        score(ArchBatch(batch.skeleton, batch.genes[i : i + 1]))
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def row(budget: str, size: str, scorer: str, n: object, ms: str, ratio: str, cpu: str, note: str) -> str:
    return f"{budget:8} {size:>8} {scorer:10} {n:>4} {ms:>14} {ratio:>12} {cpu:>10}  {note}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budgets", nargs="+", default=["e3d_s", "demo"])
    parser.add_argument("--candidates", nargs="+", type=int, default=[1, 3], help="per budget, in order")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    counts = dict(zip(args.budgets, args.candidates + args.candidates[-1:] * len(args.budgets), strict=False))
    print(row("budget", "input", "scorer", "n", "ms/candidate", "× STEntr", "CPU ms", "options"))
    for budget_name in args.budgets:
        batch = candidates(budget_name, counts[budget_name])
        size = f"{batch.skeleton.frames}×{batch.skeleton.resolution}"
        vectorised, single = stentr_ms(batch)
        print(row(budget_name, size, "stentr", 4096, f"{vectorised:.5f}", "1", "", "vectorised over 4,096"))
        print(
            row(
                budget_name, size, "stentr", 1, f"{single:.3f}", f"{single / vectorised:,.0f}", "", "one call"
            )
        )
        for name in PROXY_SCORERS:
            ms, cpu_ms = proxy_ms(name, batch, args.device)
            conf = {k: v for k, v in read_conf("scorer", name).items() if k != "name"}
            options = " ".join(f"{k}={v}" for k, v in {**conf, "device": args.device}.items())
            ratio = f"{ms / vectorised:,.0f}"
            print(
                row(budget_name, size, name, len(batch), f"{ms:.1f}", ratio, f"{cpu_ms:.0f}", options),
                flush=True,
            )


if __name__ == "__main__":
    main()
