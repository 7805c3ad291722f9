"""The evaluation's own settings (``ckpt``, ``views``), typed and checked like the training's."""

from __future__ import annotations

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from e3dnas.settings import one_of, read_settings


@dataclass
class EvalSettings:
    ckpt: str = MISSING
    views: str = MISSING  # multi: the test protocol (clips × crops); single: the validation view

    def __post_init__(self) -> None:
        one_of("views", self.views, ("multi", "single"))


def eval_settings(cfg: DictConfig) -> EvalSettings:
    return read_settings(EvalSettings, {key: cfg[key] for key in ("ckpt", "views") if key in cfg}, "")


ConfigStore.instance().store(group="schema", name="eval", node=EvalSettings)
