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


#: The dataset fields that size a clip; left null, a training takes them from its architecture.
SIZE_KEYS = ("frames", "resolution")


def unset_size(dataset: DictConfig | Mapping[str, Any]) -> tuple[str, ...]:
    """The size fields the dataset config leaves null: neither its YAML nor the command line sets them."""
    return tuple(key for key in SIZE_KEYS if dataset.get(key) is None)


def sized_dataset(dataset: DictConfig, doc: ArchDocument | None) -> DictConfig:
    """``dataset`` with the size fields it leaves null set to the architecture's input (the size it was
    searched for); unchanged without an architecture (the schema's defaults apply)."""
    unset = unset_size(dataset)
    if doc is None or not unset:
        return dataset
    searched = {"frames": doc.arch.frames, "resolution": doc.arch.resolution}
    return OmegaConf.merge(dataset, {key: searched[key] for key in unset})


def rate_options(optim: Mapping[str, Any]) -> tuple[dict[str, Any], float, int | None]:
    """Split the optimiser config into the optimiser's own arguments, the base rate ``lr`` and
    ``reference_batch`` (not an optimiser argument); ConfigValueError naming the key when one is wrong."""
    options = dict(optim)
    reference = options.pop("reference_batch", None)
    if reference is not None and (
        isinstance(reference, bool) or not isinstance(reference, int) or reference < 1
    ):
        raise ConfigValueError(f"optim.reference_batch must be a positive integer or null, got {reference!r}")
    lr = options.get("lr")
    if not is_number(lr) or lr <= 0:
        raise ConfigValueError(
            f"optim.lr must be a positive number (the rate at optim.reference_batch), got {lr!r}"
        )
    for key in ("weight_decay", "momentum"):  # torch's own check is a traceback at the first step's setup
        if key in options and not (is_number(options[key]) and options[key] >= 0):
            raise ConfigValueError(f"optim.{key} must be a number >= 0, got {options[key]!r}")
    return options, float(lr), reference


#: Lightning's "no limit" for ``trainer.max_epochs`` and ``trainer.max_steps``.
UNLIMITED = -1


def check_run_length(max_epochs: Any, max_steps: Any, scheduler: Mapping[str, Any] | None) -> None:
    """ConfigValueError for a run length Lightning or the schedule cannot take, before anything is written.

    ``trainer.max_epochs=-1`` (Lightning's "no limit", with no ``trainer.max_steps``) trains until stopped
    (early stopping, Ctrl-C); the warm-up cosine needs the run's length in steps, so such a run takes
    ``scheduler=null`` (a constant rate). A warm-up longer than the run, or a negative one, is refused.
    """

    def length(value: Any, key: str) -> None:
        if not (
            isinstance(value, int) and not isinstance(value, bool) and (value >= 1 or value == UNLIMITED)
        ):
            raise ConfigValueError(
                f"trainer.{key} must be an integer >= 1, or -1 for no limit; got {value!r}"
            )

    if max_epochs is not None:  # None: Lightning's default (1000 epochs unless max_steps is given)
        length(max_epochs, "max_epochs")
    length(max_steps, "max_steps")
    if not scheduler:
        return
    if max_epochs == UNLIMITED and max_steps == UNLIMITED:
        raise ConfigValueError(
            "trainer.max_epochs=-1 (no limit) needs a schedule that does not depend on the run's length: "
            "add scheduler=null (a constant rate), or bound the run with +trainer.max_steps=N"
        )
    warmup = scheduler.get("warmup_epochs", 0)
    if not (is_number(warmup) and warmup >= 0):
        raise ConfigValueError(f"scheduler.warmup_epochs must be a number >= 0, got {warmup!r}")
    if isinstance(max_epochs, int) and max_epochs >= 1 and max_steps == UNLIMITED and warmup > max_epochs:
        raise ConfigValueError(
            f"scheduler.warmup_epochs ({warmup:g}) must not exceed trainer.max_epochs ({max_epochs}): the "
            "rate would still be warming up when the run ends"
        )
    min_lr = scheduler.get("min_lr", 0.0)
    if not (is_number(min_lr) and min_lr >= 0):
        raise ConfigValueError(f"scheduler.min_lr must be a number >= 0, got {min_lr!r}")
    start = scheduler.get("warmup_start_factor")
    if start is not None and not (is_number(start) and 0 < start <= 1):
        raise ConfigValueError(
            f"scheduler.warmup_start_factor must be null or a number in (0, 1], got {start!r}"
        )


ConfigStore.instance().store(group="schema", name="train", node=RunSettings)
