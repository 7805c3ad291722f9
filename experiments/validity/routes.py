"""The routes a user can take to a network for a task, each repeated over search seeds, each pick trained with
the study's recipe and several seeds; and whether one rung (an epoch) predicts the full recipe.

* (a) the winner of a search by STEntr (``search.seed=s``, the demo budget's defaults);
* (b) that search's finalists narrowed by ``python -m e3dnas.select`` (successive halving by training);
* (c) a network drawn at random from the distinct networks at ≥ 90 % of the budget that a 100k-candidate
  STEntr search with seed s visits (a random near-budget network, as a user without a score would take);
* (d) X3D-XS at the width whose conv FLOPs are nearest route (a)'s seed-0 winner's (one network: its spread
  is over training seeds only; 56 px input and E3D's recipe, far from what X3D was designed for).

Picks are saved once in ``results/routes/`` (route (b)'s per task), and their trainings are rows of the
task's trainings.csv labelled ``route-<r>-s<seed>``, so a later session redoes nothing. Rung fidelity: the
study's spanning networks trained for ``RUNG_EPOCHS`` epoch with validation, rows of ``rungs.csv``
(``results/<task>/``), against their full-recipe accuracy.
"""

from __future__ import annotations

import dataclasses
import json
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
from experiments.validity.jobs import Settings, search_job, training_job, training_overrides
from experiments.validity.ledger import Job, Ledger, run_jobs
from experiments.validity.region import MIN_BUDGET_FRACTION
from experiments.validity.sample import visited
from experiments.validity.tasks import Task

ROUTES = ("a", "b", "c", "d")
#: Finalists that route (b) hands to e3dnas.select.
FINALISTS = 16
#: Routes compared search seed by search seed in routes_paired.csv: (route, baseline).
PAIRS = (("b", "a"), ("a", "c"), ("b", "c"))
#: The meta key of a saved pick: what its route spent before training it (search seconds, selection epochs).
ROUTE_COST = "route_cost"
#: The first rung of a selection: its accuracy against the full recipe's is the rung fidelity.
RUNG_EPOCHS = 1


def search_dir(seed: int, settings: Settings) -> Path:
    return settings.work / "routes" / f"search-stentr-seed{seed}"


def select_command(search: Path, task: Task, data: Path, out: Path, settings: Settings) -> list[str]:
    """Route (b): ``python -m e3dnas.select`` over ``search``'s finalists with the study's recipe for
    ``task`` (validated every epoch by select itself); its pick is ``out/selected.yaml``."""
    recipe = [o for o in training_overrides(task, data, settings) if "check_val_every_n_epoch" not in o]
    return [
        sys.executable,
        "-m",
        "e3dnas.select",
        f"run={search}",
        *recipe,
        f"select.finalists={FINALISTS}",
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
    Route (d) is not a pick of a search (winners.py trains its X3D)."""
    folder = results / "routes"
    saved = {
        f"route-{route}-s{seed}": (folder / task.name if route == "b" else folder) / f"{route}-s{seed}.yaml"
        for route in routes
        if route != "d"
        for seed in range(seeds)
    }
    searched = [r for r in routes if r in ("a", "b")]
    searches = [
        search_job("stentr", search_dir(seed, settings), [f"search.seed={seed}"])
        for seed in range(seeds)
        if not all(saved[f"route-{r}-s{seed}"].exists() for r in searched)
        and not (search_dir(seed, settings) / "best.yaml").exists()
    ]
    selections = [
        Job(
            f"{task.name} select over search seed {seed}",
            select_command(
                search_dir(seed, settings), task, data, selection_dir(task, seed, settings), settings
            ),
            lambda seconds: None,
            Path(__file__).resolve().parents[2],
        )
        for seed in range(seeds)
        if "b" in routes and not saved[f"route-b-s{seed}"].exists()
    ]
    for phase in (searches, selections):
        if run_jobs(phase, settings.slots, settings.threads):
            raise SystemExit("a route's search or selection failed (its output is above); rerun to retry it")
    for label, path in saved.items():
        if path.exists():
            continue
        route, seed = label.split("-")[1], int(label.rsplit("s", 1)[1])
        spent = {"search_s": 0.0, "selection_epochs": 0}
        if route in ("a", "b"):
            search = json.loads((search_dir(seed, settings) / "summary.json").read_text())
            spent["search_s"] = float(search["seconds"])
        if route == "a":
            arch = load_arch(search_dir(seed, settings) / "best.yaml")
        elif route == "b":
            selection = selection_dir(task, seed, settings)
            arch = load_arch(selection / "selected.yaml")
            spent["selection_epochs"] = json.loads((selection / "summary.json").read_text())["cost"]["epochs"]
        else:
            arch = random_near_budget(space, budget, seed)
        save_arch(path, arch, name=f"validity-{label}", meta={ROUTE_COST: spent})
    return saved


def selection_dir(task: Task, seed: int, settings: Settings) -> Path:
    return settings.work / task.name / "routes" / f"select-seed{seed}"


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


def rung_jobs(
    task: Task, data: Path, archs: dict[str, Path], ledger: Ledger, settings: Settings
) -> list[Job]:
    """Each network of ``archs`` trained for RUNG_EPOCHS epoch(s) with validation, seed 0: rows of the
    rungs ledger (the columns of trainings.csv), runs beside the full recipe's as ``rung<E>-<arch>``."""
    rung = dataclasses.replace(settings, epochs=RUNG_EPOCHS)
    return [
        training_job(
            task, data, label, 0, [f"arch={path}"], ledger, rung, run_name=f"rung{RUNG_EPOCHS}-{label}"
        )
        for label, path in archs.items()
        if not ledger.has(label, 0)
    ]


def saved_picks(results: Path, task: str) -> dict[str, Path]:
    """The picks saved by earlier runs (``route-a-s0`` …): routes (a), (c) shared, (b) the task's own."""
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
    trains its survivor to the recipe itself). Route (d) is the X3D that winners.py trained (its sd is over
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


def rung_fidelity(rungs: Ledger, table: list[dict]) -> dict[str, float] | None:
    """Kendall τ of the 1-rung accuracy with the full recipe's mean accuracy over the networks with both."""
    first = {row["arch"]: float(row["val_top1"]) for row in rungs.rows}
    both = [(first[row["arch"]], row["val_top1_mean"]) for row in table if row["arch"] in first]
    if len(both) < 5:
        return None
    x, y = zip(*both, strict=True)
    return {"tau": float(stats.kendalltau(x, y).statistic), "n_archs": len(both)}
