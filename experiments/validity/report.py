"""results.md: the study's tables and figures, generated from results/, then the hand-written reading."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

from e3dnas.atomic import atomic_write_text
from e3dnas.report.tables import markdown_table
from experiments.validity.tasks import TASKS


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def interval(row: dict[str, str], name: str) -> str:
    return f"{float(row[name]):+.2f} [{float(row[name + '_lo']):+.2f}, {float(row[name + '_hi']):+.2f}]"


def visited_line(results: Path) -> str:
    visited = results / "archs" / "visited.json"
    count = f"{json.loads(visited.read_text())['visited']:,} " if visited.exists() else ""
    return f"two samples of the {count}distinct admitted children of a 100k-candidate search at the budget."


def by_scorer_and_task(
    tasks: list[str], results: Path, file: str, sample: str, statistic: str, label: str, count: bool
) -> str:
    """``statistic`` [95 % CI] (and ``(n_archs)`` with ``count``) of one sample of ``results/<task>/<file>``:
    a row per scorer the files hold, a column per task headed ``<task> <label>``."""
    by_task = {
        task: {r["scorer"]: r for r in read_csv(results / task / file) if r["sample"] == sample}
        for task in tasks
    }

    def cell(row: dict[str, str] | None) -> str:
        if row is None:
            return "–"
        return interval(row, statistic) + (f" ({row['n_archs']})" if count else "")

    scorers = list(dict.fromkeys(scorer for found in by_task.values() for scorer in found))
    cells = [[scorer, *(cell(by_task[t].get(scorer)) for t in tasks)] for scorer in scorers]
    return markdown_table(["scorer", *(f"{task} {label}" for task in tasks)], cells)


def cost_table(tasks: list[str], results: Path) -> str:
    """Seconds per architecture of each proxy and per training (median), and their sums, from the ledgers."""
    cells = []
    for task in tasks:
        measured: dict[str, list[float]] = {}
        for row in read_csv(results / task / "proxy_scores.csv"):
            measured.setdefault(row["scorer"], []).append(float(row["seconds"]))
        trainings = [float(r["seconds"]) for r in read_csv(results / task / "trainings.csv")]
        if trainings:
            measured["training"] = trainings
        for name, seconds in measured.items():
            median, hours = statistics.median(seconds), sum(seconds) / 3600
            cells.append([task, name, f"{median:.2f}", str(len(seconds)), f"{hours:.2f}"])
    return markdown_table(["task", "what", "median s per arch", "measured", "job hours"], cells)


def winners_table(task: str, results: Path) -> str | None:
    rows = read_csv(results / task / "winners.csv")
    if not rows:
        return None
    cells = [
        [
            r["contender"],
            f"{float(r['conv_gflops']):.4f}",
            r["params"],
            f"{100 * float(r['val_top1_mean']):.1f} ± {100 * float(r['val_top1_std']):.1f}",
        ]
        for r in rows
    ]
    return markdown_table(
        ["contender", "conv GFLOPs", "params (head included)", "val top-1 (%), mean ± sd"], cells
    )


def top_k_table(task: str, results: Path) -> str:
    rows = [r for r in read_csv(results / task / "topk.csv") if r["sample"] == "all"]
    cells = [
        [r["scorer"], f"{r['overlap']} / {r['k']}", f"{100 * float(r['top_pick_val_top1']):.1f}"]
        for r in rows
    ]
    best = f"{100 * float(rows[0]['best_val_top1']):.1f}" if rows else "–"
    header = ["scorer", "top-5 ∩ best 5", f"its top pick's val top-1 (%; best {best})"]
    return markdown_table(header, cells)


def write_results(results: Path, tasks: list[str]) -> Path:
    """results.md beside the ``results`` folder, its links relative to it; reading.md is appended."""
    here, link = results.parent, results.name
    study = json.loads((results / "study.json").read_text())
    budget = study["budget"]
    text = [
        "# Does the score pick better networks?",
        "",
        f"Commit `{study['commit']}`; machine: {study['machine']}; {study['jobs']} trainings at a time, "
        f"{study['threads_per_job']} thread(s) each. Budget `demo` "
        f"({budget['frames']}×{budget['resolution']}², {budget['flops'] / 1e9:g} GFLOPs conv MACs, "
        f"{budget['layers']} layers). One recipe: the demo's (AdamW, clipping 1.0) at 8×56², "
        f"{study['seeds']} seeds per architecture; metric: last-epoch val top-1, mean over seeds.",
        "",
        "    make validity        # = python -m experiments.validity.run (resumable across sessions)",
        "",
        "## Tasks",
        "",
        *(
            f"* **{task}** ({study['tasks'][task]['epochs']} epochs): {TASKS[task].summary}."
            for task in tasks
        ),
        "",
        "## Kendall τ of each scorer with trained accuracy",
        "",
        f"The networks: {visited_line(results)} 95 % percentile-bootstrap intervals over architectures; n: "
        "architectures trained with every seed.",
    ]
    for sample, what in (
        ("all", "both samples together"),
        ("range", "evenly spaced over the whole STEntr range a search visits"),
        ("near_budget", "one per equal-count STEntr stratum: where the search makes its choices"),
    ):
        text += [
            "",
            f"### `{sample}`: {what}",
            "",
            by_scorer_and_task(
                tasks, results, "correlations.csv", sample, "tau", "τ [95% CI] (n)", count=True
            ),
        ]
    text += [
        "",
        "## Does a scorer beat #params?",
        "",
        "τ(scorer) − τ(params) with a 95 % interval from one paired bootstrap over architectures: an "
        "interval above zero means the scorer ranks these networks better than their parameter count does.",
    ]
    for sample in ("all", "near_budget"):
        text += [
            "",
            f"`{sample}`:",
            "",
            by_scorer_and_task(
                tasks, results, "differences.csv", sample, "dtau", "Δτ vs params [95% CI]", count=False
            ),
        ]
    for task in tasks:
        text += ["", f"## {task}", "", f"![{task}]({link}/{task}/scatter.png)", ""]
        text += ["Top 5 over all architectures:", "", top_k_table(task, results)]
        table = winners_table(task, results)
        if table:
            text += ["", "Search winners under the same budget, and X3D at the same conv FLOPs:", "", table]
        text += ["", f"Every number: results/{task}/ (table.csv, correlations.csv, topk.csv, the ledgers)."]
    text += ["", "## Cost", "", cost_table(tasks, results)]
    reading = here / "reading.md"
    text += ["", reading.read_text() if reading.exists() else ""]
    return atomic_write_text(here / "results.md", "\n".join(text))
