"""Evaluate a checkpoint: multi-view test protocol (or the trainer's single validation view)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from e3dnas.arch import arch_from_dict
from e3dnas.data.config import DatasetConfig
from e3dnas.data.datamodule import VideoDataModule
from e3dnas.data.layouts import layout_class
from e3dnas.data.layouts.folder import FolderLayout
from e3dnas.evaluate.collect import PredictionCollector
from e3dnas.evaluate.reports import plot_confusion, write_per_class_csv, write_predictions_csv
from e3dnas.evaluate.settings import EvalJob, eval_settings
from e3dnas.evaluate.tracking import log_evaluation
from e3dnas.records import EvalMetrics, write_record
from e3dnas.schema import ConfigValueError, config_errors, read_node
from e3dnas.train.checkpoint import load_checkpoint
from e3dnas.train.module import ClipClassifier
from e3dnas.train.noise import silence_known_noise
from e3dnas.train.run import build_datamodule

log = logging.getLogger("e3dnas.evaluate")


def dataset_config(cfg: DictConfig, module: ClipClassifier, overrides: list[str]) -> DictConfig:
    """The data config the checkpoint was trained on, with the command line's ``dataset.*`` fields on top;
    ``dataset=NAME`` on the command line (or a checkpoint that recorded none) takes the config's instead."""
    recorded = module.hparams.get("dataset")
    keys = [o.lstrip("+~").split("=", 1)[0] for o in overrides]
    if recorded is None or "dataset" in keys:
        return cfg.dataset
    fields = [
        o.lstrip("+")[len("dataset.") :]
        for o, key in zip(overrides, keys, strict=True)
        if key.startswith("dataset.")
    ]
    return OmegaConf.merge(OmegaConf.create(recorded), OmegaConf.from_dotlist(fields))


def checkpoint_folder(data: DictConfig, module: ClipClassifier, overrides: list[str]) -> DictConfig:
    """A folder-layout dataset read against a checkpoint: its classes are the checkpoint's (a class folder
    outside them is refused, a subset is fine), and a folder other than the one it was trained on is evaluated
    whole (only its ``val/`` when it has split folders); the folder trained on keeps its drawn val side."""
    if OmegaConf.is_missing(data, "root") or not issubclass(layout_class(str(data.layout)), FolderLayout):
        return data
    pinned: dict[str, Any] = {}
    if module.hparams.get("class_names"):
        pinned["classes"] = list(module.hparams.class_names)
    trained_root = (module.hparams.get("dataset") or {}).get("root")
    other_folder = trained_root is None or Path(trained_root).resolve() != Path(data.root).resolve()
    if other_folder and not any(o.lstrip("+").startswith("dataset.val_fraction=") for o in overrides):
        pinned["val_fraction"] = 1.0
    return OmegaConf.merge(data, pinned)


def check_input_size(module: ClipClassifier, frames: int, resolution: int) -> None:
    arch = module.hparams.get("arch")
    if arch is not None:
        problem = arch_from_dict(dict(arch)).arch.with_input(frames, resolution).skeleton.input_problem()
        if problem:
            raise ConfigValueError(f"dataset: {problem}")
    trained = (module.hparams.frames, module.hparams.resolution)
    if trained != (frames, resolution):
        log.warning("checkpoint trained on %d×%d² clips, evaluated on %d×%d²", *trained, frames, resolution)


def split_read(datamodule: VideoDataModule, multiview: bool) -> str:
    """The videos an evaluation read: ``all`` of a folder evaluated whole (another folder than the one
    trained on, without split folders), else the split of the stage (the test protocol's split, or val)."""
    layout = datamodule.layout
    if isinstance(layout, FolderLayout) and not layout.has_split_folders and layout.val_fraction >= 1:
        return "all"
    return datamodule.test_split if multiview else "val"


def summary_line(results: dict[str, Any]) -> str:
    """What the command prints: which videos were read, the accuracies and the chance level beside them."""
    top = ", ".join(f"{key} {value:.4f}" for key, value in results.items() if key.startswith("top"))
    return (
        f"{results['videos']} videos ({results['split']} of {results['root']}), {results['views']} view: "
        f"{top}; chance {results['chance_top1']:.4f} ({results['classes']} classes)"
    )


def evaluate(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`run_evaluation` of a composed config; ``overrides`` are the command line's (they say which
    data fields were set). The Python form of ``python -m e3dnas.evaluate``."""
    return run_evaluation(eval_settings(cfg, overrides), run_dir)


def run_evaluation(job: EvalJob, run_dir: Path) -> dict[str, Any]:
    """Evaluate the job's checkpoint into ``run_dir``."""
    silence_known_noise()
    settings, cfg, overrides = job.settings, job.cfg, list(job.overrides)
    module = load_checkpoint(settings.ckpt)
    data_cfg = checkpoint_folder(dataset_config(cfg, module, overrides), module, overrides)
    datamodule = build_datamodule(read_node(DatasetConfig, data_cfg, "dataset"))
    data = datamodule.config
    check_input_size(module, data.frames, data.resolution)
    trained_for = module.hparams.num_classes
    if datamodule.num_classes != trained_for:
        raise ConfigValueError(
            f"ckpt {settings.ckpt} was trained for {trained_for} classes, but dataset {data.name} "
            f"at {data.root} has {datamodule.num_classes}"
        )
    stage = "test" if settings.views == "multi" else "validate"
    datamodule.setup(stage)  # a bad split (an unknown class folder) stops here, before the trainer prints
    collector = PredictionCollector(trained_for)
    with config_errors("trainer"):
        trainer = instantiate(
            cfg.trainer,
            logger=False,
            enable_checkpointing=False,  # nothing to save (Lightning's default checkpoint also advertises)
            default_root_dir=run_dir,
            callbacks=[collector],
        )
    run = trainer.test if settings.views == "multi" else trainer.validate
    # Lightning's own table would call the videos "test" or "val" whatever was read: summary_line says
    (metrics,) = run(module, datamodule=datamodule, verbose=False)
    probs, labels, indices = collector.predictions()
    names = list(module.hparams.class_names or datamodule.class_names)
    records = datamodule.datasets["test" if settings.views == "multi" else "val"].records
    write_predictions_csv(probs, labels, indices, records, names, run_dir / "predictions.csv")
    write_per_class_csv(collector.confusion.compute(), names, run_dir / "per_class.csv")
    title = f"{Path(settings.ckpt).name} on {data.name} ({settings.views} view)"
    plot_confusion(collector.confusion, names, title, run_dir / "confusion.png")
    results = {
        "ckpt": settings.ckpt,
        "dataset": data.name,
        "root": str(data.root),
        "frames": data.frames,
        "resolution": data.resolution,
        "trained_frames": module.hparams.frames,
        "trained_resolution": module.hparams.resolution,
        "views": settings.views,
        "split": split_read(datamodule, multiview=settings.views == "multi"),
        "classes": trained_for,
        "chance_top1": 1 / trained_for,
        "protocol": data.test_protocol(multiview=settings.views == "multi"),
        "videos": len(labels),
        **{key.split("/")[-1]: float(value) for key, value in metrics.items() if "top" in key},
        "skipped_samples": datamodule.skipped,
    }
    write_record(run_dir / "metrics.json", EvalMetrics.from_dict(results))
    log_evaluation(
        cfg,
        run_dir,
        results,
        labels=labels,
        predicted=probs.argmax(-1),
        class_names=names,
        confusion_png=run_dir / "confusion.png",
        per_class_csv=run_dir / "per_class.csv",
    )
    return results
