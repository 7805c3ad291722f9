"""Pictures of a search: how the best score grew, and where the candidates fell against the budget."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from e3dnas.figures import plt, save_png

COUNTER_LABELS = {"conv_macs": "conv MACs", "authors": "authors' count"}

#: Colours of the released networks' diamonds, one each, none used by the candidates.
RELEASED_COLOURS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


class Reference(NamedTuple):
    """A released network on a candidates plot: where it falls and which budget limits it breaks."""

    x: float
    score: float
    over: str = ""  # e.g. "167 > 83 layers"; empty: within every limit


def plot_convergence(history: list[tuple], scorer: str, path: Path) -> Path:
    """Best and median population score against candidates evaluated, one line pair per island."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    rows = np.array([row[:4] for row in history], dtype=float)
    for island in np.unique(rows[:, 0]).astype(int):
        sel = rows[rows[:, 0] == island]
        label = f" (island {island})" if rows[:, 0].max() > 0 else ""
        ax.plot(sel[:, 1], sel[:, 2], label=f"best{label}")
        ax.plot(sel[:, 1], sel[:, 3], linestyle="--", alpha=0.6, label=f"population median{label}")
    ax.set_xscale("log")
    ax.set_xlabel("candidates evaluated")
    ax.set_ylabel(f"{scorer} score")
    ax.set_title("Search convergence")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path, dpi=120)


def _draw_candidates(
    ax,
    x: np.ndarray,
    samples: np.ndarray,
    population_x: np.ndarray,
    population_scores: np.ndarray,
    budget_x: float | None,
    budget_label: str,
    released: list[tuple[str, float, float, str]],
) -> None:
    """The layers of a candidates plot against ``x`` (one value per sample): rejected and admitted
    samples, the final population, the best, the budget line (if any) and a diamond per released net."""
    admitted = samples[:, 2] > 0
    ax.scatter(x[~admitted], samples[~admitted, 1], s=3, c="lightgray", label="over budget")
    ax.scatter(x[admitted], samples[admitted, 1], s=3, c="tab:blue", alpha=0.4, label="evaluated")
    ax.scatter(population_x, population_scores, s=10, c="tab:orange", label="final population")
    ax.scatter(population_x[:1], population_scores[:1], s=90, marker="*", c="red", label="best")
    if budget_x is not None:
        ax.axvline(budget_x, color="k", linestyle=":", label=budget_label)
    for i, (name, rx, score, over) in enumerate(released):
        colour = RELEASED_COLOURS[i % len(RELEASED_COLOURS)]
        # A net that breaks the budget is a hollow diamond, the limits it breaks in its legend entry.
        style = {"facecolors": "none", "edgecolors": colour, "linewidths": 1.6} if over else {"c": colour}
        ax.scatter(
            [rx],
            [score],
            marker="D",
            s=45,
            zorder=3,
            label=f"released {name}" + (f",\nover budget: {over}" if over else ""),
            **({"edgecolors": "k", "linewidths": 0.6} | style),
        )
    ax.grid(alpha=0.3, which="both")


def _log_x_ticks(ax) -> None:
    """Label a log x axis at 1, 2 and 5 × 10ⁿ only (plain numbers, e.g. 0.05 0.1 0.2): matplotlib's own
    choice also labels minor ticks such as 0.03 0.04 0.06, which collide in a narrow panel. A view
    narrower than that (under two such ticks) gets plain evenly spaced ticks."""
    low, high = ax.get_xlim()
    locator = LogLocator(subs=(1.0, 2.0, 5.0))
    if sum(low <= tick <= high for tick in locator.tick_values(low, high)) < 2:
        locator = MaxNLocator(4)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _legend_beside(ax, source) -> None:
    """The legend of ``source``'s layers to the right of ``ax``, where it hides no point."""
    ax.legend(
        *source.get_legend_handles_labels(),
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        markerscale=1.5,
    )


def pareto_figure(
    samples: np.ndarray,
    population_flops: np.ndarray,
    population_scores: np.ndarray,
    budget_flops: float,
    counter: str,
    references: dict[str, tuple[float, float] | Reference],
    scorer: str,
    input_size: str | None = None,
) -> Figure:
    """The figure :func:`plot_pareto` saves.

    Each released network is a diamond of its own colour, named in the legend beside the panels rather
    than written next to its point, where names of nets with close FLOPs would cover each other; hollow
    when it breaks the budget (its legend entry says which limit). ``input_size`` (e.g. ``13×160²``): the
    clip size every point is scored at, in the titles.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    released = [
        (name, ref.x / 1e9, ref.score, ref.over)
        for name, ref in ((n, Reference(*r)) for n, r in references.items())
        if np.isfinite([ref.x, ref.score]).all() and ref.x > 0
    ]
    for ax in axes:
        _draw_candidates(
            ax,
            samples[:, 0] / 1e9,
            samples,
            population_flops / 1e9,
            population_scores,
            budget_flops / 1e9,
            "FLOPs budget",
            released,
        )
        ax.set_xlabel(f"GFLOPs ({COUNTER_LABELS[counter]})")
        ax.set_ylabel(f"{scorer} score")
    axes[0].set_xscale("log")
    _log_x_ticks(axes[0])
    axes[0].set_title("All candidates" + (" (released E3D as diamonds)" if released else ""))
    if input_size:
        fig.suptitle(f"Every point scored at {input_size} clips", fontsize=10)
    low, high = 0.5 * budget_flops, 1.3 * budget_flops
    # Zoomed on the population's scores, and on those of the released nets within the FLOPs range.
    near = [score for _, gflops, score, _ in released if low / 1e9 <= gflops <= high / 1e9]
    top = np.concatenate([population_scores, near])
    if len(top):
        spread = max(float(top.max() - top.min()), 1e-6)
        axes[1].set_ylim(top.min() - 2 * spread, top.max() + 0.5 * spread)
    axes[1].set_xlim(low / 1e9, high / 1e9)
    axes[1].set_title("Near the budget")
    _legend_beside(axes[1], axes[0])
    fig.tight_layout()
    return fig


def latency_pareto_figure(
    samples: np.ndarray,
    population_ms: np.ndarray,
    population_scores: np.ndarray,
    budget_ms: float | None,
    references: dict[str, tuple[float, float] | Reference],
    scorer: str,
    device: str,
    input_size: str | None = None,
) -> Figure:
    """Score against predicted latency (``samples``' fourth column) of the evaluated candidates, the
    final population and the released networks (name → (ms, score)); ``budget_ms`` None: no line."""
    fig, ax = plt.subplots(figsize=(8.2, 4.4))
    known = np.isfinite(samples[:, 3])
    released = [
        (name, ref.x, ref.score, ref.over)
        for name, ref in ((n, Reference(*r)) for n, r in references.items())
        if ref.x is not None and np.isfinite([ref.x, ref.score]).all()
    ]
    _draw_candidates(
        ax,
        samples[known, 3],
        samples[known],
        population_ms,
        population_scores,
        budget_ms,
        "latency budget",
        released,
    )
    ax.set_xscale("log")
    _log_x_ticks(ax)
    ax.set_xlabel(f"predicted ms per clip ({device})")
    ax.set_ylabel(f"{scorer} score")
    ax.set_title("Score vs predicted latency" + (" (released E3D as diamonds)" if released else ""))
    if input_size:
        fig.suptitle(f"Every point scored and timed at {input_size} clips", fontsize=10)
    _legend_beside(ax, ax)
    fig.tight_layout()
    return fig
