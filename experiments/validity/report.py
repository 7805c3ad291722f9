"""results.md: the study's tables and figures, generated from results/, then the hand-written plan and
reading (plan.md, reading.md beside it)."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path

from e3dnas.atomic import atomic_write_text
from e3dnas.report.tables import markdown_table
from experiments.validity.noise import REPEATS
from experiments.validity.tasks import TASKS

#: Networks below which a sample's seed-to-seed τ is too uncertain to call a task repeating or not (τ's
#: standard error over n networks is about √(2(2n + 5) / (9n(n − 1))): 0.16 at 20 networks, 0.25 at 10).
JUDGE_REPEATS = 20
#: The samples of the tables on differences and decisions: the spanning samples and the decision regions.
DECISION_SAMPLES = ("all", "near_budget", "top-stentr", "region")


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def interval(row: dict[str, str], name: str, why_none: str = "") -> str:
    """A statistic and its 95 % interval; none where every bootstrap resample was degenerate (NaN)."""
    value, low, high = (float(row[key]) for key in (name, f"{name}_lo", f"{name}_hi"))
    if math.isnan(low) or math.isnan(high):
        return f"{value:+.2f} (no interval{why_none})"
    return f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


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


def file_table(path: Path, header: list[str], cells: Callable[[dict[str, str]], list[str]]) -> str | None:
    """A markdown table of a results CSV, a row per CSV row (``cells`` formats it); None when it is empty."""
    rows = read_csv(path)
    return markdown_table(header, [cells(r) for r in rows]) if rows else None


def routes_table(task: str, results: Path) -> str | None:
    header = [
        "route",
        "picks trained",
        "val top-1 (%)",
        "sd over",
        "search (s)",
        "epochs to the trained pick",
    ]
    return file_table(
        results / task / "routes.csv",
        header,
        lambda r: [
            r["route"],
            r["picks"],
            f"{float(r['val_top1_mean']):.1f} ± {float(r['val_top1_sd']):.1f}",
            r["over"],
            f"{float(r['search_s']):.0f}",
            f"{float(r['epochs_to_network']):.0f}",
        ],
    )


def paired_routes_table(task: str, results: Path) -> str | None:
    """Route against route, search seed by search seed (routes_paired.csv). Two routes that trained the same
    networks on one machine differ by exactly 0 in every seed: no spread, no interval, nothing to detect."""
    header = ["routes", "search seeds", "difference (points), 95 % t CI", "same pick", "detectable (80 %)"]

    def cells(r: dict[str, str]) -> list[str]:
        mean, lo, hi = (float(r[key]) for key in ("diff_mean", "diff_lo", "diff_hi"))
        spread = lo != hi
        return [
            f"({r['route']}) − ({r['baseline']})",
            r["search_seeds"],
            f"{mean:+.1f} [{lo:+.1f}, {hi:+.1f}]" if spread else f"{mean:+.1f} (no spread between seeds)",
            r["same_pick"],
            f"{float(r['detectable']):.1f}" if spread else "—",
        ]

    return file_table(results / task / "routes_paired.csv", header, cells)


def tau_cell(row: dict[str, str], name: str) -> str:
    """τ with its interval, or why there is none (every network at one accuracy, e.g. at chance)."""
    if math.isnan(float(row[name])):
        return "undefined: all networks tied"
    return interval(row, name, ": resamples with every network tied")


def rungs_table(task: str, results: Path) -> str | None:
    """Rung fidelity per sample and epoch (rungs.csv)."""
    header = ["sample", "networks", "rung (epoch)", "τ same run", "τ other seed's end", "seed-to-seed τ"]
    return file_table(
        results / task / "rungs.csv",
        header,
        lambda r: [
            r["sample"],
            r["n_archs"],
            f"{r['epoch']} of {r['of_epochs']}",
            tau_cell(r, "tau_same_run"),
            tau_cell(r, "tau_across_seeds"),
            f"{float(r['seed_tau']):+.2f}",
        ],
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


def repeat_table(tasks: list[str], results: Path) -> str:
    """Each task's seed-to-seed τ and noise ceiling per sample (correlations.csv), flagged below REPEATS."""
    cells = []
    for task in tasks:
        for row in read_csv(results / task / "correlations.csv"):
            if row["scorer"] != "stentr" or row["seed_tau"] in ("", "nan"):
                continue
            seed_tau, ceiling = float(row["seed_tau"]), float(row["ceiling"])
            verdict = "repeats" if seed_tau >= REPEATS else "**does not repeat: no headline**"
            if int(row["n_archs"]) < JUDGE_REPEATS:
                verdict = f"too few networks to judge (fewer than {JUDGE_REPEATS}): no headline"
            spread = [f"{100 * float(row[k]):.1f}" if row.get(k) else "–" for k in ("run_sd", "network_sd")]
            cells.append(
                [task, row["sample"], row["n_archs"], f"{seed_tau:+.2f}", f"{ceiling:.2f}", *spread, verdict]
            )
    header = [
        "task",
        "sample",
        "networks",
        "seed-to-seed τ",
        "ceiling",
        "one run's noise",
        "networks' spread",
    ]
    return markdown_table([*header, ""], cells)


def grid(
    rows: list[dict[str, str]], column: str, label: str, cell: Callable[[dict[str, str]], str]
) -> str | None:
    """A row per scorer, a column per value of ``column`` (headed ``<value> <label>``), ``cell`` in each."""
    if not rows:
        return None
    columns = list(dict.fromkeys(r[column] for r in rows))
    by = {(r["scorer"], r[column]): r for r in rows}
    scorers = list(dict.fromkeys(r["scorer"] for r in rows))
    cells = [[s, *(cell(by[s, c]) if (s, c) in by else "–" for c in columns)] for s in scorers]
    return markdown_table(["scorer", *(f"{c} {label}" for c in columns)], cells)


def with_count(statistic: str) -> Callable[[dict[str, str]], str]:
    return lambda row: f"{interval(row, statistic)} ({row['n_archs']})"


def regret(row: dict[str, str]) -> str:
    random = f"random {float(row['random_regret']):.1f}; p {float(row['p_random_as_good']):.2f}"
    return f"{float(row['regret']):.1f} ({random})"


def decision_tables(task: str, results: Path) -> list[tuple[str, str | None]]:
    """(what, table) of the decision-region analyses of ``task`` (decision.py), None where not measured."""
    partial = [r for r in read_csv(results / task / "partial.csv") if r["sample"] in DECISION_SAMPLES]
    regrets = [r for r in read_csv(results / task / "regret.csv") if r["sample"] == "region"]
    return [
        (
            "τ within FLOPs bands (every network of the task):",
            grid(read_csv(results / task / "bands.csv"), "band", "of the budget", with_count("tau")),
        ),
        (
            "Kendall's partial τ with #params held fixed:",
            grid(partial, "sample", "partial τ [95% CI] (n)", with_count("partial_tau")),
        ),
        (
            "Train a scorer's top k of the decision regions and keep the best: regret in points below the "
            "best network of the regions, the expected regret of k networks picked at random, and the chance "
            "p that a random pick of k does at least as well:",
            grid([{**r, "k": f"k = {r['k']}"} for r in regrets], "k", "", regret),
        ),
    ]


def detectable_table(tasks: list[str], results: Path) -> str:
    """The smallest Δτ(STEntr − #params) each task's sample can detect (differences.csv)."""
    cells = [
        [
            task,
            r["sample"],
            r["n_archs"],
            interval(r, "dtau"),
            f"{float(r['dtau_se']):.3f}",
            f"{float(r['detectable']):.2f}",
        ]
        for task in tasks
        for r in read_csv(results / task / "differences.csv")
        if r["scorer"] == "stentr" and r["sample"] in DECISION_SAMPLES
    ]
    header = ["task", "sample", "networks", "Δτ(stentr − params) [95% CI]", "SE", "smallest detectable Δτ"]
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
        "## Does each task repeat?",
        "",
        "Kendall τ between the per-network accuracies of seed 0 and seed 1, and the noise ceiling it "
        "implies: the τ a score that ranks the networks exactly by their true accuracy is expected to reach "
        "with the mean of the seeds (Gaussian model: r = sin(π τ/2), Spearman–Brown reliability of the mean "
        "R = 2r/(1 + r), ceiling 2/π·arcsin √R; noise.py). A task below a seed-to-seed τ of "
        f"{REPEATS} does not repeat: its τ figures are listed but carry no finding; fewer than "
        f"{JUDGE_REPEATS} networks cannot tell either way. Why: one run's noise (sd of a training's "
        "accuracy around its network's, from the two seeds' differences) against the networks' spread (sd of "
        "their true accuracies), both in points; a task repeats when the spread is well above the noise.",
        "",
        repeat_table(tasks, results),
        "",
        "## Kendall τ of each scorer with trained accuracy",
        "",
        f"The networks: {visited_line(results)} 95 % percentile-bootstrap intervals over architectures; n: "
        "architectures trained with every seed.",
    ]
    for sample, what in (
        ("all", "both spanning samples together"),
        ("range", "evenly spaced over the whole STEntr range a search visits"),
        ("near_budget", "one per equal-count STEntr stratum of everything the search visits"),
        ("top-stentr", "the decision region: top 5 % of STEntr at ≥ 90 % of the budget"),
        ("region", "the three decision regions together (STEntr, #params, Zen-score searches)"),
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
    for sample in DECISION_SAMPLES:
        text += [
            "",
            f"`{sample}`:",
            "",
            by_scorer_and_task(
                tasks, results, "differences.csv", sample, "dtau", "Δτ vs params [95% CI]", count=False
            ),
        ]
    text += [
        "",
        "## What the study can detect",
        "",
        "The smallest Δτ(STEntr − #params) a sample can detect: 2.8 × the standard error of its paired "
        "bootstrap (80 % power at a two-sided α of 0.05). A gap smaller than that is not shown either way.",
        "",
        detectable_table(tasks, results),
    ]
    for task in tasks:
        decided = [(what, table) for what, table in decision_tables(task, results) if table]
        if decided:
            text += ["", f"## {task}: where the search decides"]
            text += [line for what, table in decided for line in ("", what, "", table)]
    for task in tasks:
        text += ["", f"## {task}", "", f"![{task}]({link}/{task}/scatter.png)", ""]
        text += ["Top 5 over all architectures:", "", top_k_table(task, results)]
        table = winners_table(task, results)
        if table:
            text += ["", "Search winners under the same budget, and X3D at the same conv FLOPs:", "", table]
        routes = routes_table(task, results)
        if routes:
            text += ["", "Routes to a network (routes.py), val top-1 % mean ± sd:", "", routes]
        paired = paired_routes_table(task, results)
        if paired:
            text += ["", "Route against route, the same search seed's picks (a pick's mean over its training"]
            text[-1] += " seeds; 'same pick': seeds where both routes chose one network):"
            text += ["", paired]
        rungs = rungs_table(task, results)
        if rungs:
            text += ["", "Does a rung predict the end? Kendall τ of the val top-1 after an epoch of the full"]
            text[-1] += " schedule (where select reads it) with the last epoch's, within one run and against"
            text[-1] += (
                " the other seed's; the last column: the two seeds' last-epoch τ on the same networks:"
            )
            text += ["", rungs]
        text += ["", f"Every number: results/{task}/ (table.csv, correlations.csv, topk.csv, the ledgers)."]
    text += ["", "## Cost", "", cost_table(tasks, results)]
    for hand_written in ("plan.md", "reading.md"):
        path = here / hand_written
        text += ["", path.read_text()] if path.exists() else []
    return atomic_write_text(here / "results.md", "\n".join(text))
