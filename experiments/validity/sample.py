"""Sample architectures whose scores span what the search visits, not only its winners.

A search at the study's budget is replayed and every admitted child is kept. Two samples are drawn from
them: ``spanning`` takes the children nearest to evenly spaced STEntr values from the lowest to the highest
visited (early, small networks as well as near-optimal ones); ``stratified`` takes one child from each
equal-count STEntr stratum, which, since a search spends most of its time near the budget, is the
neighbourhood where the search actually makes its choices.
"""

from __future__ import annotations

import numpy as np

from e3dnas.arch import Arch, ArchBatch
from e3dnas.budget import Budget
from e3dnas.search import Evolution, ScorerSpec, SearchProblem, SearchSettings
from e3dnas.space import SearchSpace


def visited_architectures(space: SearchSpace, budget: Budget, iterations: int, seed: int) -> ArchBatch:
    """Every distinct admitted child of one evolution run by STEntr."""
    settings = SearchSettings(iterations=iterations, seed=seed)
    return visited(space, budget, ScorerSpec("stentr"), settings)[0]


def visited(
    space: SearchSpace, budget: Budget, scorer: ScorerSpec, settings: SearchSettings
) -> tuple[ArchBatch, np.ndarray, np.ndarray]:
    """Every distinct admitted child of one evolution run by ``scorer``, with the score and FLOPs the
    search gave it (read from the evolution's own samples: a slow proxy is not run again)."""
    problem = SearchProblem(space, scorer, budget, settings)
    evolution = Evolution(problem, np.random.default_rng(settings.seed))
    genes, seen = [], []
    while evolution.evaluated < settings.iterations:
        children, ok = evolution.step(settings.batch)
        genes.append(children.genes[ok])
        seen.append(evolution.samples[-1][ok])
    unique, first = np.unique(np.concatenate(genes), axis=0, return_index=True)
    columns = np.concatenate(seen)[first]
    return ArchBatch(space.skeleton, unique), columns[:, 1], columns[:, 0]


def spanning(batch: ArchBatch, scores: np.ndarray, count: int) -> list[Arch]:
    """The ``count`` distinct children nearest to evenly spaced scores over the visited range."""
    chosen: list[int] = []
    for target in np.linspace(scores.min(), scores.max(), count):
        nearest = np.argsort(np.abs(scores - target), kind="stable")
        chosen.append(next(int(i) for i in nearest if i not in chosen))
    return [batch.arch(i) for i in chosen]


def stratified(batch: ArchBatch, scores: np.ndarray, count: int, seed: int) -> list[Arch]:
    """One architecture from each of ``count`` equal-count STEntr strata, lowest first."""
    return [batch.arch(i) for i in stratum_picks(scores, count, seed)]


def stratum_picks(scores: np.ndarray, count: int, seed: int) -> list[int]:
    """The index of one random member of each of ``count`` equal-count strata of ``scores``, lowest first."""
    rng = np.random.default_rng(seed)
    strata = np.array_split(np.argsort(scores, kind="stable"), count)
    return [int(rng.choice(stratum)) for stratum in strata]
