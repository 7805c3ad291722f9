"""The decision that matters: train the winner of a search by each scorer, and X3D at the same FLOPs.

Searches by the analytic scorers (STEntr, #params, random) run at the demo budget's defaults; a search by a
proxy builds every candidate, so it visits ``PROXY_SEARCH`` candidates instead. X3D is pytorchvideo's
``create_x3d`` at XS depth with the width factor whose conv FLOPs at the demo input are nearest STEntr's
winner's.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import torch

from e3dnas import cost
from e3dnas.arch import load_arch, save_arch
from e3dnas.budget import Budget
from e3dnas.models import build_model
from e3dnas.train.tracking import conv_flops
from experiments.validity.jobs import Settings, search_job, training_job
from experiments.validity.ledger import Ledger, run_jobs
from experiments.validity.proxy_scores import takes_data
from experiments.validity.tasks import Task, class_count

#: Candidates of a proxy-driven search (its seconds per candidate are in results.md's cost table).
PROXY_SEARCH = ("search.iterations=256", "search.population=32", "search.batch=16")
#: The analytic contenders; the task's best other proxy is added to them.
SEARCHED = ("stentr", "params", "random")


def x3d_width(flops: float, budget: Budget, classes: int) -> float:
    """Width factor of an XS-depth X3D whose conv FLOPs at the budget's input are closest to ``flops``."""

    def gap(width: float) -> float:
        model = build_model(
            "x3d_xs",
            num_classes=classes,
            frames=budget.frames,
            resolution=budget.resolution,
            width_factor=width,
        )
        return abs(conv_flops(model, budget.frames, budget.resolution)[0] - flops)

    return min((round(float(w), 2) for w in np.arange(0.5, 2.51, 0.05)), key=gap)


def x3d_contender(flops: float, budget: Budget, classes: int) -> tuple[str, float, list[str]]:
    """X3D-XS at ``flops``: its ledger label (``x3d-w<width>``), width factor and model overrides."""
    width = x3d_width(flops, budget, classes)
    return f"x3d-w{width:g}", width, ["model=x3d_xs", f"model.width_factor={width}"]


def search_winners(
    task: Task, videos: Path, proxy: str, results: Path, settings: Settings
) -> dict[str, Path]:
    """Each contender's winner, ``results/winners/search-<scorer>.yaml``: searched once, then read from there
    (committed with the ledgers, so a later run trains exactly the networks the ledger's rows are of)."""
    saved = {scorer: results / "winners" / f"search-{scorer}.yaml" for scorer in (*SEARCHED, proxy)}
    runs = {scorer: settings.work / "search" / scorer for scorer in SEARCHED}
    runs[proxy] = settings.work / task.name / "search" / proxy
    data = [f"scorer.data_root={videos / 'train'}"] if takes_data(proxy) else []
    device = [f"scorer.device={settings.device}"]
    missing = [scorer for scorer, path in saved.items() if not path.exists()]
    jobs = [
        search_job(scorer, runs[scorer], [*PROXY_SEARCH, *data, *device] if scorer == proxy else [])
        for scorer in missing
        if not (runs[scorer] / "best.yaml").exists()
    ]
    if run_jobs(jobs, settings.slots, threads=settings.threads):
        raise SystemExit("a search failed (its output is above); rerun to retry it")
    for scorer in missing:
        save_arch(saved[scorer], load_arch(runs[scorer] / "best.yaml"), name=f"validity-search-{scorer}")
    return saved


def decide(
    task: Task,
    data: Path,
    videos: Path,
    proxy: str,
    budget: Budget,
    ledger: Ledger,
    results: Path,
    seeds: int,
    settings: Settings,
) -> list[dict]:
    """Train every contender ``seeds`` times (ledgered); one winners.csv row per contender."""
    classes = class_count(videos)
    size = {"frames": budget.frames, "resolution": budget.resolution, "num_classes": classes}
    contenders: dict[str, tuple[list[str], torch.nn.Module]] = {}
    best = search_winners(task, videos, proxy, results, settings)
    for scorer, path in best.items():
        arch = load_arch(path)
        contenders[f"search-{scorer}"] = ([f"arch={path}"], build_model("e3d", arch=arch, **size))
    label, width, overrides = x3d_contender(cost.cost(load_arch(best["stentr"])).flops, budget, classes)
    contenders[label] = (overrides, build_model("x3d_xs", width_factor=width, **size))
    jobs = [
        training_job(task, data, label, seed, model, ledger, settings)
        for label, (model, _) in contenders.items()
        for seed in range(seeds)
        if not ledger.has(label, seed)
    ]
    if run_jobs(jobs, settings.slots, settings.threads):
        raise SystemExit("a contender's training failed (its output is above); rerun to retry it")
    accuracy = {(row["arch"], int(row["seed"])): float(row["val_top1"]) for row in ledger.rows}
    rows = []
    for label, (_, model) in contenders.items():
        flops = conv_flops(model, budget.frames, budget.resolution)[0]
        params = sum(p.numel() for p in model.parameters())
        top1 = [accuracy[label, seed] for seed in range(seeds)]
        rows.append(
            {
                "contender": label,
                "conv_gflops": flops / 1e9,
                "params": params,
                "val_top1_mean": statistics.mean(top1),
                "val_top1_std": statistics.stdev(top1) if seeds > 1 else 0.0,
                **{f"val_top1_seed{s}": a for s, a in enumerate(top1)},
            }
        )
    return rows
