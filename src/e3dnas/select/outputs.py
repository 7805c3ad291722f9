"""What a selection leaves in its dir: ledger.csv, curves.png, selected.yaml, summary.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from e3dnas import __version__, cost
from e3dnas.arch import save_arch
from e3dnas.atomic import atomic_write_csv, atomic_write_text
from e3dnas.figures import save_png
from e3dnas.select.finalists import Finalist
from e3dnas.select.settings import SelectJob
from e3dnas.select.study import PARAM, finalist_of

LEDGER_COLUMNS = (
    "finalist", "trial", "state", "epoch", "val_top1", "rung",
    "score", "flops", "params_backbone", "temporal_pattern",
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """Each finalist's last trial (a retried one carries the epochs before it) and the selected one."""

    latest: dict[str, FrozenTrial]
    selected: Finalist
    value: float


def finalist_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's trials of a finalist (a worker that found no finalist waiting leaves a trial without)."""
    return [t for t in study.get_trials(deepcopy=False) if finalist_of(t) is not None]


def outcome(job: SelectJob, trials: list[FrozenTrial]) -> Outcome:
    latest = {finalist_of(t): t for t in trials}
    complete = [t for t in latest.values() if t.state == TrialState.COMPLETE and t.value is not None]
    order = {f.name: i for i, f in enumerate(job.finalists)}
    best = max(complete, key=lambda t: (t.value, -order[t.params[PARAM]]))  # a tie: the better score
    by_name = {f.name: f for f in job.finalists}
    return Outcome(latest, by_name[best.params[PARAM]], float(best.value))


def ledger_rows(job: SelectJob, trials: list[FrozenTrial]) -> list[list[Any]]:
    """One row per trial and reported epoch (a trial that reported none: one row without), rungs marked."""
    by_name = {f.name: f for f in job.finalists}
    rows = []
    for trial in trials:
        f = by_name[finalist_of(trial)]
        steps = sorted(trial.intermediate_values.items()) or [(None, None)]
        for epoch, value in steps:
            rung = job.rungs.index(epoch) if epoch in job.rungs else ""
            row = (f.name, trial.number, trial.state.name, epoch, value, rung)
            rows.append([*row, f.score, f.flops, f.params_backbone, f.pattern])
    return rows


def curves_figure(job: SelectJob, result: Outcome):
    """Validation accuracy by epoch per finalist; a pruned one ends in a cross at its last rung, the
    selected one is drawn thick."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for epoch in job.rungs:
        ax.axvline(epoch, color="0.85", lw=1, ls="--", zorder=0)
    for name, trial in result.latest.items():
        points = sorted(trial.intermediate_values.items())
        if not points:
            continue
        epochs, values = zip(*points, strict=True)
        chosen = name == result.selected.name
        pruned = trial.state == TrialState.PRUNED
        line = ax.plot(
            epochs, values, lw=2.5 if chosen else 1, alpha=1 if chosen else 0.45 if pruned else 0.8,
            label=f"{name} (selected)" if chosen else None, zorder=3 if chosen else 2,
        )[0]  # fmt: skip
        ax.plot(epochs[-1], values[-1], "x" if pruned else "o", color=line.get_color(), ms=6)
        ax.annotate(name, (epochs[-1], values[-1]), xytext=(4, 0), textcoords="offset points", fontsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("validation top-1")
    ax.set_title(
        f"{len(result.latest)} finalists, rungs at {', '.join(map(str, job.rungs)) or '-'} of "
        f"{job.max_epochs} epochs (× pruned, ● trained to the end)",
        fontsize=9,
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def cost_summary(job: SelectJob, trials: list[FrozenTrial], latest: dict[str, FrozenTrial]) -> dict[str, Any]:
    """Trainings, epochs and device time of the selection (every attempt of every trial counted)."""
    now = datetime.now()
    seconds = sum(
        ((t.datetime_complete or now) - t.datetime_start).total_seconds() for t in trials if t.datetime_start
    )
    trainer = job.training.trainer
    devices = trainer.get("devices")
    devices = devices if isinstance(devices, int) and devices > 0 else 1
    devices *= int(trainer.get("num_nodes") or 1)
    epochs = sum(max(t.intermediate_values, default=0) for t in latest.values())
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    return {
        "trainings": sum(1 for t in latest.values() if t.intermediate_values),
        "epochs": epochs,
        "epochs_full_recipe_each": job.max_epochs * len(job.finalists),
        "pruned": sum(t.state == TrialState.PRUNED for t in latest.values()),
        "completed": sum(t.state == TrialState.COMPLETE for t in latest.values()),
        "attempts": len(trials),
        "accelerator": str(trainer.get("accelerator")),
        "devices_per_training": devices,
        "device_hours": seconds * devices / 3600,
        "training_hours": seconds / 3600,
        "wall_hours": (max(ends) - min(starts)).total_seconds() / 3600 if starts and ends else 0.0,
    }


def write_outputs(job: SelectJob, study: optuna.Study, home: Path, storage: str) -> dict[str, Any]:
    """The selection's files in ``home``; returns summary.json's content."""
    trials = finalist_trials(study)
    result = outcome(job, trials)
    atomic_write_csv(home / "ledger.csv", LEDGER_COLUMNS, ledger_rows(job, trials))
    save_png(curves_figure(job, result), home / "curves.png", dpi=120)
    chosen = result.selected
    # epochs as string keys: YAML and JSON readers agree on them
    curve = {str(e): v for e, v in sorted(result.latest[chosen.name].intermediate_values.items())}
    rung_accuracy = {
        name: {str(e): v for e, v in sorted(t.intermediate_values.items()) if e in job.rungs}
        for name, t in result.latest.items()
    }
    budget, scorer = job.search.budget, job.search.scorer
    c = cost.cost(chosen.arch)
    meta = {
        "flops": {counter: c.flops_by(counter) for counter in cost.FLOPS_COUNTERS},
        "params_backbone": c.params,
        "layers": c.layers,
        "scores": {scorer: chosen.score},
        "source": {
            "tool": f"e3dnas {__version__} select",
            "search": [str(d) for d in job.search.dirs],
            "search_dir": str(chosen.search_dir),
            "rank": chosen.search_rank,
            "scorer": scorer,
            "budget": budget,
        },
        "selection": {
            "finalist": chosen.name,
            "val_top1": result.value,
            "curve": curve,
            "rung_epochs": list(job.rungs),
            "max_epochs": job.max_epochs,
            "rung_accuracy": rung_accuracy,
            "finalists": len(job.finalists),
            "dataset": job.dataset,
            "study": study.study_name,
            "storage": storage,
            "select_dir": str(home),
        },
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    selected = save_arch(
        home / "selected.yaml", chosen.arch, name=f"select-{home.name}-{chosen.name}", meta=meta
    )
    summary = {
        "selected": {"finalist": chosen.name, "val_top1": result.value, "score": chosen.score,
                     "flops": chosen.flops, "params_backbone": chosen.params_backbone, "file": str(selected)},
        "finalists": len(job.finalists),
        "rung_epochs": list(job.rungs),
        "max_epochs": job.max_epochs,
        "dataset": job.dataset,
        "budget": budget["name"],
        "scorer": scorer,
        "search": [str(d) for d in job.search.dirs],
        "study": study.study_name,
        "storage": storage,
        "cost": cost_summary(job, trials, result.latest),
    }  # fmt: skip
    atomic_write_text(home / "summary.json", json.dumps(summary, indent=2))
    return summary
