"""Pictures of a sweep: searched scores per budget, and trained accuracy against compute."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from e3dnas import cost, scores
from e3dnas.arch import ArchBatch
from e3dnas.arch.released import released_nets
from e3dnas.figures import plt, save_png
from e3dnas.report.collect import RunRecord
from e3dnas.search.plots import COUNTER_LABELS

#: Published top-1 of the X3D baselines on K400 (PySlowFast's model zoo) and S-S V1 (the E3D paper):
#: name → (GFLOPs, top-1 %). The released E3D's are in their architecture files (``meta.published``).
X3D_PUBLISHED = {
    "sthv1": {"X3D-S": (1.96, 44.6)},
    "k400": {"X3D-XS": (0.60, 69.5), "X3D-S": (1.96, 73.5), "X3D-M": (4.73, 76.2), "X3D-L": (18.37, 77.5)},
}


def published_top1(dataset: str) -> dict[str, tuple[float, float]]:
    """Published (GFLOPs, top-1 %) on ``dataset`` by network name: the released E3D, then X3D."""
    e3d = {
        name.upper().replace("_", "-"): (doc.meta["published"]["gflops"], doc.meta["published"][key])
        for name, doc in released_nets().items()
        if (key := f"{dataset}_top1") in doc.meta.get("published", {})
    }
    return e3d | X3D_PUBLISHED.get(dataset, {})


def released(run: RunRecord) -> tuple[float, float] | None:
    """(FLOPs in the budget's count, score under the run's scorer, its options and target included) of the
    released network the run's budget is aligned with, at the budget's input size."""
    doc = released_nets().get(run.reference)
    if doc is None:
        return None
    arch = doc.arch.with_input(run.frames, run.resolution)
    spec = (
        scores.ScorerSpec(**json.loads(run.scorer_spec)) if run.scorer_spec else scores.ScorerSpec(run.scorer)
    )
    return cost.cost(arch).flops_by(run.budget_counter), float(spec.build()(ArchBatch.from_archs([arch]))[0])


def _best_by_budget_figure(
    runs: list[RunRecord],
    x: Callable[[RunRecord], float],
    budget_x: Callable[[RunRecord], float | None],
    xlabel: Callable[[RunRecord], str],
    budget_label: str,
    reference: Callable[[RunRecord], tuple[float, float] | None],
    title: str,
) -> Figure | None:
    """One panel per budget: each run's best score against ``x`` (in the panel's unit), the budget line
    and the released reference; None without runs."""
    by_budget: dict[str, list[RunRecord]] = defaultdict(list)
    for r in runs:
        by_budget[r.budget].append(r)
    if not by_budget:
        return None
    fig, axes = plt.subplots(1, len(by_budget), figsize=(4.2 * len(by_budget), 3.8), squeeze=False)
    for ax, (budget, group) in zip(
        axes[0], sorted(by_budget.items(), key=lambda kv: kv[0] or ""), strict=True
    ):
        ax.scatter(
            [x(r) for r in group],
            [r.score for r in group],
            c="tab:red",
            marker="*",
            s=90,
            label=f"searched ({len(group)} runs)",
        )
        limit = budget_x(group[0])
        if limit is not None:
            ax.axvline(limit, color="k", linestyle=":", label=budget_label)
        ref = reference(group[0])
        if ref:
            ax.scatter(
                [ref[0]],
                [ref[1]],
                marker="D",
                c="tab:green",
                s=50,
                label=f"released {group[0].reference.upper().replace('_', '-')}",
            )
        ax.set_title(f"{budget} ({group[0].frames}×{group[0].resolution}²)")
        ax.set_xlabel(xlabel(group[0]))
        ax.set_ylabel(f"best {group[0].scorer}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        # The bests sit just under the budget. At least ±0.5 % of it in view, so that bests closer than that
        # read as on the budget rather than as digits, and a few round ticks: room for labels such as 18.45.
        if limit is not None:
            lo, hi = ax.get_xlim()
            ax.set_xlim(min(lo, 0.995 * limit), max(hi, 1.005 * limit))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def scores_figure(records: list[RunRecord]) -> Figure | None:
    """The figure :func:`plot_scores` saves; None without search runs."""

    def reference(run: RunRecord) -> tuple[float, float] | None:
        ref = released(run)
        return None if ref is None else (ref[0] / 1e9, ref[1])

    return _best_by_budget_figure(
        [r for r in records if r.kind == "search"],
        x=lambda r: r.flops_by(r.budget_counter) / 1e9,
        budget_x=lambda r: r.budget_flops / 1e9,
        xlabel=lambda r: f"GFLOPs ({COUNTER_LABELS[r.budget_counter]})",
        budget_label="FLOPs budget",
        reference=reference,
        title="Best architecture per search run",
    )


def plot_scores(records: list[RunRecord], path: Path) -> Path | None:
    """Per budget: each run's best score vs its FLOPs, the budget, and the released E3D of that name."""
    fig = scores_figure(records)
    return save_png(fig, path) if fig is not None else None


def latency_figure(records: list[RunRecord]) -> Figure | None:
    """The figure :func:`plot_latency` saves; None without a search run that predicted latency."""
    return _best_by_budget_figure(
        [r for r in records if r.kind == "search" and r.latency_ms is not None],
        x=lambda r: r.latency_ms,
        budget_x=lambda r: r.budget_latency_ms,
        xlabel=lambda r: f"predicted ms ({r.latency_device})",
        budget_label="latency budget",
        reference=lambda r: None,
        title="Best architecture per search run: score vs predicted latency",
    )


def plot_latency(records: list[RunRecord], path: Path) -> Path | None:
    """Per budget: each run's best score vs its predicted latency (runs with a latency table)."""
    fig = latency_figure(records)
    return save_png(fig, path) if fig is not None else None


def run_labels(runs: list[RunRecord]) -> list[str]:
    """A legend name per run, distinct across ``runs``: the model, then as much of the run directory's path
    as tells the runs apart (at least the parent of a numbered one), and the seed."""
    paths = [Path(r.run_dir) for r in runs]
    parts = [p.relative_to(p.anchor).parts or ("?",) for p in paths]

    def labels_at(k: int) -> list[str]:
        return [
            f"{r.model or '?'} ({'/'.join(p[-k:])}{f', seed {r.seed}' if r.seed is not None else ''})"
            for r, p in zip(runs, parts, strict=True)
        ]

    # A numbered run directory (a multirun's 0, 1, ...) says little without its parent.
    first = min(2 if any(p[-1].isdigit() for p in parts) else 1, max(len(p) for p in parts))
    for k in range(first, max(len(p) for p in parts) + 1):
        labels = labels_at(k)
        if len(set(labels)) == len(labels):
            return labels
    # The same run listed twice: number the repeats.
    seen: dict[str, int] = defaultdict(int)
    numbered = []
    for name in labels_at(first):
        seen[name] += 1
        numbered.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return numbered


#: Colour and marker of the n-th trained run: every pair distinct for the first 70 runs.
_COLOURS = [f"C{i}" for i in range(10)]
_MARKERS = ["o", "s", "^", "v", "P", "X", "<"]
#: Shapes of the published networks' marks, hollow and black: one each.
_PAPER_MARKERS = ["D", "s", "^", "v", "<", ">", "p", "h", "*", "8"]


def accuracy_figure(records: list[RunRecord]) -> Figure | None:
    """The figure :func:`plot_accuracy` saves; None without a trained run that has a val top-1.

    Every such run is one point with a legend entry of its own. A run is placed by its conv-MAC FLOPs, else
    by its authors'-count FLOPs (said in its legend entry); a run with neither (a torchvision X3D does not
    record them) is drawn in a strip beside the axes headed "FLOPs not recorded", and its entry says so.
    The published networks follow in the legend, each a hollow mark of its own shape.
    """
    trained = [r for r in records if r.kind == "train" and r.val_top1 is not None]
    if not trained:
        return None
    unplaced = [r for r in trained if not r.flops and not r.authors_flops]
    if unplaced:
        fig, (ax, strip) = plt.subplots(
            1, 2, figsize=(7.2, 4.2), sharey=True, gridspec_kw={"width_ratios": [6, 1], "wspace": 0.04}
        )
    else:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        strip = None
    in_strip = 0
    for i, (r, label) in enumerate(zip(trained, run_labels(trained), strict=True)):
        colour, marker = _COLOURS[i % len(_COLOURS)], _MARKERS[(i // len(_COLOURS)) % len(_MARKERS)]
        style, top1 = {"s": 30, "c": colour, "marker": marker}, 100 * r.val_top1
        if r.flops:
            ax.scatter([r.flops / 1e9], [top1], label=label, **style)
        elif r.authors_flops:
            ax.scatter([r.authors_flops / 1e9], [top1], label=f"{label}, authors' FLOPs count", **style)
        else:
            in_strip += 1
            x = (in_strip - 0.5) / len(unplaced) - 0.5
            strip.scatter([x], [top1], label=f"{label}, FLOPs not recorded", **style)
    ax.set_xscale("log")
    ax.set_xlabel("GFLOPs (conv MACs, fvcore's count; published: the papers' own)")
    ax.set_ylabel("val top-1 (%)")
    ax.set_title("Trained runs: accuracy vs compute")
    ax.grid(alpha=0.3, which="both")
    handles, names = ax.get_legend_handles_labels()
    if strip is not None:
        strip.set_xlim(-0.6, 0.6)
        strip.set_xticks([])
        strip.set_xlabel("FLOPs\nnot recorded", fontsize=8)
        strip.grid(alpha=0.3, axis="y")
        more = strip.get_legend_handles_labels()
        handles, names = handles + more[0], names + more[1]
    published = [
        (f"{name} (paper, {dataset})", gflops, top1)
        for dataset in sorted({r.dataset for r in trained if r.dataset})
        for name, (gflops, top1) in published_top1(dataset).items()
    ]
    for i, (name, gflops, top1) in enumerate(published):
        marker = _PAPER_MARKERS[i % len(_PAPER_MARKERS)]
        handles.append(
            ax.scatter([gflops], [top1], s=45, marker=marker, facecolors="none", edgecolors="k", label=name)
        )
        names.append(name)
    # Beside the axes, so that no entry hides a point however many runs there are.
    (strip or ax).legend(
        handles, names, fontsize=7, loc="upper left", bbox_to_anchor=(1.04, 1.0), borderaxespad=0.0
    )
    if not ax.has_data():
        ax.set_xlim(0.1, 10)
    return fig


def plot_accuracy(records: list[RunRecord], path: Path) -> Path | None:
    """Val top-1 vs FLOPs of every trained run; published figures for the same dataset as hollow marks."""
    fig = accuracy_figure(records)
    return save_png(fig, path) if fig is not None else None
