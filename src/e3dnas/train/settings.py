"""The training run's own settings (``seed``, ``train.*``, ``loss.*``), typed and range-checked.

Their values live in conf/train.yaml; the dataclasses give them types and ranges and are registered in
Hydra's ConfigStore (``schema/train``). They are not in train.yaml's defaults list: there a bad type would
stop Hydra's composition with its own page and exit code, where :func:`read_settings` gives one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from e3dnas.errors import ConfigError
from e3dnas.settings import read_settings


@dataclass
class TrainOptions:
    resume: str = MISSING  # auto | never | <ckpt path>
    init_from: str | None = None
    test: bool = MISSING
    decay_norm_and_bias: bool = MISSING


@dataclass
class LossOptions:
    label_smoothing: float = MISSING

    def __post_init__(self) -> None:
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"loss.label_smoothing: must be in [0, 1), got {self.label_smoothing}")


@dataclass
class RunSettings:
    seed: int = MISSING
    arch_file: str | None = None
    train: TrainOptions = MISSING
    loss: LossOptions = MISSING

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed: must be in [0, 2^32), got {self.seed}")


def run_settings(cfg: DictConfig) -> RunSettings:
    """The run settings of a composed training config; ConfigError naming the key at fault."""
    keys = ("seed", "arch_file", "train", "loss")
    node = {key: cfg[key] for key in keys if key in cfg}
    return read_settings(RunSettings, node, "")


ConfigStore.instance().store(group="schema", name="train", node=RunSettings)
