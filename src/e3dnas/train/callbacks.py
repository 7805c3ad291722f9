"""Lightning callbacks and loggers of a training run: conf/callbacks and conf/logger instantiated, plus what
only the run knows (its directory, its wandb lineage)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from e3dnas.schema import ConfigValueError, import_target
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
        from fvcore.nn.precise_bn import update_bn_stats

        def clips() -> Iterator:
            for batch in trainer.train_dataloader:
                batch = pl_module.transfer_batch_to_device(batch, pl_module.device, 0)
                yield trainer.datamodule.on_after_batch_transfer(batch, 0)["clip"]

        was_training = pl_module.training
        pl_module.train()
        update_bn_stats(pl_module, clips(), self.batches)
        pl_module.train(was_training)


#: The classes of the callbacks that are off by default, so that ``callbacks.ema={decay: 0.999}`` needs no
#: ``_target_``.
IMPLIED_TARGETS = {
    "early_stopping": "lightning.pytorch.callbacks.EarlyStopping",
    "ema": "lightning.pytorch.callbacks.EMAWeightAveraging",
    "precise_bn": f"{__name__}.PreciseBN",
}


def build_callbacks(cfg: DictConfig, checkpoint_dir: Path, logging: bool = True) -> list[Callback]:
    """The callbacks of conf/callbacks (null or ``none`` entries off); checkpoints go to ``checkpoint_dir``,
    and the learning-rate monitor is left out where no logger could receive it."""
    callbacks = []
    for key, node in cfg.items():
        if node is None or node == "none":
            continue
        if not isinstance(node, DictConfig):
            raise ConfigValueError(
                f"callbacks.{key}: expected a config with a _target_, null or none, got {node!r}"
            )
        node = OmegaConf.merge({"_target_": IMPLIED_TARGETS.get(key)}, node)
        cls = import_target(node._target_, f"callbacks.{key}._target_", ConfigValueError)
        if issubclass(cls, LearningRateMonitor) and not logging:
            continue
        extra = {"dirpath": checkpoint_dir} if issubclass(cls, ModelCheckpoint) else {}
        callbacks.append(instantiate(node, **extra))
    return callbacks


def build_loggers(
    cfg: DictConfig,
    run_dir: Path,
    name: str,
    config: Mapping[str, Any],
    arch_meta: Mapping[str, Any] | None = None,
) -> list[Logger]:
    """The loggers of conf/logger/<name>.yaml, each writing under ``run_dir``.

    wandb (:class:`TrackedWandbLogger`) joins the group of the search that wrote ``config["arch_file"]``
    (its ``arch_meta.source.wandb``) unless ``wandb.group`` is set, declares its artifact as input, and
    resumes the run named in ``<run_dir>/wandb_run.json`` when a restart finds one.
    """
    loggers = []
    for key, node in cfg.items():
        if issubclass(
            import_target(node._target_, f"logger.{key}._target_", ConfigValueError), TrackedWandbLogger
        ):
            # a partial: wandb's own ``config`` argument would collide with instantiate's
            factory = instantiate(node, _partial_=True)
            loggers.append(factory(**wandb_options(node, run_dir, name, config, arch_meta)))
        else:
            loggers.append(instantiate(node, save_dir=run_dir))
    return loggers


def wandb_options(
    node: DictConfig, run_dir: Path, name: str, config: Mapping[str, Any], arch_meta: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What the wandb logger takes from the run besides its config node: id, group, lineage, directory."""
    options = OmegaConf.to_container(node, resolve=True)
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
    return {**kwargs, "arch_file": arch_file, "lineage": lineage, "arch_cost": config.get("arch_summary")}
