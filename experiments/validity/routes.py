"""The routes a user can take to a network for a task, each repeated over search seeds, each pick trained with
the study's recipe and several seeds; and whether a rung (an early epoch) predicts the full recipe.

* (a) the winner of a search by STEntr (``search.seed=s``, the demo budget's defaults);
* (b) that search's finalists narrowed by ``python -m e3dnas.select`` (successive halving by training) at
  select's defaults, whose first rung (epoch 1) ends with the recipe's one-epoch learning-rate warm-up;
* (b2), (b3) the same with the first rung at epoch 2 or 3 (``select.min_epochs``), after the warm-up;
* (c) a network drawn at random from the distinct networks at ≥ 90 % of the budget that a 100k-candidate
  STEntr search with seed s visits (a random near-budget network, as a user without a score would take);
* (d) X3D-XS at the width whose conv FLOPs are nearest route (a)'s seed-0 winner's (one network: its spread
  is over training seeds only; 56 px input and E3D's recipe, far from what X3D was designed for).

Picks are saved once in ``results/routes/`` (the selecting routes' per task), and their trainings are rows of
the task's trainings.csv labelled ``route-<r>-s<seed>``, so a later session redoes nothing. Rung fidelity:
every study training validates after each epoch (trainings.csv's ``val_curve``), so a rung's accuracy is read
inside the full schedule, where select reads it, and compared with the full recipe's at no extra training.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from e3dnas import cost
from e3dnas.arch import Arch, load_arch, read_arch, save_arch
from e3dnas.budget import Budget
from e3dnas.scores import ScorerSpec
from e3dnas.search import SearchSettings
from e3dnas.space import SearchSpace
from experiments.validity.analyse import SAMPLES, kendall_tau, paired_bootstrap, sample_rows
from experiments.validity.jobs import Settings, search_job, training_job, training_overrides
from experiments.validity.ledger import Job, Ledger, run_jobs
from experiments.validity.noise import MIN_ARCHS
from experiments.validity.region import MIN_BUDGET_FRACTION
from experiments.validity.sample import visited
from experiments.validity.tasks import Task
from experiments.validity.winners import x3d_contender

ROUTES = ("a", "b", "b2", "b3", "c", "d")
#: The routes that narrow a search's finalists with e3dnas.select, and the select settings each adds.
SELECTIONS = {"b": (), "b2": ("select.min_epochs=2",), "b3": ("select.min_epochs=3",)}
#: The routes whose pick comes from a STEntr search (route (a) takes its winner).
SEARCHED = ("a", *SELECTIONS)
#: Finalists that a selecting route hands to e3dnas.select.
FINALISTS = 16
#: Routes compared search seed by search seed in routes_paired.csv: (route, baseline).
PAIRS = (("b", "a"), ("b2", "a"), ("b3", "a"), ("a", "c"), ("b", "c"))
#: The meta key of a saved pick: what its route spent before training it (search seconds, selection epochs).
ROUTE_COST = "route_cost"


def search_dir(seed: int, settings: Settings) -> Path:
    return settings.work / "routes" / f"search-stentr-seed{seed}"


def select_command(
    search: Path, task: Task, data: Path, route: str, out: Path, settings: Settings
) -> list[str]:
    """A selecting route: ``python -m e3dnas.select`` over ``search``'s finalists with the study's recipe
    for ``task`` and the route's own select settings; its pick is ``out/selected.yaml``."""
    return [
        sys.executable,
        "-m",
        "e3dnas.select",
        f"run={search}",
        *training_overrides(task, data, settings),
        f"select.finalists={FINALISTS}",
        *SELECTIONS[route],
        f"hydra.run.dir={out}",
    ]


def random_near_budget(space: SearchSpace, budget: Budget, seed: int, iterations: int = 100_000) -> Arch:
    """Route (c)'s pick: one of the distinct networks at ≥ 90 % of the budget a STEntr search visits."""
    settings = SearchSettings(iterations=iterations, seed=seed)
    batch, _, flops = visited(space, budget, ScorerSpec("stentr"), settings)
    near = np.flatnonzero(flops >= MIN_BUDGET_FRACTION * budget.flops)
    return batch.arch(int(np.random.default_rng(seed).choice(near)))


def picks(
    task: Task,
    data: Path,
    space: SearchSpace,
    budget: Budget,
    routes: list[str],
    seeds: int,
    results: Path,
    settings: Settings,
) -> dict[str, Path]:
    """Each route's pick per search seed by label (``route-a-s0`` …), made once and saved in results/routes/.
    Route (d) is not a pick of a search (x3d_jobs trains its X3D)."""
    folder = results / "routes"
    saved = {
        f"route-{route}-s{seed}": (folder / task.name if route in SELECTIONS else folder)
        / f"{route}-s{seed}.yaml"
        for route in routes
        if route != "d"
        for seed in range(seeds)
    }
    searched = [r for r in routes if r in SEARCHED]
    searches = [
        search_job("stentr", search_dir(seed, settings), [f"search.seed={seed}"])
        for seed in range(seeds)
        if not all(saved[f"route-{r}-s{seed}"].exists() for r in searched)
        and not (search_dir(seed, settings) / "best.yaml").exists()
    ]
    selections = [
        Job(
            f"{task.name} route ({route}) select over search seed {seed}",
            select_command(
                search_dir(seed, settings),
                task,
                data,
                route,
                selection_dir(task, route, seed, settings),
                settings,
            ),
            lambda seconds: None,
            Path(__file__).resolve().parents[2],
        )
        for route in routes
        if route in SELECTIONS
        for seed in range(seeds)
        if not saved[f"route-{route}-s{seed}"].exists()
    ]
    for phase in (searches, selections):
        if run_jobs(phase, settings.slots, settings.threads):
            raise SystemExit("a route's search or selection failed (its output is above); rerun to retry it")
    for label, path in saved.items():
        if path.exists():
            continue
        route, seed = label.split("-")[1], int(label.rsplit("s", 1)[1])
        spent = {"search_s": 0.0, "selection_epochs": 0}
        if route in SEARCHED:
            search = json.loads((search_dir(seed, settings) / "summary.json").read_text())
            spent["search_s"] = float(search["seconds"])
        if route == "a":
            arch = load_arch(search_dir(seed, settings) / "best.yaml")
        elif route in SELECTIONS:
            selection = selection_dir(task, route, seed, settings)
            arch = load_arch(selection / "selected.yaml")
            spent["selection_epochs"] = json.loads((selection / "summary.json").read_text())["cost"]["epochs"]
        else:
            arch = random_near_budget(space, budget, seed)
        save_arch(path, arch, name=f"validity-{label}", meta={ROUTE_COST: spent})
    return saved


def selection_dir(task: Task, route: str, seed: int, settings: Settings) -> Path:
    return settings.work / task.name / "routes" / f"select-{route}-seed{seed}"


def route_jobs(
    task: Task, data: Path, chosen: dict[str, Path], seeds: int, ledger: Ledger, settings
) -> list[Job]:
    """The trainings of every pick that the ledger lacks, ``seeds`` seeds each."""
    return [
        training_job(task, data, label, seed, [f"arch={path}"], ledger, settings)
        for label, path in chosen.items()
        for seed in range(seeds)
        if not ledger.has(label, seed)
    ]


def x3d_jobs(
    task: Task, data: Path, classes: int, budget: Budget, seeds: int, results: Path, ledger: Ledger, settings
) -> list[Job]:
    """Route (d): X3D-XS at the conv FLOPs of route (a)'s seed-0 pick, ``seeds`` trainings under the label
    winners.py gives it, so a task whose search winners are trained has them already."""
    pick = results / "routes" / "a-s0.yaml"
    if not pick.exists():
        raise SystemExit(f"{pick}: route (d) is X3D at the FLOPs of route (a)'s pick; run with --routes a d")
    reference = cost.cost(load_arch(pick)).flops
    label, _, model = x3d_contender(reference, budget, classes)
    return [
        training_job(task, data, label, seed, model, ledger, settings)
        for seed in range(seeds)
        if not ledger.has(label, seed)
    ]


def saved_picks(results: Path, task: str) -> dict[str, Path]:
    """The picks saved by earlier runs (``route-a-s0`` …): routes (a), (c) shared by the tasks, the selecting
    routes' per task."""
    folder = results / "routes"
    return {f"route-{p.stem}": p for p in sorted([*folder.glob("*.yaml"), *(folder / task).glob("*.yaml")])}


def accuracies(trainings: Ledger) -> dict[str, list[float]]:
    """Each network's val top-1 (%) per training seed, in ledger order."""
    found: dict[str, list[float]] = {}
    for row in trainings.rows:
        found.setdefault(row["arch"], []).append(100 * float(row["val_top1"]))
    return found


def pick_means(trainings: Ledger, chosen: dict[str, Path], seeds: int) -> dict[str, float]:
    """Each pick's mean val top-1 (%) over its first ``seeds`` training seeds (picks trained that often)."""
    accuracy = accuracies(trainings)
    return {x: statistics.mean(accuracy[x][:seeds]) for x in chosen if len(accuracy.get(x, [])) >= seeds}


def paired_route_rows(trainings: Ledger, chosen: dict[str, Path], seeds: int) -> list[dict]:
    """routes_paired.csv: for each pair of PAIRS, the difference of the two routes' pick means search seed by
    search seed (both picks come from the same seed's search), its mean, a 95 % t interval over the search
    seeds, and the smallest difference that 80 % power detects at that spread (two-sided α 0.05)."""
    means = pick_means(trainings, chosen, seeds)
    search_seeds = sorted({int(label.rsplit("s", 1)[1]) for label in chosen})
    rows = []
    for route, baseline in PAIRS:
        pairs = [(f"route-{route}-s{s}", f"route-{baseline}-s{s}") for s in search_seeds]
        pairs = [(x, b) for x, b in pairs if x in means and b in means]
        if len(pairs) < 2:
            continue
        gaps = np.array([means[x] - means[b] for x, b in pairs])
        same = sum(load_arch(chosen[x]) == load_arch(chosen[b]) for x, b in pairs)
        se = float(gaps.std(ddof=1) / np.sqrt(len(gaps)))
        df = len(gaps) - 1
        t_975 = float(stats.t.ppf(0.975, df))
        half = t_975 * se
        rows.append(
            {
                "route": route,
                "baseline": baseline,
                "search_seeds": len(gaps),
                "diff_mean": float(gaps.mean()),
                "diff_lo": float(gaps.mean()) - half,
                "diff_hi": float(gaps.mean()) + half,
                "same_pick": same,
                "detectable": (t_975 + float(stats.t.ppf(0.8, df))) * se,
            }
        )
    return rows


def route_rows(trainings: Ledger, chosen: dict[str, Path], seeds: int, recipe_epochs: int) -> list[dict]:
    """routes.csv: per route, the mean over search seeds of each pick's mean val top-1 (%) over ``seeds``
    training seeds, its sd over search seeds, how many picks are fully trained, and what the route costs a
    user: search seconds and the epochs trained until they hold the pick trained to the recipe (a selection
    trains its survivor to the recipe itself). Route (d) is the X3D of x3d_jobs or winners.py (its sd is over
    training seeds)."""
    pick_mean = pick_means(trainings, chosen, seeds)
    members: dict[str, list[str]] = {}
    for label in chosen:
        members.setdefault(label.split("-")[1], []).append(label)
    rows = []
    for route, labels in sorted(members.items()):
        trained = [x for x in labels if x in pick_mean]
        if not trained:
            continue
        means = [pick_mean[x] for x in trained]
        documents = [read_arch(chosen[x]) for x in trained]
        spent = [d.meta.get(ROUTE_COST, {}) for d in documents]
        selection = [s.get("selection_epochs", 0) for s in spent]
        rows.append(
            {
                "route": route,
                "picks": len(means),
                "val_top1_mean": statistics.mean(means),
                "val_top1_sd": statistics.stdev(means) if len(means) > 1 else float("nan"),
                "over": "search seeds",
                "gflops": statistics.mean(cost.cost(d.arch).flops / 1e9 for d in documents),
                "search_s": statistics.mean(s.get("search_s", 0.0) for s in spent),
                "epochs_to_network": statistics.mean(e or recipe_epochs for e in selection),
            }
        )
    accuracy = accuracies(trainings)
    for label in [x for x in accuracy if x.startswith("x3d-")]:
        top1 = accuracy[label]
        rows.append({"route": "d", "picks": 1, "val_top1_mean": statistics.mean(top1)})
        rows[-1] |= {"val_top1_sd": statistics.stdev(top1), "over": "training seeds", "gflops": float("nan")}
        rows[-1] |= {"search_s": 0.0, "epochs_to_network": recipe_epochs}
    return rows


def rung_rows(trainings: Ledger, table: list[dict], resamples: int) -> list[dict]:
    """rungs.csv: per sample and epoch before the last, Kendall τ of the accuracy after that epoch with the
    full recipe's, over the networks whose two seeds both have a learning curve: within one run (what select
    sees) and across seeds (a rung's accuracy against the other seed's final one: no shared noise), with the
    finals' own seed-to-seed τ on the same networks beside them, the most any predictor of one run reaches."""
    curves = {
        (row["arch"], int(row["seed"])): [float(v) for v in row["val_curve"].split()]
        for row in trainings.rows
        if row["val_curve"]
    }
    if not curves:
        return []
    # The recipe's epochs; a curve with fewer (a run resumed from a checkpoint logs only its last epochs)
    # leaves its network out.
    epochs = max(map(len, curves.values()))
    with_curves = [
        r["arch"] for r in table if all(len(curves.get((r["arch"], s), ())) == epochs for s in (0, 1))
    ]

    def same_run(r0, r1, f0, f1, weights=None):
        return (kendall_tau(r0, f0, weights) + kendall_tau(r1, f1, weights)) / 2

    def across_seeds(r0, r1, f0, f1, weights=None):
        return (kendall_tau(r0, f1, weights) + kendall_tau(r1, f0, weights)) / 2

    rows = []
    for sample in SAMPLES:
        members = [r["arch"] for r in sample_rows(table, sample) if r["arch"] in with_curves]
        if len(members) < MIN_ARCHS:
            continue
        finals = [np.array([curves[a, s][epochs - 1] for a in members]) for s in (0, 1)]
        for epoch in range(1, epochs):
            data = (*(np.array([curves[a, s][epoch - 1] for a in members]) for s in (0, 1)), *finals)
            row = {"sample": sample, "epoch": epoch, "of_epochs": epochs, "n_archs": len(members)}
            for name, statistic in (("same_run", same_run), ("across_seeds", across_seeds)):
                tau = float(statistic(*data))
                row |= {f"tau_{name}": tau, f"tau_{name}_lo": tau, f"tau_{name}_hi": tau}
                if not math.isnan(tau):  # undefined where every network ties at this epoch (at chance)
                    ci = paired_bootstrap(data, statistic, resamples).confidence_interval
                    row |= {f"tau_{name}_lo": float(ci.low), f"tau_{name}_hi": float(ci.high)}
            row["seed_tau"] = float(kendall_tau(*finals))
            rows.append(row)
    return rows
