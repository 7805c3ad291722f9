"""The search's config schema, registered in Hydra's ConfigStore as ``search_schema``.

conf/search.yaml lists it first in its defaults: every ``search.*`` default and range lives in
:class:`SearchSettings`, the budget's in :class:`Budget`, the scorer's in :class:`ScorerSpec`; the YAML
files select and override. OmegaConf checks types while composing, the dataclasses' ``__post_init__``
ranges when the config is read (:func:`search_inputs`).
"""

from __future__ import annotations

from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass, field, fields
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from e3dnas.cli import composed_budget
from e3dnas.hydra_compat import group_options
from e3dnas.schema import config_errors, read
from e3dnas.scores import ScorerSpec
from e3dnas.search.budget import Budget, BudgetError
from e3dnas.search.settings import SearchSettings
from e3dnas.space import SearchSpace

#: The optional knobs of the built-in space: their defaults are :class:`SearchSpace`'s.
_SPACE_DEFAULTS = {f.name: f.default for f in fields(SearchSpace) if f.default is not NO_DEFAULT}


@dataclass
class SpaceConfig:
    """A conf/space file: the seed network and the moves; ``_target_`` names a space of one's own
    (:func:`e3dnas.space.build_space`)."""

    seed: dict[str, Any] = MISSING
    kernels: list[list[int]] = MISSING
    width_multipliers: list[float] = MISSING
    bottleneck_ratios: list[float] = MISSING
    depth_steps: list[int] = MISSING
    channel_multiple: int = _SPACE_DEFAULTS["channel_multiple"]
    max_channels: int = _SPACE_DEFAULTS["max_channels"]
    stem_max_width: int = _SPACE_DEFAULTS["stem_max_width"]
    first_stage_max_depth: int = _SPACE_DEFAULTS["first_stage_max_depth"]
    blocks_per_depth_cap: int = _SPACE_DEFAULTS["blocks_per_depth_cap"]
    mutations_per_child: int = _SPACE_DEFAULTS["mutations_per_child"]
    layer_retries: int = _SPACE_DEFAULTS["layer_retries"]
    _target_: str | None = None


@dataclass
class SearchConfig:
    """``python -m e3dnas.search``'s whole config (wandb's keys are in conf/search.yaml)."""

    space: SpaceConfig = MISSING
    scorer: ScorerSpec = MISSING
    search: SearchSettings = field(default_factory=SearchSettings)
    budget: Budget | None = None
    progress: bool = True
    print_config: bool = True  # the resolved config as a tree at the start (the run's log holds it too)
    wandb: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(name="search_schema", node=SearchConfig)


def budget_and_space(cfg: DictConfig) -> tuple[Budget, SearchSpace]:
    """The composed budget (fingerprinted when the command line changed it) and the space at its size."""
    if cfg.get("budget") is None:
        raise BudgetError(
            f"no budget given: add +budget=NAME (available: {', '.join(group_options('budget'))})"
        )
    with config_errors():
        budget = composed_budget(cfg.budget)
        space_cfg = OmegaConf.to_container(cfg.space, resolve=True)
    return budget, budget.space(space_cfg)


def checked_settings(cfg: DictConfig) -> tuple[ScorerSpec, SearchSettings]:
    """The scorer and ``search.*`` of the composed config, range-checked."""
    return read(cfg.scorer, "scorer"), read(cfg.search, "search")


def search_inputs(cfg: DictConfig) -> tuple[Budget, SearchSpace, ScorerSpec, SearchSettings]:
    """Everything a search needs from its config, each part checked; the scorer is built once here so that
    an unknown name, a failed import or bad options stop the run before it starts."""
    budget, space = budget_and_space(cfg)
    scorer, settings = checked_settings(cfg)
    scorer.build()
    return budget, space, scorer, settings


def check_config(cfg: DictConfig) -> None:
    """The checks that need no run: settings, scorer options' types and, when given, the budget."""
    checked_settings(cfg)
    if cfg.get("budget") is not None:
        budget_and_space(cfg)
