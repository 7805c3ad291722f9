"""The ``select.*`` settings, typed and checked, and :func:`read`: a composed config → :class:`SelectJob`.

A select config is a training config (conf/train.yaml's keys and groups) plus ``run`` (the search) and
``select``; each trial trains with the training part, so it is checked here as train checks its own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from e3dnas.data.config import DatasetConfig
from e3dnas.errors import E3DError
from e3dnas.schema import (
    ConfigValueError,
    check_fields,
    import_target,
    integer,
    is_number,
    read_node,
    setting,
)
from e3dnas.select.finalists import Finalist, Search, choose_finalists, read_search
from e3dnas.train.settings import rate_options, run_settings, unset_size

log = logging.getLogger("e3dnas.select")


def _fraction(v: Any) -> bool:
    return is_number(v) and 0 <= v <= 1


def _seconds(v: Any) -> bool:
    return is_number(v) and v > 0


@dataclass
class SelectSettings:
    """How many finalists, which rungs, where the study lives (``select.<key>=``; docs/select.md)."""

    finalists: int = setting(*integer(1), default=32)
    min_budget_fraction: float = setting("a number in [0, 1]", _fraction, default=0.9)
    per_pattern: int = setting(*integer(1), default=4)
    min_epochs: int = setting(*integer(1), default=1)
    reduction_factor: int = setting(*integer(2), default=3)
    storage: str | None = None
    dir: str | None = None
    worker: int = setting(*integer(0), default=0)
    heartbeat_s: float = setting("a number of seconds > 0", _seconds, default=60.0)
    grace_s: float = setting("a number of seconds > 0", _seconds, default=180.0)
    fit: Any = None

    def __post_init__(self) -> None:
        check_fields(self, "select", ConfigValueError)
        if self.grace_s <= self.heartbeat_s:
            raise ConfigValueError(
                f"select.grace_s ({self.grace_s:g}) must exceed select.heartbeat_s ({self.heartbeat_s:g}): "
                "a live worker's trial would be taken for a dead one's"
            )


#: The trial's value and the epochs it trained; a fit that stops before the full recipe was pruned.
Fit = Callable[..., Any]


@dataclass(frozen=True)
class SelectJob:
    """Everything a selection needs, each file and config read once."""

    search: Search
    finalists: tuple[Finalist, ...]
    settings: SelectSettings
    training: DictConfig  # the training config each trial starts from (no run/select keys)
    dataset: str
    max_epochs: int
    rungs: tuple[int, ...]  # epochs at which the pruner compares, below max_epochs
    fit: Fit


def rung_epochs(min_epochs: int, reduction_factor: int, max_epochs: int) -> tuple[int, ...]:
    """The pruner's rungs (min_epochs × reduction_factor^k) that come before the full recipe ends."""
    count = 0 if min_epochs >= max_epochs else math.ceil(math.log(max_epochs / min_epochs, reduction_factor))
    rungs = [min_epochs * reduction_factor**k for k in range(count + 1)]
    return tuple(r for r in rungs if r < max_epochs)


def run_dirs(cfg: DictConfig) -> list[str]:
    given = cfg.get("run")
    if OmegaConf.is_missing(cfg, "run") or given in (None, ""):
        raise ConfigValueError("run is missing: give run=<search run dir> (or run=[dir1,dir2])")
    return [str(d) for d in given] if isinstance(given, ListConfig) else [str(given)]


def training_config(cfg: DictConfig) -> DictConfig:
    """The training part of a select config: validation every epoch, no test pass (select chooses on
    validation), wandb runs grouped under the selection unless ``logger.wandb.group`` says otherwise."""
    training = OmegaConf.masked_copy(cfg, [k for k in cfg if k not in ("run", "select")])
    training.trainer.check_val_every_n_epoch = 1
    training.train.test = False
    return training


def read(cfg: DictConfig, overrides: Sequence[str] = ()) -> SelectJob:
    """The job of a composed select config, checked (:func:`check`); an E3DError naming the key or file at
    fault. ``overrides`` (the command line's) are not needed: a selection's settings are all in ``cfg``."""
    settings = read_node(SelectSettings, cfg.select, "select")
    training = training_config(cfg)
    run_settings(training)
    rate_options(training.optim)
    data = read_node(DatasetConfig, training.dataset, "dataset")
    search, records = read_search(run_dirs(cfg))
    finalists = choose_finalists(
        search, records, settings.finalists, settings.min_budget_fraction, settings.per_pattern
    )
    node = settings.fit
    target = node.get("_target_") if isinstance(node, dict) else None
    if not target:
        raise ConfigValueError("select.fit._target_ is missing (default: e3dnas.select.fit.train_finalist)")
    max_epochs = training.trainer.get("max_epochs")
    if not isinstance(max_epochs, int) or max_epochs < 1:
        raise ConfigValueError(
            f"trainer.max_epochs must be an integer >= 1 (the full recipe), got {max_epochs!r}"
        )
    job = SelectJob(
        search=search,
        finalists=tuple(finalists),
        settings=settings,
        training=training,
        dataset=f"{data.name} ({data.frames}×{data.resolution}²)",
        max_epochs=max_epochs,
        rungs=rung_epochs(settings.min_epochs, settings.reduction_factor, max_epochs),
        fit=import_target(target, "select.fit._target_", ConfigValueError),
    )
    check(job)
    return job


def check(job: SelectJob) -> None:
    """What cannot work although each setting reads: clips of another size than the search's budget, and
    a callback that stops trainings by itself."""
    budget = job.search.budget
    dataset = job.training.dataset
    searched = {"frames": budget["frames"], "resolution": budget["resolution"]}
    # a size the dataset leaves null is the architecture's own: each finalist's, the search's
    sized = OmegaConf.merge(dataset, {key: searched[key] for key in unset_size(dataset)})
    data = read_node(DatasetConfig, sized, "dataset")
    if (data.frames, data.resolution) != (budget["frames"], budget["resolution"]):
        raise E3DError(
            f"dataset {data.name}: {data.frames}×{data.resolution}² clips, but the search "
            f"{job.search.dirs[0]} ranked its networks for budget {budget['name']} at "
            f"{budget['frames']}×{budget['resolution']}²: set dataset.frames={budget['frames']} "
            f"dataset.resolution={budget['resolution']}, or search at this size"
        )
    if job.training.callbacks.get("early_stopping") not in (None, "none"):
        raise E3DError("callbacks.early_stopping: select decides which trainings stop; leave it null")
    warmup = OmegaConf.select(job.training, "scheduler.warmup_epochs")
    if job.rungs and isinstance(warmup, int | float) and job.rungs[0] <= warmup:
        # seen on the validity study's camera task: after a 1-epoch warm-up every finalist sat at chance
        log.warning(
            "select: the first rung (%d epochs) ends within the learning-rate warm-up "
            "(scheduler.warmup_epochs=%s), where networks are still near chance and tie; "
            "set select.min_epochs=%d or more",
            job.rungs[0],
            warmup,
            math.floor(warmup) + 1,
        )
