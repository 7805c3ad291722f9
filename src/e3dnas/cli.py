"""The budget of a composed config, for the commands and the run-dir patterns that name it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from e3dnas.search.budget import Budget


def composed_budget(node: DictConfig) -> Budget:
    """The budget of the composed config, fingerprinted when the command line overrode any of its fields
    (``+budget=e3d_s budget.flops=1e9`` must not pass for ``e3d_s``)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from e3dnas.search.budget import Budget

    budget = Budget.from_config(OmegaConf.to_container(node, resolve=True))
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    if any(override.lstrip("+~").startswith("budget.") for override in overrides):
        return budget.fingerprinted()
    return budget


def budget_dir(node: DictConfig | None) -> str:
    """``${budget_dir:...}`` in run-dir patterns: a folder named like the budget's outputs."""
    from e3dnas.search.budget import BudgetError

    try:
        return "no-budget" if node is None else composed_budget(node).name
    except BudgetError:
        return "invalid-budget"  # the run stops with the budget's own message
