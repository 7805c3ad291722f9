"""One training run: resolve the architecture, build data + module + trainer, fit, test, write results."""

from __future__ import annotations

import logging
import shutil
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig

from e3dnas import cost
from e3dnas.arch import ArchDocument, arch_to_dict, save_arch
from e3dnas.data import VideoDataModule
from e3dnas.data.config import DatasetConfig
from e3dnas.data.splits import describe_split, write_split
from e3dnas.records import TrainResults, write_record
from e3dnas.schema import ConfigValueError, config_errors
from e3dnas.train.callbacks import build_callbacks, build_loggers
from e3dnas.train.finetune import init_from
from e3dnas.train.job import TrainJob, read_train
from e3dnas.train.module import ClipClassifier
from e3dnas.train.noise import silence_known_noise
from e3dnas.train.restart import restart, resume_point
from e3dnas.train.resume import RecordLastValidation, RecordSignature, check_resume, settings_signature
from e3dnas.train.tracking import finish_tracking

log = logging.getLogger("e3dnas.train")


class TrainingInterrupted(Exception):
    """Ctrl-C stopped the fit; the message says where the last checkpoint is and how to continue."""

    def __init__(self, trainer: L.Trainer, checkpoint_dir: Path):
        last = checkpoint_dir / "last.ckpt"
        saved = (
            f"last checkpoint {last}" if last.exists() else "no checkpoint yet (none before an epoch ends)"
        )
        super().__init__(f"interrupted at epoch {trainer.current_epoch}, step {trainer.global_step}; {saved}")
        self.run_dir = checkpoint_dir.parent


def check_input_size(doc: ArchDocument, frames: int, resolution: int, unset: tuple[str, ...]) -> None:
    """Refuse a degenerate input; say which size the network trains at when the dataset config leaves it
    to the architecture (``unset``), and, with the FLOPs at both sizes, when it sets another."""
    problem = doc.arch.with_input(frames, resolution).skeleton.input_problem()
    if problem:
        raise ConfigValueError(f"dataset: {problem}")
    name, searched = doc.name or "?", (doc.arch.frames, doc.arch.resolution)
    if unset:
        log.info(
            "input %d×%d²: architecture %s's own (dataset.%s not set)",
            frames,
            resolution,
            name,
            "/".join(unset),
        )
    if (frames, resolution) != searched:
        here, there = (
            cost.cost(doc.arch.with_input(*size)).flops / 1e9 for size in ((frames, resolution), searched)
        )
        log.warning(
            "architecture %s was searched for %d×%d² clips (%.3g GFLOPs), trains at %d×%d² here as the "
            "dataset config says (%.3g GFLOPs)",
            name,
            *searched,
            there,
            frames,
            resolution,
            here,
        )


def read_split(datamodule: VideoDataModule, run_dir: Path) -> None:
    """List the train and val videos before any logger opens or file is written (bad data stops the run
    with the run dir as Hydra made it), say how many there are, and write them to ``split.csv``."""
    datamodule.setup("fit")
    rows = datamodule.split_rows()
    path = run_dir / "split.csv"
    log.info("split: %s (one row per video in %s)", describe_split(rows), path)
    if rank_zero_only.rank == 0:
        write_split(path, rows)


def discard_unstarted(run_dir: Path) -> None:
    """Remove what Hydra wrote as the run started (``.hydra/``, the job's log) when that is all the run dir
    holds, and the dir once empty: a run refused before it wrote anything of its own leaves nothing to
    mistake for a run."""
    entries = list(run_dir.iterdir()) if run_dir.is_dir() else []
    if not entries or not all(p.name == ".hydra" or p.suffix == ".log" for p in entries):
        return
    for entry in entries:
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    with suppress(OSError):
        run_dir.rmdir()


def build_datamodule(settings: DatasetConfig) -> VideoDataModule:
    """The data module of checked dataset settings (a layout's own refusal is one line too)."""
    with config_errors("dataset"):
        return VideoDataModule(settings)


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """:func:`run_training` of a composed config (the Python form of ``python -m e3dnas.train``)."""
    return run_training(read_train(cfg), run_dir)


def run_training(job: TrainJob, run_dir: Path) -> dict[str, Any]:
    """Fit (from ``train.init_from``'s weights, resuming if asked), test the best checkpoint, and write
    ``results.json`` into ``run_dir``."""
    silence_known_noise()
    settings, doc = job.settings, job.arch
    resume_from = check_resume(job, run_dir)  # before anything of the run is written
    datamodule = build_datamodule(job.data)
    data = datamodule.config
    L.seed_everything(settings.seed, workers=True)
    if doc is not None:
        check_input_size(doc, data.frames, data.resolution, job.unset_size)
    with config_errors("model"):
        module = ClipClassifier(
            model=job.model,
            num_classes=datamodule.num_classes,
            frames=data.frames,
            resolution=data.resolution,
            optim=job.optim,
            scheduler=job.scheduler,
            decay_norm_and_bias=settings.train.decay_norm_and_bias,
            label_smoothing=settings.loss.label_smoothing,
            arch=arch_to_dict(doc.arch) if doc else None,
            class_names=list(datamodule.class_names),
            dataset=asdict(data),
        )
    if settings.train.init_from:
        init_from(module, settings.train.init_from)
    read_split(datamodule, run_dir)
    arch_summary: dict[str, Any] = {}
    if doc is not None:
        save_arch(run_dir / "arch.yaml", doc.arch, doc.name, doc.meta)
        c = cost.cost(doc.arch.with_input(data.frames, data.resolution))
        arch_summary = {
            "arch": doc.name,
            "flops": c.flops,
            "authors_flops": c.authors_flops,
            "params_backbone": c.params,
            "layers": c.layers,
        }
        source = doc.meta.get("source")
        arch_summary["budget"] = source.get("budget", {}).get("name") if isinstance(source, dict) else None
        arch_summary["score"] = (doc.meta.get("scores") or {}).get("stentr")
    checkpoint_dir = run_dir / "checkpoints"
    with config_errors("logger"):
        loggers = build_loggers(
            job.logger,
            run_dir,
            job.name,
            job.config
            | {
                "arch_summary": arch_summary,
                "arch_document": arch_to_dict(doc.arch, doc.name) if doc else None,
            },
            arch_meta=doc.meta if doc else None,
        )
    if resume_from is not None:
        print(restart(resume_point(resume_from), loggers))
    with config_errors("callbacks"):
        callbacks = build_callbacks(job.callbacks, checkpoint_dir, logging=bool(loggers))
    last_validation = RecordLastValidation()
    callbacks += [RecordSignature(settings_signature(job)), last_validation]
    with config_errors("trainer"):
        trainer = instantiate(
            job.trainer,
            default_root_dir=run_dir,
            logger=loggers,
            callbacks=callbacks,
            enable_progress_bar=any(isinstance(c, ProgressBar) for c in callbacks),
        )
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into a graceful stop and exit(1)
            raise TrainingInterrupted(trainer, checkpoint_dir) from None
        raise
    checkpoint = trainer.checkpoint_callback
    results: dict[str, Any] = {
        "model": job.model["name"],
        "dataset": data.name,
        **arch_summary,
        "best_checkpoint": checkpoint.best_model_path,
        "last_checkpoint": checkpoint.last_model_path,
        "val_top1": float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None,
        "final_val_top1": last_validation.metrics.get("val/top1"),
        "frames": data.frames,
        "resolution": data.resolution,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "init_from": settings.train.init_from,
        "lr_scaling": module.rate.as_dict() if module.rate else None,
        "params_total": sum(p.numel() for p in module.model.parameters()),
    }
    if settings.train.test and checkpoint.best_model_path:
        split = datamodule.test_split
        if split != "test":
            log.info("testing on the %s split: layout %s has no labelled test split", split, data.layout)
        best = checkpoint.best_model_path
        (metrics,) = trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)
        results |= {key.replace("/", "_"): value for key, value in metrics.items()} | {"test_split": split}
        shown = ", ".join(f"{key.split('/')[-1]} {value:.4f}" for key, value in metrics.items())
        log.info("test protocol on the %s split, best checkpoint %s: %s", split, Path(best).name, shown)
    # Read after the test pass: the samples it skipped count too.
    results["skipped_samples"] = datamodule.skipped
    if trainer.is_global_zero:
        write_record(run_dir / "results.json", TrainResults.from_dict(results))
    finish_tracking(trainer.loggers, results)
    return results
