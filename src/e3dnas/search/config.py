"""The search's config schema, registered in Hydra's ConfigStore as ``search_schema``.

conf/search.yaml lists it first in its defaults: every ``search.*`` default and range lives in
:class:`SearchSettings`, the budget's in :class:`Budget`, the scorer's and the space's options in their
builders' signatures (:func:`e3dnas.schema.build_plugin`); the YAML files select and override. OmegaConf
checks types while composing, the dataclasses' ``__post_init__`` ranges when the config is read
(:func:`search_problem`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from e3dnas.budget import Budget, BudgetError, composed_budget, is_given
from e3dnas.hydra_compat import group_options
from e3dnas.schema import config_errors, read
from e3dnas.scores import ScorerSpec
from e3dnas.search.problem import SearchProblem
from e3dnas.search.settings import SearchSettings
from e3dnas.space import SearchSpace


@dataclass
class SearchConfig:
    """``python -m e3dnas.search``'s whole config (wandb's keys are in conf/search.yaml)."""

    # Plug-in nodes (e3dnas.schema.build_plugin): name or _target_ plus the builder's own flat options,
    # checked against its signature when the space and scorer are built. `_target_` is there (null) so
    # that `scorer._target_=...` needs no `+`.
    space: dict[str, Any] = field(default_factory=lambda: {"_target_": None})
    scorer: dict[str, Any] = field(default_factory=lambda: {"_target_": None})
    search: SearchSettings = field(default_factory=SearchSettings)
    #: Fields unfilled (``???``) until ``+budget=NAME`` fills them: a node, never null, so that
    #: ``budget.params=…`` applies beside a sweep of presets (``-m +budget=e3d_s,e3d_m``).
    budget: Budget = field(default_factory=lambda: OmegaConf.structured(Budget))
    progress: bool = True
    print_config: bool = True  # the resolved config as a tree at the start (the run's log holds it too)
    wandb: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(name="search_schema", node=SearchConfig)


def budget_and_space(cfg: DictConfig) -> tuple[Budget, SearchSpace]:
    """The composed budget (fingerprinted when the command line changed it) and the space at its size."""
    if not is_given(cfg.get("budget")):
        raise BudgetError(
            f"no budget given: add +budget=NAME (available: {', '.join(group_options('budget'))})"
        )
    with config_errors():
        budget = composed_budget(cfg.budget)
        space_cfg = OmegaConf.to_container(cfg.space, resolve=True)
    return budget, budget.space(space_cfg)


def checked_settings(cfg: DictConfig) -> tuple[ScorerSpec, SearchSettings]:
    """The scorer and ``search.*`` of the composed config, range-checked (the scorer's options too)."""
    scorer = ScorerSpec.from_config(cfg.scorer)
    scorer.build()
    return scorer, read(cfg.search, "search")


def search_problem(cfg: DictConfig) -> SearchProblem:
    """Everything a search needs from its config, each part checked; the scorer is built once here so that
    an unknown name, a failed import or bad options stop the run before it starts."""
    budget, space = budget_and_space(cfg)
    scorer, settings = checked_settings(cfg)
    return SearchProblem(space, scorer, budget, settings)
