"""Rank agreement of each training-free scorer with trained accuracy: τ, ρ with bootstrap intervals, top-k.

Input everywhere is the per-architecture table of run.py (``score_<scorer>`` columns, ``sample``,
``val_top1_mean`` and ``val_top1_range``). A scorer with a missing score (NaN) for some architectures is
measured on the others, and ``n_archs`` says on how many.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy import stats

from e3dnas.figures import plt, save_png
from experiments.validity.noise import MIN_ARCHS, seed_reliability

#: Every scorer the study measures, in the order of its tables.
SCORERS = ("stentr", "entropy", "params", "flops", "naswot", "synflow", "snip", "grad_norm", "zen", "random")
#: The samples of the tables and the networks' samples each is of: run.py's two spanning samples, each and
#: together (``all``), and the decision regions (region.py), each and together (``region``).
#: 80 % power at a two-sided α of 0.05 (z 0.975 + z 0.8 = 1.96 + 0.84): the smallest Δτ a study detects is
#: this many standard errors of its paired bootstrap.
DETECTABLE_SE = 2.8
SAMPLES = {
    "range": ("range",),
    "near_budget": ("near_budget",),
    "all": ("range", "near_budget"),
    "top-stentr": ("top-stentr",),
    "top-params": ("top-params",),
    "top-zen": ("top-zen",),
    "region": ("top-stentr", "top-params", "top-zen"),
}


def kendall_tau(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Kendall's τ-b of the sample in which network i appears ``weights[..., i]`` times (once each
    without weights); one τ per row of ``weights``, NaN where x or y is constant (as scipy's).

    Our own because scipy's ``kendalltau`` takes one pair of 1-D arrays, so a bootstrap called it once
    per resample. A resample is a count per network, and every pair's sign is one of the n × n signs of
    the original networks, so τ-b's sums (concordant − discordant, pairs untied in x, in y) are quadratic
    forms of the counts: a batch of resamples is three matrix products, the same τ-b as scipy's on the
    resampled arrays (copies of one network tie in both and leave both counts).
    ``python -m experiments.bench_stats`` times it against scipy's in one run.
    """
    sx, sy = (np.sign(a[:, None] - a[None, :]) for a in (np.asarray(x, float), np.asarray(y, float)))
    w = np.ones(len(sx)) if weights is None else np.asarray(weights, dtype=float)

    def form(matrix: np.ndarray) -> np.ndarray:
        return ((w @ matrix) * w).sum(axis=-1)

    with np.errstate(invalid="ignore", divide="ignore"):
        return form(sx * sy) / np.sqrt(form(np.abs(sx)) * form(np.abs(sy)))


def spearman_rho(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Spearman's ρ (Pearson's r of average ranks) of the sample ``weights`` counts, as ``kendall_tau``."""
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)

    def centred_ranks(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        below, tied = (a[None, :] < a[:, None]).astype(float), (a[None, :] == a[:, None]).astype(float)
        ranks = w @ below.T + (w @ tied.T + 1) / 2  # network i's average rank in each resample
        return ranks - ((ranks * w).sum(axis=-1) / w.sum(axis=-1))[..., None]

    rx, ry = centred_ranks(x), centred_ranks(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * rx * ry).sum(axis=-1) / np.sqrt((w * rx * rx).sum(axis=-1) * (w * ry * ry).sum(axis=-1))


def paired_bootstrap(data: tuple[np.ndarray, ...], statistic, resamples: int, seed: int = 0):
    """scipy's percentile bootstrap over architectures (the arrays resampled together), as every interval of
    the study is drawn. ``statistic(*data, weights=...)`` gets each resample as a count per network."""
    n = len(data[0])

    def on_resamples(indices: np.ndarray, axis: int = -1) -> np.ndarray:
        indices = np.moveaxis(indices, axis, -1).reshape(-1, n)
        offsets = n * np.arange(len(indices))[:, None]
        counts = np.bincount((indices + offsets).ravel(), minlength=indices.size).reshape(-1, n)
        return statistic(*data, weights=counts)

    with warnings.catch_warnings():  # a degenerate interval (every resample tied) comes back NaN: the tables
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # say "no interval" there themselves
        return stats.bootstrap(
            (np.arange(n),),
            on_resamples,
            vectorized=True,
            n_resamples=resamples,
            method="percentile",
            random_state=seed,
        )


def correlation(x: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> dict[str, float]:
    """Kendall τ and Spearman ρ, each with a 95 % percentile-bootstrap interval over architectures."""
    out = {}
    for name, statistic in (("tau", kendall_tau), ("rho", spearman_rho)):
        ci = paired_bootstrap((x, y), statistic, resamples, seed).confidence_interval
        out[name] = float(statistic(x, y))
        out[f"{name}_lo"], out[f"{name}_hi"] = float(ci.low), float(ci.high)
    return out


def sample_rows(table: list[dict], sample: str) -> list[dict]:
    return [row for row in table if row["sample"] in SAMPLES[sample]]


def scored(rows: list[dict], scorer: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores, mean accuracies) of the rows that have this scorer's score."""
    x = np.array([row[f"score_{scorer}"] for row in rows], dtype=float)
    y = np.array([row["val_top1_mean"] for row in rows], dtype=float)
    keep = np.isfinite(x)
    return x[keep], y[keep]


def correlation_rows(table: list[dict], resamples: int) -> list[dict]:
    """correlations.csv: ``sample,scorer,tau,tau_lo,tau_hi,rho,rho_lo,rho_hi,n_archs,seed_tau,ceiling``:
    the last two are the sample's (noise.py), the same for every scorer."""
    rows = []
    for sample in SAMPLES:
        members = sample_rows(table, sample)
        noise = seed_reliability(members)
        for scorer in SCORERS:
            x, y = scored(members, scorer)
            if len(x) >= MIN_ARCHS:
                rows.append(
                    {"sample": sample, "scorer": scorer}
                    | correlation(x, y, resamples, seed=0)
                    | {"n_archs": len(x)}
                    | noise
                )
    return rows


def difference_rows(table: list[dict], resamples: int, baseline: str = "params") -> list[dict]:
    """Does a scorer beat ``baseline``?  τ(scorer) − τ(baseline) per sample, with a 95 % percentile interval
    from one bootstrap that resamples the architectures of both together (the two τ share their networks,
    so their separate intervals overlapping says little)."""
    rows = []
    for sample in SAMPLES:
        subset = sample_rows(table, sample)
        for scorer in SCORERS:
            if scorer == baseline:
                continue
            keep = [
                r for r in subset if np.isfinite(r[f"score_{scorer}"]) and np.isfinite(r[f"score_{baseline}"])
            ]
            if len(keep) < MIN_ARCHS:
                continue
            x, b, y = (
                np.array([r[k] for r in keep], dtype=float)
                for k in (f"score_{scorer}", f"score_{baseline}", "val_top1_mean")
            )

            def gap(x, b, y, weights=None):
                return kendall_tau(x, y, weights) - kendall_tau(b, y, weights)

            boot = paired_bootstrap((x, b, y), gap, resamples)
            ci = boot.confidence_interval
            rows.append(
                {
                    "sample": sample,
                    "scorer": scorer,
                    "baseline": baseline,
                    "dtau": float(gap(x, b, y)),
                    "dtau_lo": float(ci.low),
                    "dtau_hi": float(ci.high),
                    "dtau_se": float(boot.standard_error),
                    "detectable": DETECTABLE_SE * float(boot.standard_error),
                    "n_archs": len(keep),
                }
            )
    return rows


def top_k_rows(table: list[dict], k: int) -> list[dict]:
    """Does a scorer's top ``k`` hold the truly best networks?  Per sample and scorer: how many of the
    ``k`` most accurate are among its ``k`` highest scores, and the accuracy of its single top pick."""
    rows = []
    for sample in SAMPLES:
        for scorer in SCORERS:
            x, y = scored(sample_rows(table, sample), scorer)
            if len(x) < 2 * k:
                continue
            by_score = set(np.argsort(-x, kind="stable")[:k])
            by_accuracy = set(np.argsort(-y, kind="stable")[:k])
            rows.append(
                {
                    "sample": sample,
                    "scorer": scorer,
                    "k": k,
                    "overlap": len(by_score & by_accuracy),
                    "top_pick_val_top1": float(y[np.argmax(x)]),
                    "best_val_top1": float(y.max()),
                    "n_archs": len(x),
                }
            )
    return rows


def scatter(table: list[dict], correlations: list[dict], path: Path, title: str) -> Path:
    """One panel per scorer: mean val top-1 over seeds (bars: min–max) against the score, by sample."""
    tau = {(r["sample"], r["scorer"]): r for r in correlations}
    columns = 5
    fig, axes = plt.subplots(
        -(-len(SCORERS) // columns), columns, figsize=(3.2 * columns, 6.4), sharey=True, squeeze=False
    )
    for ax, scorer in zip(axes.flat, SCORERS, strict=True):
        for sample, marker in (("range", "o"), ("near_budget", "s"), ("region", "^")):
            rows = sample_rows(table, sample)
            x = np.array([row[f"score_{scorer}"] for row in rows], dtype=float)
            y = 100 * np.array([row["val_top1_mean"] for row in rows])
            spread = 50 * np.array([row["val_top1_range"] for row in rows])
            ax.errorbar(x, y, yerr=spread, fmt=marker, ms=3.5, capsize=2, alpha=0.75, label=sample)
        scores = np.array([row[f"score_{scorer}"] for row in table], dtype=float)
        scores = scores[np.isfinite(scores)]
        if len(scores) and scores.min() > 0 and scores.max() > 1e3 * scores.min():
            ax.set_xscale("log")  # synflow spans orders of magnitude; ranks are unchanged
        pooled = tau.get(("all", scorer))
        label = f"τ={pooled['tau']:+.2f} [{pooled['tau_lo']:+.2f}, {pooled['tau_hi']:+.2f}]" if pooled else ""
        ax.set_title(f"{scorer}\n{label}", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("val top-1 (%)")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{title} (τ over all; bars: seed min–max)", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)
