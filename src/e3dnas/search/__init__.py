"""Training-free evolutionary search (``python -m e3dnas.search +budget=NAME``)."""

from e3dnas.scores import ScorerSpec
from e3dnas.search.evolution import Evolution, Population, SearchResult, run_island
from e3dnas.search.islands import run_search
from e3dnas.search.problem import SearchProblem
from e3dnas.search.settings import SearchSettings, SettingsError

__all__ = [
    "Evolution",
    "Population",
    "ScorerSpec",
    "SearchProblem",
    "SearchResult",
    "SearchSettings",
    "SettingsError",
    "run_island",
    "run_search",
]
