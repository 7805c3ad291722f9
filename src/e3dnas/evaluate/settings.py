"""The evaluation's own settings (``ckpt``, ``views``), typed and checked like the training's."""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True)
class EvalJob:
    """An evaluation as its config asks for it: its settings, read once, the composed config (data,
    trainer and logger, built in the run against the checkpoint) and the command line's overrides (which
    say which data fields the user set)."""

    settings: EvalSettings
    cfg: DictConfig
    overrides: tuple[str, ...]


def eval_settings(cfg: DictConfig, overrides: Sequence[str] = ()) -> EvalJob:
    """The evaluation job of a composed config (:mod:`e3dnas.command`)."""
    return EvalJob(read_keys(EvalSettings, cfg), cfg, tuple(overrides))


ConfigStore.instance().store(group="schema", name="eval", node=EvalSettings)
