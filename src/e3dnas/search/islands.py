"""Run the evolution on one or more independent islands and merge their populations.

``search.workers > 1`` runs islands in separate processes (spawned: the search imports no torch, so
start-up is cheap). The iteration budget is split between islands, island i draws from the i-th child of
``SeedSequence(seed)``, and the merge is an ordered union, so the result depends on the seed and the
number of workers, never on scheduling.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from e3dnas.search.budget import Budget
from e3dnas.search.evolution import IslandResult, Population, ScorerSpec, SearchSettings, run_island
from e3dnas.space import SearchSpace


@dataclass
class SearchResult:
    population: Population
    history: list[tuple]
    samples: np.ndarray
    evaluated: int
    accepted: int
    seconds: float


def split_iterations(total: int, islands: int) -> list[int]:
    share, extra = divmod(total, islands)
    return [share + (i < extra) for i in range(islands)]


_counter = None


def _init_worker(counter) -> None:
    global _counter
    _counter = counter


def _count(n: int, _best: float) -> None:
    with _counter.get_lock():
        _counter.value += n


def _island_in_worker(island: int, *args) -> IslandResult:
    return run_island(island, *args, on_progress=_count)


def run_search(
    space: SearchSpace,
    scorer: ScorerSpec,
    budget: Budget,
    settings: SearchSettings,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
) -> SearchResult:
    """Evolve ``settings.workers`` islands for ``settings.iterations`` children in all and merge them."""
    start = time.perf_counter()
    shares = split_iterations(settings.iterations, settings.workers)

    def checkpoint(i: int) -> Path | None:
        return None if checkpoint_dir is None else checkpoint_dir / f"island{i}.pkl"

    bar = tqdm(total=settings.iterations, unit="cand", disable=not progress, desc=f"search {budget.name}")
    if settings.workers == 1:

        def update(n: int, best: float) -> None:
            bar.update(n)
            bar.set_postfix(best=f"{best:.2f}", refresh=False)

        results = [run_island(0, space, scorer, budget, settings, shares[0], checkpoint(0), update)]
    else:
        context = mp.get_context("spawn")
        counter = context.Value("q", 0)
        with ProcessPoolExecutor(settings.workers, context, _init_worker, (counter,)) as pool:
            futures = [
                pool.submit(_island_in_worker, i, space, scorer, budget, settings, shares[i], checkpoint(i))
                for i in range(settings.workers)
            ]
            while not all(f.done() for f in futures):
                time.sleep(0.2)
                bar.update(counter.value - bar.n)
            results = [f.result() for f in futures]
            bar.update(counter.value - bar.n)
    bar.close()
    population = results[0].population
    for other in results[1:]:
        population = population.merged(other.population, settings.population)
    return SearchResult(
        population=population,
        history=[row for r in results for row in r.history],
        samples=np.concatenate([r.samples for r in results]),
        evaluated=sum(r.evaluated for r in results),
        accepted=sum(r.accepted for r in results),
        seconds=time.perf_counter() - start,
    )
