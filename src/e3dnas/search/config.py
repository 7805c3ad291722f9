"""The search's config schema, registered in Hydra's ConfigStore as ``search_schema``.

conf/search.yaml lists it first in its defaults: every ``search.*`` default and range lives in
:class:`SearchSettings`, the budget's in :class:`Budget`, the scorer's and the space's options in their
builders' signatures (:func:`e3dnas.schema.build_plugin`); the YAML files select and override. OmegaConf
checks types while composing, the dataclasses' ``__post_init__`` ranges when the config is read
(:func:`search_problem`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from e3dnas.budget import Budget, BudgetError, is_given
from e3dnas.errors import E3DError
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


def read_budget(node: DictConfig | None, overrides: Sequence[str], config_name: str) -> Budget:
    """The composed budget, fingerprinted when the command line's ``budget.*`` overrides changed its preset's
    fields (``+budget=e3d_s budget.flops=1e9`` must not pass for ``e3d_s``; a field set to the preset's
    own value changes nothing). ``config_name`` is the command's config, composed again without those
    overrides to see the preset's fields."""
    if not is_given(node):
        raise BudgetError(
            f"no budget given: add +budget=NAME (available: {', '.join(group_options('budget'))})"
        )
    with config_errors():
        budget = Budget.from_config(OmegaConf.to_container(node, resolve=True))
    return budget.fingerprinted() if _changed(node, overrides, config_name) else budget


def _changed(node: DictConfig, overrides: Sequence[str], config_name: str) -> bool:
    """Whether ``overrides`` change the budget's fields from those of its preset alone."""
    from hydra import compose

    changed = [o for o in overrides if o.lstrip("+~").startswith("budget.")]
    if not changed:
        return False
    preset = compose(config_name, overrides=[o for o in overrides if o not in changed]).get("budget")
    plain = OmegaConf.to_container(node, resolve=True)
    return preset is None or OmegaConf.to_container(preset, resolve=True) != plain


def budget_and_space(
    cfg: DictConfig, overrides: Sequence[str] = (), config_name: str = "search"
) -> tuple[Budget, SearchSpace]:
    """The composed budget (fingerprinted when ``overrides`` changed it) and the space at its size."""
    budget = read_budget(cfg.get("budget"), overrides, config_name)
    with config_errors():
        space_cfg = OmegaConf.to_container(cfg.space, resolve=True)
    return budget, budget.space(space_cfg)


#: The budget names of the jobs read in this process, by their budget node as composed: the run dir of a job
#: read before Hydra started is named from its own budget, not from a second one built for the name.
_budget_names: dict[str, str] = {}


def budget_dir(node: DictConfig | None) -> str:
    """``${budget_dir:...}`` in run-dir patterns: a folder named like the budget's outputs, as the run's
    reader names it (from the overrides of the job Hydra is starting)."""
    from hydra.core.hydra_config import HydraConfig

    if not is_given(node):
        return "no-budget"
    known = _budget_names.get(OmegaConf.to_yaml(node))
    if known is not None:
        return known
    hydra = HydraConfig.get()
    try:
        return read_budget(node, list(hydra.overrides.task), hydra.job.config_name).name
    except E3DError:
        return "invalid-budget"  # the run stops with the budget's own message


def checked_settings(cfg: DictConfig) -> tuple[ScorerSpec, SearchSettings]:
    """The scorer and ``search.*`` of the composed config, range-checked (the scorer's options too)."""
    scorer = ScorerSpec.from_config(cfg.scorer)
    scorer.build()
    return scorer, read(cfg.search, "search")


@dataclass(frozen=True)
class SearchJob:
    """A search as its config asks for it: the problem (built once, handed to every island) and how the
    run is watched."""

    problem: SearchProblem
    progress: bool
    #: ``wandb.*`` and the whole resolved config the wandb run records.
    wandb: DictConfig
    config: dict[str, Any]


def search_problem(cfg: DictConfig, overrides: Sequence[str] = ()) -> SearchProblem:
    """Everything a search needs from its config, each part checked; the scorer is built once here so that
    an unknown name, a failed import or bad options stop the run before it starts."""
    budget, space = budget_and_space(cfg, overrides)
    scorer, settings = checked_settings(cfg)
    return SearchProblem(space, scorer, budget, settings)


def read_search(cfg: DictConfig, overrides: Sequence[str] = ()) -> SearchJob:
    """The search job of a composed config and the command line's overrides of it (:mod:`e3dnas.command`)."""
    problem = search_problem(cfg, overrides)
    _budget_names[OmegaConf.to_yaml(cfg.budget)] = problem.budget.name
    return SearchJob(problem, cfg.progress, cfg.wandb, OmegaConf.to_container(cfg, resolve=True))
