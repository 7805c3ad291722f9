"""Rank correlation of each training-free score with trained accuracy, with bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from e3dnas.figures import plt, save_png


def _kendall(x, y):
    return stats.kendalltau(x, y).statistic


def _spearman(x, y):
    return stats.spearmanr(x, y).statistic


def correlation(x: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> dict[str, float]:
    """Kendall τ and Spearman ρ, each with a 95 % percentile-bootstrap interval over architectures."""
    out = {}
    for name, statistic in (("kendall", _kendall), ("spearman", _spearman)):
        ci = stats.bootstrap(
            (x, y),
            statistic,
            paired=True,
            vectorized=False,
            n_resamples=resamples,
            method="percentile",
            random_state=seed,
        ).confidence_interval
        out[name] = float(statistic(x, y))
        out[f"{name}_low"], out[f"{name}_high"] = float(ci.low), float(ci.high)
    return out


def by_first_temporal_stage(rows: list[dict]) -> list[dict]:
    """Accuracy grouped by the first stage with a temporal kernel > 1, and STEntr's τ inside each group.

    Why: on the camera-motion task the nets that mix time only late train worse at any STEntr; this table
    separates that effect from the score's ranking within nets that mix time from the start.
    """
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row["first_temporal_stage"]), []).append(row)
    out = []
    for stage, members in sorted(groups.items()):
        accuracy = np.array([r["val_top1_mean"] for r in members])
        stentr = np.array([r["score_stentr"] for r in members])
        tau = float(_kendall(stentr, accuracy)) if len(members) >= 5 else "n < 5"
        out.append(
            {
                "first stage with kt > 1": stage,
                "archs": len(members),
                "mean val top-1 (%)": float(100 * accuracy.mean()),
                "STEntr range": f"{stentr.min():.1f}–{stentr.max():.1f}",
                "τ(STEntr, top-1) within": tau,
            }
        )
    return out


def scatter(
    scores: dict[str, np.ndarray], accuracy: np.ndarray, spread: np.ndarray, table, path: Path
) -> Path:
    """One panel per scorer: mean val top-1 over seeds (bars: min–max) against the score."""
    fig, axes = plt.subplots(1, len(scores), figsize=(3.6 * len(scores), 3.4), sharey=True)
    for ax, (name, x) in zip(axes, scores.items(), strict=True):
        ax.errorbar(x, 100 * accuracy, yerr=100 * spread, fmt="o", ms=4, capsize=2, alpha=0.8)
        row = table[name]
        ax.set_title(f"{name}\nτ={row['kendall']:.2f}, ρ={row['spearman']:.2f}", fontsize=9)
        ax.set_xlabel("score")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("val top-1 (%)")
    fig.tight_layout()
    return save_png(fig, path)
