"""``python -m e3dnas.data.prepare``'s settings, typed (their values and what each does: conf/prepare.yaml),
registered in Hydra's ConfigStore as ``schema/prepare``; :class:`PrepareSettings` checks their ranges."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from e3dnas.data.config import POSITIVE_INT, DatasetConfig, optional
from e3dnas.data.datamodule import VideoDataModule
from e3dnas.data.prepare import PrepareSettings
from e3dnas.hydra_compat import group_options
from e3dnas.schema import ConfigValueError, check_fields, read_node, setting


@dataclass
class PrepareConfig:
    dataset: DatasetConfig = MISSING
    out: str = MISSING
    short_side: int | None = None  # null: the largest short side training reads
    quality: int = MISSING
    subsampling: str = MISSING
    splits: list[str] = MISSING
    workers: int | None = setting(*optional(*POSITIVE_INT), default=None)  # null: the CPUs this job may use
    print_config: bool = False

    def __post_init__(self) -> None:
        check_fields(self, "", ConfigValueError)


class PrepareInputs(NamedTuple):
    """What a prepare run needs from its config, each part checked."""

    data: VideoDataModule
    settings: PrepareSettings
    out: Path
    splits: tuple[str, ...]
    workers: int


def prepare_inputs(cfg: DictConfig, overrides: Sequence[str] = ()) -> PrepareInputs:
    """The prepare job of a composed config (:mod:`e3dnas.command`), read as its schemas; an E3DError
    names the key of a value that cannot work."""
    if cfg.get("dataset") is None:
        raise ConfigValueError(
            f"no dataset given: add dataset=NAME (available: {', '.join(group_options('dataset'))})"
        )
    config = read_node(PrepareConfig, cfg)
    data = VideoDataModule(config.dataset)
    settings = PrepareSettings(
        layout=config.dataset.layout,
        source=str(Path(config.dataset.root).resolve()),
        short_side=config.short_side or max(data.max_short.values()),
        quality=config.quality,
        subsampling=config.subsampling,
        media_dir=config.dataset.media_dir,
        annotation_dir=config.dataset.annotation_dir,
    )
    workers = config.workers or len(os.sched_getaffinity(0))
    return PrepareInputs(data, settings, Path(config.out), tuple(config.splits), workers)


ConfigStore.instance().store(group="schema", name="prepare", node=PrepareConfig)
