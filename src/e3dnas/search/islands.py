"""Run the evolution on one or more independent islands and merge their populations.

``search.workers > 1`` runs islands in separate processes (spawned: the search imports no torch, so
start-up is cheap). The iteration budget is split between islands, island i draws from the i-th child of
``SeedSequence(seed)``, and the merge is an ordered union, so the result depends on the seed and the
number of workers, never on scheduling.

SIGINT (Ctrl-C) and SIGTERM (Slurm's preemption and time limit) do not kill a search: they ask every island
to stop at its next batch, write its checkpoint and return; ``SearchResult.interrupted`` says so. A second
Ctrl-C kills as usual.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from e3dnas.search.checkpoint import read_checkpoint, run_signature
from e3dnas.search.evolution import SearchResult, run_island
from e3dnas.search.problem import SearchProblem
from e3dnas.search.settings import SearchSettings
from e3dnas.signature import ResumeError

log = logging.getLogger("e3dnas.search")


@contextmanager
def stop_on_signals(stop) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set ``stop`` (an Event) instead of raising; a second SIGINT raises."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, _frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def warn_if_short(settings: SearchSettings) -> None:
    """An island given fewer candidates than its population keeps every admitted one: the search returns
    the first networks it drew, never evolved (and far below the budget), which a short proxy search did
    without a word."""
    per_island = settings.iterations // settings.workers
    if per_island < settings.population:
        log.warning(
            "search.iterations=%d (%d per island) is below search.population=%d: every admitted candidate "
            "is kept, so this search returns the first networks it drew rather than evolved ones; give it "
            "many times the population (e.g. search.iterations=%d)",
            settings.iterations,
            per_island,
            settings.population,
            10 * settings.population * settings.workers,
        )


def split_iterations(total: int, islands: int) -> list[int]:
    share, extra = divmod(total, islands)
    return [share + (i < extra) for i in range(islands)]


_counter = None
_stop = None
_history = None


def _init_worker(counter, stop, history=None) -> None:
    """Workers leave signals to the parent, which tells them to stop through ``stop``; history rows go
    to the parent through the ``history`` queue when it watches them."""
    global _counter, _stop, _history
    _counter, _stop, _history = counter, stop, history
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _count(n: int, _best: float) -> None:
    with _counter.get_lock():
        _counter.value += n


def _island_in_worker(island: int, *args) -> SearchResult:
    on_history = None if _history is None else _history.put
    return run_island(island, *args, on_progress=_count, should_stop=_stop.is_set, on_history=on_history)


def _drain(rows: queue.Queue, on_history: Callable[[tuple], None], seen: set[tuple[int, int]]) -> None:
    while True:
        try:
            row = rows.get_nowait()
        except queue.Empty:
            return
        seen.add((row[0], row[1]))
        on_history(row)


def check_checkpoints(checkpoint_dir: Path | None, problem: SearchProblem) -> None:
    """ResumeError unless ``checkpoint_dir`` holds a checkpoint per island written under these settings.

    Island 0's is read first: it records every setting (the number of workers included), so a resume with
    other settings is told which, rather than that some other island's file is missing.
    """
    shares = split_iterations(problem.settings.iterations, problem.settings.workers)
    paths = [
        None if checkpoint_dir is None else checkpoint_dir / f"island{i}.pkl" for i in range(len(shares))
    ]
    missing = [str(path) for path in paths if path is None or not path.exists()]
    if paths[0] is not None and paths[0].exists():
        read_checkpoint(paths[0], run_signature(0, problem, shares[0]))
    if missing:
        raise ResumeError(
            f"search.resume=true but there is no checkpoint to resume ({', '.join(missing)} missing); "
            "run without search.resume, or with hydra.run.dir=<the interrupted run's dir>"
        )
    for i, path in enumerate(paths[1:], start=1):
        read_checkpoint(path, run_signature(i, problem, shares[i]))


def run_search(
    problem: SearchProblem,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
    on_history: Callable[[tuple], None] | None = None,
) -> SearchResult:
    """Evolve ``workers`` islands of ``problem`` for ``iterations`` children in all (its settings) and
    merge them.

    ``on_history`` receives every new history row while the search runs (in this process, whatever the
    number of workers), for live logging; rows a resumed checkpoint already held are not repeated.
    """
    start = time.perf_counter()
    settings = problem.settings
    shares = split_iterations(settings.iterations, settings.workers)

    def checkpoint(i: int) -> Path | None:
        return None if checkpoint_dir is None else checkpoint_dir / f"island{i}.pkl"

    if settings.resume:
        check_checkpoints(checkpoint_dir, problem)
    warn_if_short(settings)
    bar = tqdm(
        total=settings.iterations, unit="cand", disable=not progress, desc=f"search {problem.budget.name}"
    )
    if settings.workers == 1:

        def update(n: int, best: float) -> None:
            bar.update(n)
            bar.set_postfix(best=f"{best:.2f}", refresh=False)

        stop = threading.Event()
        with stop_on_signals(stop):
            results = [run_island(0, problem, shares[0], checkpoint(0), update, stop.is_set, on_history)]
    else:
        context = mp.get_context("spawn")
        counter, stop = context.Value("q", 0), context.Event()
        rows = context.Queue() if on_history else None
        seen: set[tuple[int, int]] = set()
        with (
            stop_on_signals(stop),
            ProcessPoolExecutor(settings.workers, context, _init_worker, (counter, stop, rows)) as pool,
        ):
            futures = [
                pool.submit(_island_in_worker, i, problem, shares[i], checkpoint(i))
                for i in range(settings.workers)
            ]
            while not all(f.done() for f in futures):
                time.sleep(0.2)
                bar.update(counter.value - bar.n)
                if rows is not None:
                    _drain(rows, on_history, seen)
            results = [f.result() for f in futures]
            bar.update(counter.value - bar.n)
            if rows is not None:
                # Rows still in the queue's pipe: take them from the results instead (same rows, in order).
                _drain(rows, on_history, seen)
                for r in results:
                    for row in r.history:
                        if row[1] > r.resumed_at and (row[0], row[1]) not in seen:
                            on_history(row)
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
        resumed_at=sum(r.resumed_at for r in results),
        interrupted=any(r.interrupted for r in results),
        seconds_before=max(r.seconds_before for r in results),  # the islands ran side by side
    )
