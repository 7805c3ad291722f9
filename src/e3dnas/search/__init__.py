"""Training-free evolutionary search (``python -m e3dnas.search +budget=NAME``)."""

from e3dnas.search.budget import Budget, BudgetError
from e3dnas.search.evolution import Evolution, Population, ScorerSpec, SearchSettings, run_island
from e3dnas.search.islands import SearchResult, run_search

__all__ = [
    "Budget",
    "BudgetError",
    "Evolution",
    "Population",
    "ScorerSpec",
    "SearchResult",
    "SearchSettings",
    "run_island",
    "run_search",
]
