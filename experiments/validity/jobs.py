"""The study's jobs: each a command of the project (train, search, a proxy) and what it adds to a ledger.

Trainings run locally one process each, or, with ``launcher="slurm"``, as one Hydra multirun per seed
through the project's Slurm launcher (``hydra/launcher=slurm``), whose job folders are read back when the
sweep has finished.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from experiments.validity.ledger import Job, Ledger
from experiments.validity.tasks import Task

ROOT = Path(__file__).resolve().parents[2]

#: The study's one training recipe besides the task's data and epochs: the demo's (AdamW, clipping 1.0) at
#: 8×56² with the demo budget's scale jitter, validated after every epoch (the learning curve is the rung
#: fidelity's data; validation changes no weight, so the last epoch's accuracy is as when validated once).
RECIPE = (
    "+experiment=demo",
    "dataset=folder",
    "dataset.frames=8",
    "dataset.resolution=56",
    "dataset.train_scale=[56,64]",
    "dataset.test_scale=64",
    "dataset.batch_size=16",
    "dataset.num_workers=0",
    "logger=csv",
    "callbacks.progress_bar=none",
    "train.test=false",
    "print_config=false",
)


@dataclass(frozen=True)
class Settings:
    """What every job of one study invocation shares."""

    work: Path  # runs and data (not committed)
    device: str  # cpu | cuda
    commit: str  # the project's commit, recorded in every ledger row
    epochs: int | None = None  # None: each task's own
    launcher: str = "local"  # local | slurm
    slots: int = 1  # jobs at once
    threads: int = 1  # torch threads per job


def training_overrides(task: Task, data: Path, settings: Settings) -> list[str]:
    """The recipe's command-line overrides for ``task``, its prepared data at ``data``."""
    epochs = settings.epochs or task.epochs
    device = ["trainer=gpu"] if settings.device == "cuda" else []
    return [
        *RECIPE,
        *device,
        f"dataset.root={data}",
        f"dataset.flip={task.flip}",
        f"trainer.max_epochs={epochs}",
        *task.overrides,
    ]


def last_val_top1(run_dir: Path) -> float:
    """The run's last validation top-1 (results.json's ``final_val_top1``)."""
    final = json.loads((run_dir / "results.json").read_text())["final_val_top1"]
    if final is None:
        raise SystemExit(f"{run_dir}: results.json has no final_val_top1 (the run never validated)")
    return final


def val_curve(run_dir: Path) -> str:
    """The run's validation top-1 after each epoch (its CSV log), space-separated in epoch order."""
    with (run_dir / "csv" / "metrics.csv").open(newline="") as f:
        by_epoch = {int(r["epoch"]): float(r["val/top1"]) for r in csv.DictReader(f) if r.get("val/top1")}
    return " ".join(f"{by_epoch[epoch]:.4f}" for epoch in sorted(by_epoch))


def training_row(label: str, seed: int, run_dir: Path, seconds: float, settings: Settings) -> dict:
    row = {"arch": label, "seed": seed, "val_top1": last_val_top1(run_dir), "seconds": round(seconds, 1)}
    return row | {"device": settings.device, "commit": settings.commit, "val_curve": val_curve(run_dir)}


def training_job(
    task: Task,
    data: Path,
    label: str,
    seed: int,
    model: list[str],
    ledger: Ledger,
    settings: Settings,
    run_name: str | None = None,
) -> Job:
    """One training of ``label`` (a study architecture or contender) with ``seed``; a killed one continues
    from its last checkpoint when run again (same run dir, ``<run_name or label>-seed<seed>``)."""
    run_dir = settings.work / task.name / "runs" / f"{run_name or label}-seed{seed}"
    command = [sys.executable, "-m", "e3dnas.train", *model, *training_overrides(task, data, settings)]
    command += [f"seed={seed}", f"hydra.run.dir={run_dir}"]

    def collect(seconds: float) -> None:
        ledger.add(training_row(label, seed, run_dir, seconds, settings))

    return Job(f"{task.name} train {label} seed {seed}", command, collect, ROOT)


def sweep_job(
    task: Task, data: Path, seed: int, archs: dict[str, Path], ledger: Ledger, settings: Settings
) -> Job:
    """The trainings of ``archs`` with ``seed`` as one Slurm sweep (one array task per architecture)."""
    sweep = settings.work / task.name / "sweeps" / f"seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    command = [sys.executable, "-m", "e3dnas.train", "-m", "hydra/launcher=slurm"]
    command += [*training_overrides(task, data, settings), f"seed={seed}", f"hydra.sweep.dir={sweep}"]
    command += ["arch=" + ",".join(str(path) for path in archs.values())]
    label_of = {str(path): label for label, path in archs.items()}

    def collect(seconds: float) -> None:
        for overrides in sorted(sweep.glob("*/.hydra/overrides.yaml")):
            run_dir = overrides.parent.parent
            given = dict(o.split("=", 1) for o in OmegaConf.load(overrides))
            arch = given.get("arch_file", given.get("arch"))  # the train command records a path as arch_file
            if (run_dir / "results.json").exists():
                ledger.add(training_row(label_of[arch], seed, run_dir, seconds / len(archs), settings))

    label = f"{task.name} Slurm sweep of {len(archs)} archs, seed {seed}"
    return Job(label, command, collect, ROOT, partial=True)


def proxy_job(
    task: Task, videos: Path, name: str, archs: dict[str, Path], ledger: Ledger, settings: Settings
) -> Job:
    """One proxy on ``archs``, the data-dependent ones on a batch of the task's training videos."""
    out = settings.work / task.name / f"proxy-{name}.json"
    command = [sys.executable, "-m", "experiments.validity.proxy_scores", name, *map(str, archs.values())]
    command += ["--out", str(out), "--data-root", str(videos / "train"), "--device", settings.device]

    def collect(seconds: float) -> None:
        for arch, value in json.loads(out.read_text()).items():
            row = {"arch": arch, "scorer": name, "score": value["score"], "seconds": value["seconds"]}
            ledger.add(row | {"device": settings.device, "commit": settings.commit})

    return Job(f"{task.name} {name} on {len(archs)} archs", command, collect, ROOT)


def search_job(scorer: str, run_dir: Path, extra: list[str]) -> Job:
    """A search at the demo budget by ``scorer``; its winner is ``run_dir/best.yaml``."""
    command = [sys.executable, "-m", "e3dnas.search", "+budget=demo", f"scorer={scorer}", *extra]
    command += ["wandb.enabled=false", "progress=false", "print_config=false", f"hydra.run.dir={run_dir}"]
    return Job(f"search by {scorer}", command, lambda seconds: None, ROOT)
