"""The training run's own settings (``seed``, ``train.*``, ``loss.*``, ``optim``'s rate), typed and checked.

Their values live in conf/train.yaml; the dataclasses give them types and ranges and are registered in
Hydra's ConfigStore (``schema/train``). They are not in train.yaml's defaults list: there a bad type would
stop Hydra's composition with its own page and exit code, where :func:`run_settings` gives one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from e3dnas.arch import ArchDocument, arch_from_dict, read_arch
from e3dnas.schema import ConfigValueError, check_fields, integer, is_number, read_keys, setting


@dataclass
class TrainOptions:
    resume: str = MISSING  # auto | never | <ckpt path>
    init_from: str | None = None
    pretrained_on: str | None = None  # a fine-tuning preset's source dataset: init_from is then required
    test: bool = MISSING
    decay_norm_and_bias: bool = MISSING

    def __post_init__(self) -> None:
        if self.pretrained_on and not self.init_from:
            raise ConfigValueError(
                f"train.init_from is required: this recipe fine-tunes a {self.pretrained_on} checkpoint "
                f"(train.pretrained_on={self.pretrained_on}); give train.init_from=<its best checkpoint>"
            )


@dataclass
class LossOptions:
    label_smoothing: float = setting("a number in [0, 1)", lambda v: is_number(v) and 0 <= v < 1)

    def __post_init__(self) -> None:
        check_fields(self, "loss", ConfigValueError)


SEED = integer(0)


@dataclass
class RunSettings:
    seed: int = MISSING
    arch_file: str | None = None
    train: TrainOptions = MISSING
    loss: LossOptions = MISSING
    print_config: bool = True

    def __post_init__(self) -> None:
        allowed, check = SEED
        if not check(self.seed):  # a top-level key: no prefix for check_fields to give
            raise ConfigValueError(f"seed must be {allowed}, got {self.seed!r}")


def run_settings(cfg: DictConfig) -> RunSettings:
    """The run settings of a composed training config; ConfigValueError naming the key at fault."""
    return read_keys(RunSettings, cfg)


def resolve_arch(cfg: DictConfig) -> ArchDocument | None:
    """The architecture from ``arch=<file.yaml>`` (a search result) or ``arch=<released name>``."""
    if cfg.get("arch_file"):
        return read_arch(cfg.arch_file)
    if cfg.get("arch"):
        return arch_from_dict(
            OmegaConf.to_container(cfg.arch, resolve=True), source=f"conf/arch ({cfg.arch.name})"
        )
    if cfg.model.name == "e3d":
        raise ConfigValueError(
            "model=e3d needs an architecture: arch=<path/to/best.yaml> or arch=e3d_s|e3d_m|e3d_l"
        )
    return None


def rate_options(optim: Mapping[str, Any]) -> tuple[dict[str, Any], float, int | None]:
    """Split the optimiser config into the optimiser's own arguments, the base rate ``lr`` and
    ``reference_batch`` (not an optimiser argument); ConfigValueError naming the key when one is wrong."""
    options = dict(optim)
    reference = options.pop("reference_batch", None)
    if reference is not None and (
        isinstance(reference, bool) or not isinstance(reference, int) or reference < 1
    ):
        raise ConfigValueError(f"optim.reference_batch must be a positive integer or null, got {reference!r}")
    if not is_number(options.get("lr")):
        raise ConfigValueError(
            f"optim.lr must be a number (the rate at optim.reference_batch), got {options.get('lr')!r}"
        )
    return options, float(options["lr"]), reference


ConfigStore.instance().store(group="schema", name="train", node=RunSettings)
