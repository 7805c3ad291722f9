"""A training as its config asks for it, read once: the architecture document, the model, the data, the
optimiser and schedule, and the nodes built only in the run (trainer, loggers, callbacks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from e3dnas.arch import ArchDocument
from e3dnas.data.config import DatasetConfig
from e3dnas.schema import read_node
from e3dnas.train.settings import (
    UNLIMITED,
    RunSettings,
    check_run_length,
    rate_options,
    resolve_arch,
    run_settings,
    sized_dataset,
    unset_size,
)


@dataclass(frozen=True)
class TrainJob:
    """Everything a training needs from its config, each part read and checked once."""

    settings: RunSettings
    #: ``arch=<file.yaml>|<released name>``; None for a model that needs none (x3d).
    arch: ArchDocument | None
    data: DatasetConfig
    #: The dataset's size fields its config left to the architecture (``frames``, ``resolution``).
    unset_size: tuple[str, ...]
    model: dict[str, Any]
    optim: dict[str, Any]
    scheduler: dict[str, Any] | None
    loss: dict[str, Any]
    #: Built by Hydra's instantiate in the run, with what only the run knows (its dir, loggers, callbacks).
    trainer: DictConfig
    logger: DictConfig
    callbacks: DictConfig
    #: The whole resolved config, as the loggers record it.
    config: dict[str, Any]

    @property
    def name(self) -> str:
        """``train-<arch or model>-<dataset>``: the run's name in the loggers."""
        return f"train-{self.arch.name if self.arch else self.model['name']}-{self.data.name}"


def plain(node: DictConfig | None) -> Any:
    return None if node is None else OmegaConf.to_container(node, resolve=True)


def read_train(cfg: DictConfig, overrides: Sequence[str] = ()) -> TrainJob:
    """The training job of a composed config (:mod:`e3dnas.command`); an E3DError names the key of a value
    that cannot work: the run settings, the optimiser's rate, the dataset, the architecture."""
    settings = run_settings(cfg)
    rate_options(cfg.optim)
    scheduler = plain(cfg.scheduler) if cfg.get("scheduler") else None
    check_run_length(cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps", UNLIMITED), scheduler)
    arch = resolve_arch(cfg)
    return TrainJob(
        settings=settings,
        arch=arch,
        data=read_node(DatasetConfig, sized_dataset(cfg.dataset, arch), "dataset"),
        unset_size=unset_size(cfg.dataset),
        model=plain(cfg.model),
        optim=plain(cfg.optim),
        scheduler=scheduler,
        loss=plain(cfg.loss),
        trainer=cfg.trainer,
        logger=cfg.logger,
        callbacks=cfg.callbacks,
        config=plain(cfg),
    )
