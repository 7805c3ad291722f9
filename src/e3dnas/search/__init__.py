"""Training-free evolutionary search (``python -m e3dnas.search +budget=NAME``)."""

from e3dnas.scores import ScorerSpec
from e3dnas.search.budget import Budget, BudgetError
from e3dnas.search.evolution import Evolution, Population, SearchResult, run_island
from e3dnas.search.islands import run_search
from e3dnas.search.settings import SearchSettings, SettingsError

__all__ = [
    "Budget",
    "BudgetError",
    "Evolution",
    "Population",
    "ScorerSpec",
    "SearchResult",
    "SearchSettings",
    "SettingsError",
    "run_island",
    "run_search",
]
