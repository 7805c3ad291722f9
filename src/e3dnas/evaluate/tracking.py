"""An evaluation's wandb run (``job_type=eval``) in the group of the training that wrote the checkpoint."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from e3dnas.tracking import recorded_run, wandb_init_kwargs


def training_run(ckpt: str) -> dict[str, Any]:
    """``wandb_run.json`` of the training run dir that holds ``ckpt`` (``<run>/checkpoints/<file>``)."""
    return recorded_run(Path(ckpt).resolve().parent.parent)


def log_evaluation(
    cfg: DictConfig,
    run_dir: Path,
    results: Mapping[str, Any],
    *,
    labels: torch.Tensor,
    predicted: torch.Tensor,
    class_names: list[str],
    confusion_png: Path,
    per_class_csv: Path,
) -> str | None:
    """Log metrics, the confusion matrix (wandb's interactive one and the PNG) and the per-class table to
    a ``job_type=eval`` run; returns its id (None with ``logger`` other than wandb, or off rank zero).

    The group is ``logger.wandb.group``, else the training run's (``wandb_run.json`` beside the
    checkpoints), else the Hydra run dir's name.
    """
    wandb_cfg = (cfg.get("logger") or {}).get("wandb")
    if wandb_cfg is None or rank_zero_only.rank != 0:
        return None
    import wandb

    trained = training_run(cfg.ckpt)
    options = (
        OmegaConf.to_container(wandb_cfg, resolve=True) if isinstance(wandb_cfg, DictConfig) else wandb_cfg
    )
    # eval-<arch>-<dataset>: the training's name (or the checkpoint's) and the evaluated dataset
    source = (trained.get("name") or "").removeprefix("train-") or Path(cfg.ckpt).stem
    dataset = results["dataset"]
    name = f"eval-{source}" + ("" if source.endswith(f"-{dataset}") else f"-{dataset}")
    kwargs = wandb_init_kwargs(
        options or {},
        job_type="eval",
        run_dir=run_dir,
        name=name,
        config=OmegaConf.to_container(cfg, resolve=True) | {"train_run": trained or None},
        group=trained.get("group"),
    )
    run = wandb.init(**kwargs, reinit="finish_previous")
    try:
        scalars = {
            f"eval/{key}": value
            for key, value in results.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        keep = labels >= 0  # unlabelled videos count in no confusion matrix
        with per_class_csv.open(newline="") as handle:
            rows = list(csv.reader(handle))
        run.log(
            {
                **scalars,
                "eval/confusion_matrix": wandb.plot.confusion_matrix(
                    y_true=labels[keep].tolist(),
                    preds=predicted[keep].tolist(),
                    class_names=class_names,
                    title=f"{results['dataset']} ({results['views']} view)",
                ),
                "eval/confusion": wandb.Image(str(confusion_png)),
                "eval/per_class": wandb.Table(columns=rows[0], data=rows[1:]),
            }
        )
        run.summary.update(scalars)
        return run.id
    finally:
        run.finish()
