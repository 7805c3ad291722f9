"""Does the score pick better networks?  ``make validity`` or ``python -m experiments.validity.run``

For each task (tasks.py: camera motion on real footage, arid6's and ucf9's real actions, the playback
speed of ucf9's clips, camera motion over ucf9's scenes):

1. ``--archs`` architectures twice from what a search at the demo budget visits: evenly spaced over its
   whole STEntr range (``range``), and one per equal-count STEntr stratum, where the search spends its time
   and makes its choices (``near_budget``). Saved once in results/archs/ and reused by every later run.
2. every scorer on each: the analytic ones (stentr, entropy, flops, params, random) and the zero-cost
   proxies (naswot, synflow, snip, grad_norm, zen; the data-dependent ones on the task's training clips);
3. each trained ``--seeds`` times with one fixed recipe (jobs.py); per sample, Kendall τ and Spearman ρ of
   every scorer with mean val top-1, 95 % bootstrap intervals, top-5 overlap and a scatter figure;
4. the decision (winners.py): the winners of searches under the same budget by STEntr, #params, the
   task's best other proxy and random search, and an X3D scaled to the same conv FLOPs, each trained
   ``--winner-seeds`` times.

Every training and proxy score is a row of a ledger committed beside the results (results/<task>/*.csv):
it is never redone, here or on another machine, so the study may be stopped and continued at any time.
``--analyse-only`` rewrites the tables, figures and results.md from the ledgers. Runs and prepared data go
to outputs/validity/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from e3dnas import cost, scores
from e3dnas.arch import load_arch, save_arch
from e3dnas.atomic import atomic_write_csv, atomic_write_text
from e3dnas.budget import Budget
from e3dnas.configs import read_conf
from experiments.validity.analyse import correlation_rows, difference_rows, scatter, top_k_rows
from experiments.validity.decision import band_rows, partial_rows, regret_rows
from experiments.validity.jobs import Settings, proxy_job, sweep_job, training_job
from experiments.validity.ledger import Job, Ledger, log, run_jobs
from experiments.validity.region import REGION_TASKS, REGIONS, region_archs
from experiments.validity.report import write_results
from experiments.validity.routes import (
    ROUTES,
    paired_route_rows,
    picks,
    route_jobs,
    route_rows,
    rung_rows,
    saved_picks,
    x3d_jobs,
)
from experiments.validity.sample import spanning, stratified, visited_architectures
from experiments.validity.tasks import CLIPS, TASKS, class_count
from experiments.validity.winners import decide

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ANALYTIC = ("stentr", "entropy", "flops", "params", "random")
PROXIES = ("naswot", "synflow", "snip", "grad_norm", "zen")
SAMPLES = ("range", "near_budget")
TRAINING_COLUMNS = ("arch", "seed", "val_top1", "seconds", "device", "commit", "val_curve")
PROXY_COLUMNS = ("arch", "scorer", "score", "seconds", "device", "commit")


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def machine(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"CPU {platform.machine()} ({os.cpu_count()} cores), torch {torch.__version__}"


def study_archs(budget: Budget, count: int, results: Path) -> dict[str, Path]:
    """The study's architectures by id (``range-00`` …), sampled once and then read from results/archs/."""
    folder = results / "archs"
    paths = {f"{s}-{i:02d}": folder / f"{s}-{i:02d}.yaml" for s in SAMPLES for i in range(count)}
    if all(path.exists() for path in paths.values()):
        return paths
    log("sampling the study's architectures from a 100k-candidate search at the demo budget")
    space = budget.space(read_conf("space", "e3d"))
    visited = visited_architectures(space, budget, iterations=100_000, seed=0)
    stentr = scores.spatio_temporal_entropy(visited)
    drawn = {"range": spanning(visited, stentr, count), "near_budget": stratified(visited, stentr, count, 0)}
    for sample, archs in drawn.items():
        for i, arch in enumerate(archs):
            save_arch(paths[f"{sample}-{i:02d}"], arch, name=f"validity-{sample}-{i:02d}")
    atomic_write_text(folder / "visited.json", json.dumps({"visited": len(visited)}))
    return paths


def study_jobs(
    task_name: str,
    task_data: tuple[Path, Path],
    archs: dict[str, Path],
    seeds: int,
    ledgers,
    settings: Settings,
) -> list[Job]:
    """What is missing from a task's ledgers: proxy scores first (quick), then trainings, alternating the
    samples so that a study stopped half-way has both in equal measure. ``task_data``: (videos, prepared)."""
    task, (trainings, proxies), (videos, data) = TASKS[task_name], ledgers, task_data
    jobs = []
    for proxy in PROXIES:
        missing = {a: p for a, p in archs.items() if not proxies.has(a, proxy)}
        if missing:
            jobs.append(proxy_job(task, videos, proxy, missing, proxies, settings))
    order = sorted(archs, key=lambda a: (rank_fraction(a, archs), a))  # near_budget-00, range-00, … -01 …
    if settings.launcher == "slurm":
        for seed in range(seeds):
            pending = {a: archs[a] for a in order if not trainings.has(a, seed)}
            if pending:
                jobs.append(sweep_job(task, data, seed, pending, trainings, settings))
    else:
        jobs += [
            training_job(task, data, arch, seed, [f"arch={archs[arch]}"], trainings, settings)
            for arch in order
            for seed in range(seeds)
            if not trainings.has(arch, seed)
        ]
    return jobs


def rank_fraction(arch_id: str, archs: dict[str, Path]) -> float:
    """An id's place in its sample (``top-stentr-007`` of 100: 0.07): samples of any size interleave."""
    sample, index = arch_id.rsplit("-", 1)
    return int(index) / sum(a.rsplit("-", 1)[0] == sample for a in archs)


def score_table(archs: dict[str, Path], trainings: Ledger, proxies: Ledger, seeds: int) -> list[dict]:
    """One row per architecture trained with every seed: its sample, cost, scores and accuracies."""
    accuracy: dict[str, dict[int, float]] = {}
    for row in trainings.rows:
        accuracy.setdefault(row["arch"], {})[int(row["seed"])] = float(row["val_top1"])
    proxy = {(row["arch"], row["scorer"]): float(row["score"]) for row in proxies.rows}
    rows = []
    for arch_id, path in archs.items():
        per_seed = [accuracy.get(arch_id, {}).get(seed) for seed in range(seeds)]
        if None in per_seed:
            continue
        arch = load_arch(path)
        c = cost.cost(arch)
        row = {"arch": arch_id, "sample": arch_id.rsplit("-", 1)[0], "flops": c.flops, "params": c.params}
        row |= {f"score_{name}": scores.score_arch(arch, name) for name in ANALYTIC}
        row |= {f"score_{name}": proxy.get((arch_id, name), float("nan")) for name in PROXIES}
        row |= {f"val_top1_seed{s}": a for s, a in enumerate(per_seed)}
        row |= {"val_top1_mean": statistics.mean(per_seed), "val_top1_range": max(per_seed) - min(per_seed)}
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    if rows:
        atomic_write_csv(path, list(rows[0]), [list(row.values()) for row in rows])


def best_proxy(correlations: list[dict]) -> str | None:
    """The proxy (neither STEntr nor a cost) with the highest τ over all architectures of a task."""
    pooled = [r for r in correlations if r["sample"] == "all" and r["scorer"] in PROXIES]
    return max(pooled, key=lambda r: r["tau"])["scorer"] if pooled else None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=sorted(TASKS))
    parser.add_argument("--archs", type=int, default=24, help="per sample (two samples)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--winner-seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="every task's epochs (default: each task's own)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--launcher", choices=("local", "slurm"), default="local", help="where trainings run")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="local jobs at once")
    parser.add_argument("--threads", type=int, help="torch threads per job (default: cores / jobs)")
    parser.add_argument(
        "--regions",
        nargs="*",
        choices=[r.scorer for r in REGIONS],
        default=[r.scorer for r in REGIONS],
        help=f"decision regions sampled and trained on {', '.join(REGION_TASKS)} (region.py)",
    )
    for name, path in CLIPS.items():
        parser.add_argument(
            f"--{name}", type=Path, default=path, help=f"the {name} clips (env E3DNAS_{name.upper()})"
        )
    parser.add_argument("--results", type=Path, default=HERE / "results", help="tables, figures, ledgers")
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "validity", help="runs and data")
    parser.add_argument("--resamples", type=int, default=5000, help="bootstrap resamples")
    parser.add_argument("--analyse-only", action="store_true", help="tables and figures from the ledgers")
    parser.add_argument("--no-winners", action="store_true", help="stop after the correlation trainings")
    parser.add_argument(
        "--routes", nargs="*", choices=ROUTES, default=[], help="routes to a network (routes.py)"
    )
    parser.add_argument("--search-seeds", type=int, default=5, help="search seeds per route")
    parser.add_argument("--route-seeds", type=int, default=3, help="training seeds per route's pick")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    settings = Settings(
        work=args.work,
        device=args.device,
        commit=commit(),
        epochs=args.epochs,
        launcher=args.launcher,
        slots=args.jobs,
        threads=args.threads or max(1, (os.cpu_count() or 1) // args.jobs) if args.device == "cpu" else 1,
    )
    budget = Budget.from_config(read_conf("budget", "demo"))
    spread = study_archs(budget, args.archs, args.results)
    space = budget.space(read_conf("space", "e3d"))
    regions = (
        region_archs(
            space,
            budget,
            args.results,
            list(spread.values()),
            args.regions,
            draw_missing=not args.analyse_only,
        )
        if set(REGION_TASKS) & set(args.tasks)
        else {}
    )
    archs = {name: spread | regions if name in REGION_TASKS else spread for name in args.tasks}
    ledgers = {
        name: (
            Ledger(args.results / name / "trainings.csv", TRAINING_COLUMNS, ("arch", "seed")),
            Ledger(args.results / name / "proxy_scores.csv", PROXY_COLUMNS, ("arch", "scorer")),
        )
        for name in args.tasks
    }
    sources = {name: getattr(args, TASKS[name].clips) if TASKS[name].clips else None for name in args.tasks}
    for name, source in sources.items():
        if source is not None and not source.is_dir() and not args.analyse_only:
            raise SystemExit(f"{source}: the {name} clips are not there (--{name} or E3DNAS_{name.upper()})")
    task_data = (
        {} if args.analyse_only else {name: TASKS[name].data(args.work, sources[name]) for name in args.tasks}
    )
    chosen: dict[str, dict[str, Path]] = {name: {} for name in args.tasks}
    if not args.analyse_only:
        jobs = [
            job
            for name in args.tasks
            for job in study_jobs(name, task_data[name], archs[name], args.seeds, ledgers[name], settings)
        ]
        for name in args.tasks if args.routes else []:
            task, data = TASKS[name], task_data[name][1]
            chosen[name] = picks(
                task, data, space, budget, args.routes, args.search_seeds, args.results, settings
            )
            jobs += route_jobs(task, data, chosen[name], args.route_seeds, ledgers[name][0], settings)
            if "d" in args.routes:
                classes = class_count(task_data[name][0])
                seeds, trainings = args.route_seeds, ledgers[name][0]
                jobs += x3d_jobs(task, data, classes, budget, seeds, args.results, trainings, settings)
        log(f"{len(jobs)} jobs to run, {settings.slots} at a time with {settings.threads} thread(s) each")
        failures = run_jobs(jobs, settings.slots, settings.threads)
        if failures:
            raise SystemExit(f"{failures} jobs failed (their output is above); rerun to retry them")
    summary = {}
    for name in args.tasks:
        task, (trainings, proxies), out = TASKS[name], ledgers[name], args.results / name
        table = score_table(archs[name], trainings, proxies, args.seeds)
        correlations = correlation_rows(table, args.resamples)
        write_csv(out / "table.csv", table)
        write_csv(out / "correlations.csv", correlations)
        write_csv(out / "differences.csv", difference_rows(table, args.resamples))
        write_csv(out / "topk.csv", top_k_rows(table, k=5))
        write_csv(out / "bands.csv", band_rows(table, budget.flops, args.resamples))
        write_csv(out / "partial.csv", partial_rows(table, args.resamples))
        write_csv(out / "regret.csv", regret_rows(table))
        picked = chosen[name] or saved_picks(args.results, name)
        recipe = args.epochs or task.epochs
        write_csv(out / "routes.csv", route_rows(trainings, picked, args.route_seeds, recipe))
        write_csv(out / "routes_paired.csv", paired_route_rows(trainings, picked, args.route_seeds))
        write_csv(out / "rungs.csv", rung_rows(trainings, table, args.resamples))
        if table:
            scatter(table, correlations, out / "scatter.png", title=f"{name}: {len(table)} architectures")
        proxy = best_proxy(correlations)
        if (
            {row["arch"] for row in table} >= set(spread)
            and proxy
            and not (args.no_winners or args.analyse_only)
        ):
            videos, data = task_data[name]
            rows = decide(task, data, videos, proxy, budget, trainings, out, args.winner_seeds, settings)
            write_csv(out / "winners.csv", rows)
        summary[name] = {"archs": len(table), "best_proxy": proxy, "epochs": recipe}
    study = {
        "commit": settings.commit,
        "machine": machine(args.device),
        "jobs": settings.slots,
        "threads_per_job": settings.threads,
        "launcher": settings.launcher,
        "seeds": args.seeds,
        "winner_seeds": args.winner_seeds,
        "budget": budget.as_dict(),
        "tasks": summary,
    }
    previous = args.results / "study.json"
    if not args.analyse_only:
        study["last_invocation_s"] = round(time.perf_counter() - started)
    elif previous.exists():
        study["last_invocation_s"] = json.loads(previous.read_text()).get("last_invocation_s")
    atomic_write_text(args.results / "study.json", json.dumps(study, indent=2))
    log(f"done: {write_results(args.results, args.tasks)}")


if __name__ == "__main__":
    main()
