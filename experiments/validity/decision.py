"""Where the search decides: how scorers rank networks of one cost, with #params held fixed, and as a pick
of k networks to train.

* How well the accuracies repeat, and the ceiling that sets, are columns of correlations.csv (noise.py).
* ``band_rows``: τ within FLOPs bands (networks of about one cost, where a FLOPs cap cannot rank them).
* ``partial_rows``: Kendall's partial τ of a scorer with accuracy, #params held fixed.
* ``regret_rows``: train a scorer's top k and keep the best; its regret (points below the sample's best),
  the expected regret of k networks picked at random, and the chance that a random pick of k does at least
  as well.
* The smallest Δτ the study can detect (analyse.difference_rows, columns of differences.csv): 2.8 × the
  paired bootstrap's standard error of Δτ (80 % power, two-sided α = 0.05).
"""

from __future__ import annotations

import numpy as np
from scipy.special import comb

from experiments.validity.analyse import (
    MIN_ARCHS,
    SAMPLES,
    SCORERS,
    correlation,
    kendall_tau,
    paired_bootstrap,
    sample_rows,
    scored,
)

#: FLOPs bands as fractions of the budget: small networks, the middle, and where the search decides.
BANDS = ((0.0, 0.5), (0.5, 0.9), (0.9, 1.0))
#: The picks of ``regret_rows``.
KS = (1, 3, 5, 10)


def partial_tau(x: np.ndarray, y: np.ndarray, z: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Kendall's partial τ of x and y with z held fixed (NaN where x or y is a function of z's ranks), of
    the sample ``weights`` counts (analyse.kendall_tau)."""
    txy, txz, tyz = (kendall_tau(a, b, weights) for a, b in ((x, y), (x, z), (y, z)))
    denominator = np.sqrt(np.clip((1 - txz**2) * (1 - tyz**2), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 1e-9, (txy - txz * tyz) / denominator, np.nan)


def band_rows(table: list[dict], budget_flops: float, resamples: int) -> list[dict]:
    """τ [95 % CI] of every scorer within each FLOPs band, over every network of the table."""
    rows = []
    for low, high in BANDS:
        members = [r for r in table if low < r["flops"] / budget_flops <= high]
        for scorer in SCORERS:
            x, y = scored(members, scorer)
            if len(x) >= MIN_ARCHS:
                band = {"band": f"{low:.0%}-{high:.0%}", "scorer": scorer}
                tau = correlation(x, y, resamples, seed=0)
                rows.append(band | {k: tau[k] for k in ("tau", "tau_lo", "tau_hi")} | {"n_archs": len(x)})
    return rows


def partial_rows(table: list[dict], resamples: int) -> list[dict]:
    """Partial τ [95 % bootstrap CI] of every scorer but #params, #params held fixed, per sample."""
    rows = []
    for sample in SAMPLES:
        members = sample_rows(table, sample)
        for scorer in SCORERS:
            keep = [r for r in members if np.isfinite(r[f"score_{scorer}"])]
            if scorer == "params" or len(keep) < MIN_ARCHS:
                continue
            x, y, z = (
                np.array([r[k] for r in keep], dtype=float)
                for k in (f"score_{scorer}", "val_top1_mean", "params")
            )
            ci = paired_bootstrap((x, y, z), partial_tau, resamples).confidence_interval
            rows.append(
                {
                    "sample": sample,
                    "scorer": scorer,
                    "partial_tau": float(partial_tau(x, y, z)),
                    "partial_tau_lo": float(ci.low),
                    "partial_tau_hi": float(ci.high),
                    "n_archs": len(keep),
                }
            )
    return rows


def random_pick_best(y: np.ndarray, k: int) -> float:
    """The expected best of ``k`` of ``y`` drawn without replacement: the i-th smallest is the best of the
    pick with probability C(i − 1, k − 1) / C(n, k)."""
    ordered = np.sort(y)
    weights = comb(np.arange(len(y)), k - 1) / comb(len(y), k)
    return float(ordered @ weights)


def random_at_least(y: np.ndarray, k: int, target: float) -> float:
    """The chance that the best of ``k`` random networks of ``y`` reaches ``target``: 1 − C(m, k) / C(n, k),
    m the networks below it."""
    below = int((y < target).sum())
    return float(1 - comb(below, k) / comb(len(y), k))


def regret_rows(table: list[dict]) -> list[dict]:
    """Per sample, scorer and k in KS: the best trained accuracy of the scorer's top k, its regret, random's
    expected regret and the chance a random pick of k does at least as well (accuracies in points)."""
    rows = []
    for sample in SAMPLES:
        for scorer in SCORERS:
            x, y = scored(sample_rows(table, sample), scorer)
            for k in KS:
                if len(x) < 2 * k or len(x) < MIN_ARCHS:
                    continue
                picked = float(y[np.argsort(-x, kind="stable")[:k]].max())
                rows.append(
                    {
                        "sample": sample,
                        "scorer": scorer,
                        "k": k,
                        "best_of_pick": 100 * picked,
                        "regret": 100 * (y.max() - picked),
                        "random_regret": 100 * (y.max() - random_pick_best(y, k)),
                        "p_random_as_good": random_at_least(y, k, picked),
                        "n_archs": len(x),
                    }
                )
    return rows
