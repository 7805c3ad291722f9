"""Random networks of the space within a budget, to calibrate a latency table and to check it.

A sample is a random walk of the space's own moves from its seed network, each step kept only when the
child meets the budget (FLOPs, params, layers), of a length drawn uniformly up to ``max_steps``: a search
with no objective. Short walks stay near the small seed, long ones reach the budget, so the sample spans
the sizes a search visits rather than only its winners.
"""

from __future__ import annotations

import numpy as np

from e3dnas import cost
from e3dnas.arch import Arch, ArchBatch
from e3dnas.budget import Budget
from e3dnas.space import SearchSpace


def within_budget(batch: ArchBatch, budget: Budget) -> np.ndarray:
    """FLOPs, params and layers; a latency limit is not applied (the samples are what latency is
    predicted and measured on)."""
    no_latency = np.zeros(len(batch))  # 0 ms meets any limit; no copy of the budget (its table) per step
    return budget.admits(
        cost.flops(batch, budget.counter), cost.params(batch), cost.layers(batch), no_latency
    )


def sample_archs(
    space: SearchSpace, budget: Budget, count: int, seed: int, max_steps: int = 300
) -> list[Arch]:
    """``count`` distinct networks of ``space`` within ``budget``; the same ``seed`` gives the same ones."""
    rng = np.random.default_rng(seed)
    seed_genes = ArchBatch.from_archs([space.seed]).genes
    found: list[np.ndarray] = []
    seen: set[bytes] = set()
    for _ in range(50):
        genes = np.repeat(seed_genes, count, axis=0)
        steps = rng.integers(1, max_steps + 1, size=count)
        for step in range(max_steps):
            children = ArchBatch(space.skeleton, space.mutate(genes, rng))
            keep = within_budget(children, budget) & (step < steps)
            genes[keep] = children.genes[keep]
        for row in genes:
            if row.tobytes() not in seen and len(found) < count:
                seen.add(row.tobytes())
                found.append(row)
        if len(found) == count:
            break
    else:
        raise ValueError(f"budget {budget.name} admits fewer than {count} distinct networks of the space")
    batch = ArchBatch(space.skeleton, np.stack(found))
    return [batch.arch(i) for i in range(len(batch))]


def genes_key(arch: Arch) -> str:
    """The network as its gene row, comma-separated: names a network in caches and tables."""
    return ",".join(map(str, ArchBatch.from_archs([arch]).genes[0]))
