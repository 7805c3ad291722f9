"""Pictures of a sweep: searched scores per budget, and trained accuracy against compute."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from e3dnas import cost, scores
from e3dnas.arch.released import RELEASED, released_arch
from e3dnas.figures import plt, save_png
from e3dnas.report.collect import RunRecord
from e3dnas.search.plots import COUNTER_LABELS

#: Published top-1 by dataset (the authors' README; PySlowFast's model zoo for X3D on K400):
#: name → (GFLOPs, top-1 %). Shown beside runs on the same dataset.
PUBLISHED = {
    "sthv1": {"E3D-S": (1.9, 47.1), "E3D-M": (4.7, 49.4), "E3D-L": (18.3, 51.1), "X3D-S": (1.96, 44.6)},
    "sthv2": {"E3D-L": (18.3, 65.7)},
    "k400": {"X3D-XS": (0.60, 69.5), "X3D-S": (1.96, 73.5), "X3D-M": (4.73, 76.2), "X3D-L": (18.37, 77.5)},
}


def released(run: RunRecord) -> tuple[float, float] | None:
    """(FLOPs in the budget's count, score under the run's scorer) of the released network the run's
    budget is aligned with, at the budget's input size."""
    if run.reference not in RELEASED:
        return None
    arch = released_arch(run.reference).arch.with_input(run.frames, run.resolution)
    return cost.cost(arch).flops_by(run.budget_counter), scores.score_arch(arch, run.scorer)


def plot_scores(records: list[RunRecord], path: Path) -> Path | None:
    """Per budget: each run's best score vs its FLOPs, the budget, and the released E3D of that name."""
    by_budget: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.kind == "search":
            by_budget[r.budget].append(r)
    if not by_budget:
        return None
    fig, axes = plt.subplots(1, len(by_budget), figsize=(4.2 * len(by_budget), 3.8), squeeze=False)
    for ax, (budget, runs) in zip(axes[0], sorted(by_budget.items()), strict=True):
        flops, best = [r.flops_by(r.budget_counter) / 1e9 for r in runs], [r.score for r in runs]
        ax.scatter(flops, best, c="tab:red", marker="*", s=90, label=f"searched ({len(runs)} runs)")
        ax.axvline(runs[0].budget_flops / 1e9, color="k", linestyle=":", label="FLOPs budget")
        reference = released(runs[0])
        if reference:
            ax.scatter(
                [reference[0] / 1e9],
                [reference[1]],
                marker="D",
                c="tab:green",
                s=50,
                label=f"released {runs[0].reference.upper().replace('_', '-')}",
            )
        ax.set_title(f"{budget} ({runs[0].frames}×{runs[0].resolution}²)")
        ax.set_xlabel(f"GFLOPs ({COUNTER_LABELS[runs[0].budget_counter]})")
        ax.set_ylabel(f"best {runs[0].scorer}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Best architecture per search run")
    fig.tight_layout()
    return save_png(fig, path)


def plot_accuracy(records: list[RunRecord], path: Path) -> Path | None:
    """Val top-1 vs FLOPs of every trained run; published figures for the same dataset as hollow marks."""
    trained = [r for r in records if r.kind == "train" and r.val_top1 is not None and r.flops]
    if not trained:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for r in trained:
        groups[r.model or "?"].append(r)
    for model, runs in sorted(groups.items()):
        ax.scatter([r.flops / 1e9 for r in runs], [100 * r.val_top1 for r in runs], label=model, s=30)
    for dataset in sorted({r.dataset for r in trained}):
        for name, (gflops, top1) in PUBLISHED.get(dataset, {}).items():
            ax.scatter([gflops], [top1], facecolors="none", edgecolors="k", s=40)
            ax.annotate(
                f"{name} (paper)", (gflops, top1), xytext=(4, 4), textcoords="offset points", fontsize=7
            )
    ax.set_xscale("log")
    ax.set_xlabel("GFLOPs")
    ax.set_ylabel("val top-1 (%)")
    ax.set_title("Trained runs: accuracy vs compute")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save_png(fig, path)
