"""Does the score predict accuracy?  ``make validity`` or ``python experiments/validity/run.py``

Stages (each resumable: a training whose results.json exists is not redone, a killed one continues from
its last checkpoint):

1. calibrate: train the searched demo network on camera-motion sets of several pan speeds and keep the
   speed whose accuracy is furthest from both chance and saturation (closest to ``--target``);
2. sample ``--archs`` architectures twice from what a search at the demo budget visits: evenly spaced over
   its whole STEntr range, and from equal-count STEntr strata (the near-budget region where it chooses);
3. train each with one recipe and ``--seeds`` seeds; per sample, correlate every scorer with mean val
   top-1 (Kendall τ, Spearman ρ, 95 % bootstrap intervals), one scatter panel per scorer;
4. E3D vs hand design: the searched network against an X3D scaled to the same conv FLOPs, ``--compare-seeds``
   seeds each, same recipe.

Results (CSV, PNG, architecture YAMLs, results.md) go to experiments/validity/results/; runs and data to
outputs/validity/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analyse import by_first_temporal_stage, correlation, scatter
from sample import spanning, stratified, visited_architectures

from e3dnas import cost, scores
from e3dnas.arch import Arch, load_arch, save_arch
from e3dnas.atomic import atomic_write_csv, atomic_write_text
from e3dnas.budget import Budget
from e3dnas.configs import read_conf
from e3dnas.data.demo import build_demo
from e3dnas.models import build_model
from e3dnas.report import tables

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
WORK = ROOT / "outputs" / "validity"
SCORERS = ("stentr", "entropy", "flops", "params", "random")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def train_run(run_dir: Path, data: Path, epochs: int, seed: int, *model_args: str) -> dict:
    """One training with the study's fixed recipe; returns its results.json (reused when it exists)."""
    results = run_dir / "results.json"
    if not results.exists():
        command = [
            sys.executable,
            "-m",
            "e3dnas.train",
            *model_args,
            "+experiment=demo",
            f"dataset.root={data}",
            f"trainer.max_epochs={epochs}",
            f"seed={seed}",
            "logger=csv",
            "callbacks.progress_bar=none",
            "train.test=false",
            f"hydra.run.dir={run_dir}",
        ]
        log(f"train {run_dir.relative_to(WORK)}")
        env = {**os.environ, "WANDB_MODE": "disabled"}
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"training failed in {run_dir}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(results.read_text())


def searched_network(budget: Budget) -> Path:
    """The default search at the demo budget (the network the demo trains)."""
    out = WORK / "search"
    if not (out / "best.yaml").exists():
        log("search at the demo budget")
        command = [
            sys.executable,
            "-m",
            "e3dnas.search",
            "+budget=demo",
            "wandb.enabled=false",
            "progress=false",
        ]
        subprocess.run([*command, f"hydra.run.dir={out}"], cwd=ROOT, check=True, capture_output=True)
    return out / "best.yaml"


def calibrate(best: Path, steps: list[float], target: float, epochs: int) -> tuple[float, list[dict]]:
    rows = []
    for step in steps:
        data = build_demo(WORK / f"data-step{step:g}", step=step)
        result = train_run(WORK / "calibrate" / f"step{step:g}", data, epochs, 0, f"arch={best}")
        rows.append({"step_px": step, "final_val_top1": result["final_val_top1"]})
        log(f"calibration: {step:g} px/frame -> val top-1 {result['final_val_top1']:.3f}")
    chosen = min(rows, key=lambda r: abs(r["final_val_top1"] - target))
    return chosen["step_px"], rows


def conv_flops_and_params(model: torch.nn.Module, frames: int, resolution: int) -> tuple[float, int]:
    """fvcore's conv MACs (the search's FLOPs convention) and all trainable parameters of a model."""
    from fvcore.nn import FlopCountAnalysis

    counter = FlopCountAnalysis(model.eval(), torch.zeros(1, 3, frames, resolution, resolution))
    counter.unsupported_ops_warnings(False)
    counter.uncalled_modules_warnings(False)
    return float(counter.by_operator()["conv"]), sum(p.numel() for p in model.parameters())


def x3d_matching(flops: float, frames: int, resolution: int) -> float:
    """Width factor of an XS-depth X3D whose conv FLOPs at the demo input are closest to ``flops``."""

    def gap(width: float) -> float:
        model = build_model("x3d_xs", num_classes=5, frames=frames, resolution=resolution, width_factor=width)
        return abs(conv_flops_and_params(model, frames, resolution)[0] - flops)

    return min((round(float(w), 2) for w in np.arange(0.5, 2.51, 0.05)), key=gap)


def write_csv(path: Path, rows: list[dict]) -> None:
    atomic_write_csv(path, list(rows[0]), [list(row.values()) for row in rows])


def first_temporal_stage(arch: Arch) -> int | str:
    """Index of the first stage whose kernel mixes frames (kt > 1); "none" when no stage does."""
    return next((i for i, stage in enumerate(arch.stages) if stage.kernel[0] > 1), "none")


def study_sample(
    label: str, archs: list[Arch], data: Path, args: argparse.Namespace
) -> tuple[dict[str, dict], list[dict]]:
    """Train each architecture of one sample with every seed; correlate each scorer with mean accuracy.

    Returns the correlation table and the per-architecture rows (trainings.csv).
    """
    out = RESULTS / label
    rows = []
    for i, arch in enumerate(archs):
        path = save_arch(out / "archs" / f"{i:02d}.yaml", arch, name=f"validity-{label}-{i:02d}")
        accuracy = [
            train_run(WORK / "runs" / label / f"{i:02d}-seed{seed}", data, args.epochs, seed, f"arch={path}")
            for seed in range(args.seeds)
        ]
        accuracy = [result["final_val_top1"] for result in accuracy]
        c = cost.cost(arch)
        row = {"arch": f"{i:02d}", "flops": c.flops, "params": c.params, "layers": c.layers}
        row["first_temporal_stage"] = first_temporal_stage(arch)
        row |= {f"score_{name}": scores.score_arch(arch, name) for name in SCORERS}
        row |= {f"val_top1_seed{s}": a for s, a in enumerate(accuracy)}
        row |= {"val_top1_mean": statistics.mean(accuracy), "val_top1_range": max(accuracy) - min(accuracy)}
        rows.append(row)
    write_csv(out / "trainings.csv", rows)
    accuracy = np.array([r["val_top1_mean"] for r in rows])
    spread = np.array([r["val_top1_range"] / 2 for r in rows])
    by_scorer = {name: np.array([r[f"score_{name}"] for r in rows]) for name in SCORERS}
    table = {name: correlation(x, accuracy, args.resamples, seed=0) for name, x in by_scorer.items()}
    write_csv(out / "correlations.csv", [{"scorer": n} | v for n, v in table.items()])
    scatter(by_scorer, accuracy, spread, table, out / "scatter.png")
    return table, rows


def markdown_table(rows: list[dict], columns: dict[str, str]) -> str:
    """``columns``: row key (also the header) → format spec for float cells."""

    def cell(value: object, spec: str) -> str:
        return format(value, spec) if isinstance(value, float) else str(value)

    cells = [[cell(row[key], spec) for key, spec in columns.items()] for row in rows]
    return tables.markdown_table(list(columns), cells)


#: What each architecture sample is, for results.md.
SAMPLES = {
    "range": "the children nearest to {archs} evenly spaced STEntr values from the lowest to the highest "
    "visited: the whole range the search passes through",
    "near_budget": "one child from each of {archs} equal-count STEntr strata: since the search spends most "
    "of its time near the budget, this is where it makes its choices",
}


def correlation_rows(table: dict[str, dict]) -> list[dict]:
    rows = []
    for name, row in table.items():
        tau = f"{row['kendall']:+.2f} [{row['kendall_low']:+.2f}, {row['kendall_high']:+.2f}]"
        rho = f"{row['spearman']:+.2f} [{row['spearman_low']:+.2f}, {row['spearman_high']:+.2f}]"
        rows.append({"scorer": name, "τ [95% CI]": tau, "ρ [95% CI]": rho})
    return rows


def write_results(meta: dict, calibration: list[dict], tables: dict, comparison: list[dict]) -> Path:
    """results.md: generated tables and plots, the commands, then the hand-written reading (reading.md)."""
    for row in comparison:
        row["val top-1 (%)"] = f"{100 * row['val_top1_mean']:.1f} ± {100 * row['val_top1_std']:.1f}"
    budget = meta["budget"]
    text = [
        "# Does the score predict accuracy?",
        "",
        f"Device: {meta['device']}. Budget `demo` ({budget['frames']}×{budget['resolution']}², "
        f"{budget['flops'] / 1e9:g} GFLOPs, {budget['layers']} layers). "
        f"Recipe: `+experiment=demo` (AdamW, {meta['epochs']} epochs); metric: last-epoch val top-1.",
        "",
        "    make validity        # = python experiments/validity/run.py (resumable; ~90 min on 2 cores)",
        "",
        "## Calibration of the demo task",
        "",
        "Camera-motion classes at several pan speeds, the searched network, one seed; the study uses the "
        f"speed whose accuracy is closest to {meta['target']:.0%} (neither chance, 20 %, nor saturated): "
        f"**{meta['step_px']:g} px/frame**.",
        "",
        markdown_table(calibration, {"step_px": "g", "final_val_top1": ".3f"}),
        "",
        f"## Rank correlation: {meta['archs']} architectures × {meta['seeds']} seeds, two samples",
        "",
        f"Both samples come from the {meta['visited']:,} distinct admitted children of a 100k-candidate "
        "search at the demo budget. Accuracy: mean over seeds (bars in the plots: min–max). "
        "Intervals: 95 % percentile bootstrap over architectures.",
    ]
    for label, (table, rows) in tables.items():
        text += [
            "",
            f"### `{label}`: {SAMPLES[label].format(archs=meta['archs'])}",
            "",
            markdown_table(correlation_rows(table), {"scorer": "", "τ [95% CI]": "", "ρ [95% CI]": ""}),
            "",
            f"![score vs accuracy, {label}](results/{label}/scatter.png)",
            "",
            "By the first stage whose kernel mixes frames (stage indices from 0; the stem never does here):",
            "",
            markdown_table(
                by_first_temporal_stage(rows),
                {
                    "first stage with kt > 1": "",
                    "archs": "",
                    "mean val top-1 (%)": ".1f",
                    "STEntr range": "",
                    "τ(STEntr, top-1) within": "+.2f",
                },
            ),
            "",
            f"Per architecture: [trainings.csv](results/{label}/trainings.csv), "
            f"architecture files in results/{label}/archs/.",
        ]
    reading = Path(__file__).resolve().parent / "reading.md"
    text += [
        "",
        "## E3D vs hand design at the same FLOPs",
        "",
        markdown_table(comparison, {"model": "", "conv_gflops": ".4f", "params": "", "val top-1 (%)": ""}),
        "",
        "X3D: pytorchvideo `create_x3d` at XS depth, width factor chosen so its conv FLOPs at the demo input "
        "match the searched E3D's; same recipe, same seeds.",
        "",
        reading.read_text() if reading.exists() else "",
    ]
    return atomic_write_text(Path(__file__).resolve().parent / "results.md", "\n".join(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--compare-seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--target", type=float, default=0.65, help="calibration: wanted val top-1")
    parser.add_argument("--resamples", type=int, default=5000)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    budget = Budget.from_config(read_conf("budget", "demo"))
    best = searched_network(budget)

    step, calibration = calibrate(best, args.steps, args.target, args.epochs)
    write_csv(RESULTS / "calibration.csv", calibration)
    data = build_demo(WORK / f"data-step{step:g}", step=step)
    log(f"study data: camera motion at {step:g} px/frame ({data})")

    space = budget.space(read_conf("space", "e3d"))
    visited = visited_architectures(space, budget, iterations=100_000, seed=0)
    strentr = scores.spatio_temporal_entropy(visited)
    samples = {
        "range": spanning(visited, strentr, args.archs),
        "near_budget": stratified(visited, strentr, args.archs, seed=0),
    }
    tables = {label: study_sample(label, archs, data, args) for label, archs in samples.items()}

    comparison = []
    x3d_width = x3d_matching(cost.cost(load_arch(best)).flops, budget.frames, budget.resolution)
    contenders = {
        "E3D (searched)": ("e3d", [f"arch={best}"], {"arch": load_arch(best)}),
        f"X3D (width {x3d_width:g})": (
            f"x3d-w{x3d_width:g}",
            ["model=x3d_xs", f"model.width_factor={x3d_width}"],
            {"width_factor": x3d_width},
        ),
    }
    for label, (slug, model_args, build_args) in contenders.items():
        name = "e3d" if slug == "e3d" else "x3d_xs"
        model = build_model(
            name, num_classes=5, frames=budget.frames, resolution=budget.resolution, **build_args
        )
        flops, params = conv_flops_and_params(model, budget.frames, budget.resolution)
        top1 = [
            train_run(WORK / "compare" / f"{slug}-seed{s}", data, args.epochs, s, *model_args)[
                "final_val_top1"
            ]
            for s in range(args.compare_seeds)
        ]
        comparison.append(
            {
                "model": label,
                "conv_gflops": flops / 1e9,
                "params": params,
                "val_top1_mean": statistics.mean(top1),
                "val_top1_std": statistics.stdev(top1),
                **{f"seed{s}": t for s, t in enumerate(top1)},
            }
        )
    write_csv(RESULTS / "comparison.csv", comparison)
    meta = {
        "step_px": step,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "archs": args.archs,
        "target": args.target,
        "visited": len(visited),
        "budget": budget.as_dict(),
        "device": "CPU (2 cores)",
    }
    atomic_write_text(RESULTS / "study.json", json.dumps(meta, indent=2))
    write_results(meta, calibration, tables, comparison)
    log(f"done: {RESULTS}")


if __name__ == "__main__":
    main()
