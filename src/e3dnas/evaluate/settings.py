"""The evaluation's own settings (``ckpt``, ``views``), typed and checked like the training's."""

from __future__ import annotations

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from e3dnas.schema import ConfigValueError, one_of, read_keys

VIEWS = one_of(("multi", "single"))


@dataclass
class EvalSettings:
    ckpt: str = MISSING
    views: str = MISSING  # multi: the test protocol (clips × crops); single: the validation view
    print_config: bool = True

    def __post_init__(self) -> None:
        allowed, check = VIEWS
        if not check(self.views):  # a top-level key: no prefix for check_fields to give
            raise ConfigValueError(f"views must be {allowed}, got {self.views!r}")


def eval_settings(cfg: DictConfig) -> EvalSettings:
    return read_keys(EvalSettings, cfg)


ConfigStore.instance().store(group="schema", name="eval", node=EvalSettings)
