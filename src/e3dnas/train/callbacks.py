"""Lightning callbacks and loggers of a training run, built from conf/callbacks and conf/logger."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import lightning as L
from fvcore.nn.precise_bn import update_bn_stats
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import (
    Callback,
    EarlyStopping,
    EMAWeightAveraging,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
    TQDMProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from e3dnas.tracking import arch_lineage, wandb_init_kwargs
from e3dnas.train.tracking import TrackedWandbLogger


class PreciseBN(Callback):
    """Recompute BatchNorm statistics on ``batches`` training batches before each validation.

    Running averages lag behind the weights; averaging true per-batch statistics with the weights frozen
    (fvcore's ``update_bn_stats``, the PySlowFast recipe) gives validation numbers that match the weights.
    """

    def __init__(self, batches: int = 200):
        self.batches = batches

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return

        def clips() -> Iterator:
            for batch in trainer.train_dataloader:
                batch = pl_module.transfer_batch_to_device(batch, pl_module.device, 0)
                yield trainer.datamodule.on_after_batch_transfer(batch, 0)["clip"]

        was_training = pl_module.training
        pl_module.train()
        update_bn_stats(pl_module, clips(), self.batches)
        pl_module.train(was_training)


def build_callbacks(cfg: Mapping[str, Any], checkpoint_dir: Path, logging: bool = True) -> list[Callback]:
    """The callbacks of conf/callbacks; the learning-rate monitor only where a logger can receive it."""
    ckpt = dict(cfg["checkpoint"])
    callbacks: list[Callback] = [
        ModelCheckpoint(
            dirpath=checkpoint_dir,
            # No "=" in file names: a path like best-epoch=3.ckpt cannot be passed as a Hydra override.
            filename="best-epoch{epoch:03d}",
            auto_insert_metric_name=False,
            monitor=ckpt["monitor"],
            mode=ckpt["mode"],
            save_last=ckpt.get("save_last", True),
            save_top_k=ckpt.get("save_top_k", 1),
            every_n_train_steps=ckpt.get("every_n_train_steps"),
        )
    ]
    if logging and cfg.get("lr_monitor", True):
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    bars = {"rich": RichProgressBar, "tqdm": TQDMProgressBar}
    if cfg.get("progress_bar", "tqdm") in bars:
        callbacks.append(bars[cfg["progress_bar"]]())
    if cfg.get("early_stopping"):
        callbacks.append(EarlyStopping(**cfg["early_stopping"]))
    if cfg.get("ema"):
        callbacks.append(EMAWeightAveraging(**cfg["ema"]))
    if cfg.get("precise_bn"):
        callbacks.append(PreciseBN(**cfg["precise_bn"]))
    return callbacks


def build_loggers(
    cfg: Mapping[str, Any],
    run_dir: Path,
    name: str,
    config: Mapping[str, Any],
    arch_meta: Mapping[str, Any] | None = None,
) -> list[Logger]:
    """One logger per key of conf/logger/<name>.yaml (wandb, csv, tensorboard).

    wandb (:class:`TrackedWandbLogger`) joins the group of the search that wrote ``config["arch_file"]``
    (its ``arch_meta.source.wandb``) unless ``wandb.group`` is set, declares its artifact as input, and
    resumes the run named in ``<run_dir>/wandb_run.json`` when a restart finds one.
    """
    loggers: list[Logger] = []
    for kind, options in cfg.items():
        if kind == "wandb":
            options = dict(options or {})
            arch_file = config.get("arch_file")
            lineage = arch_lineage(arch_meta) if arch_file else {}
            kwargs = wandb_init_kwargs(
                options,
                job_type="train",
                run_dir=run_dir,
                name=name,
                config={**config, "lineage": lineage or None},
                group=lineage.get("group"),
                record=rank_zero_only.rank == 0,
            )
            kwargs["save_dir"] = kwargs.pop("dir")
            loggers.append(
                TrackedWandbLogger(
                    arch_file=arch_file,
                    lineage=lineage,
                    arch_cost=config.get("arch_summary"),
                    log_checkpoint=bool(options.get("log_checkpoint", False)),
                    **kwargs,
                )
            )
        elif kind == "csv":
            loggers.append(CSVLogger(run_dir, name="csv", version=""))
        elif kind == "tensorboard":
            loggers.append(TensorBoardLogger(run_dir, name="tensorboard", version=""))
        else:
            raise ValueError(f"logger: unknown logger {kind!r} (known: wandb, csv, tensorboard)")
    return loggers
