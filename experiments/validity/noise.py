"""How well a task's trained accuracies repeat, and the τ that allows a scorer to reach.

``seed_reliability``: Kendall τ between the accuracies of seed 0 and seed 1 over a sample's networks, and the
**noise ceiling** it implies: the τ that a score ranking the networks exactly by their true accuracy is
expected to reach with the mean over the seeds. Under a Gaussian model (Greiner's relation τ = 2/π·arcsin r)
the seed-to-seed correlation is r = sin(π τ/2), the mean of n seeds has the Spearman–Brown reliability
R = n r / (1 + (n − 1) r), a perfect score correlates √R with it, and the ceiling is 2/π·arcsin √R (0 where
r ≤ 0). A task whose seed-to-seed τ is below ``REPEATS`` does not repeat: its τ figures carry no headline.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

#: Seed-to-seed τ below which a task's rankings are reported as noise.
REPEATS = 0.5
#: Below this many architectures a rank correlation is not reported.
MIN_ARCHS = 5


def noise_ceiling(seed_tau: float, seeds: int) -> float:
    """The τ a perfect score is expected to reach with the mean of ``seeds`` seeds (module docstring)."""
    r = math.sin(math.pi * seed_tau / 2)
    if r <= 0:
        return 0.0
    reliability = seeds * r / (1 + (seeds - 1) * r)
    return 2 / math.pi * math.asin(math.sqrt(reliability))


def seed_reliability(rows: list[dict]) -> dict[str, float]:
    """``seed_tau`` (seed 0 vs seed 1) and ``ceiling`` of the networks ``rows``, and why a task repeats or
    not: ``run_sd``, one training's noise (sd of seed 0 − seed 1 over √2), against ``network_sd``, the spread
    of the networks' true accuracies (the variance of the seed means less the noise they keep, floored at 0).
    NaN below MIN_ARCHS."""
    seeds = sum(key.startswith("val_top1_seed") for key in rows[0]) if rows else 0
    if len(rows) < MIN_ARCHS or seeds < 2:
        return dict.fromkeys(("seed_tau", "ceiling", "run_sd", "network_sd"), float("nan"))
    first, second = (np.array([row[f"val_top1_seed{s}"] for row in rows], dtype=float) for s in (0, 1))
    seed_tau = float(stats.kendalltau(first, second).statistic)
    run_sd = float(np.std(first - second, ddof=1) / math.sqrt(2))
    network_var = np.var((first + second) / 2, ddof=1) - run_sd**2 / 2
    out = {"seed_tau": seed_tau, "ceiling": noise_ceiling(seed_tau, seeds), "run_sd": run_sd}
    return out | {"network_sd": float(math.sqrt(max(network_var, 0.0)))}
