"""Evolutionary search maximising a training-free score under a budget.

The algorithm is the paper's: pick a parent at random from the population, mutate it twice, keep the
child when it meets every budget, trim the population to the best unique architectures. It runs in
small batches of children so that mutation, cost and score are a few numpy calls per batch; a batch of
64 from a population of 256 behaves like 64 steady-state steps whose parents all come from one snapshot.

The complete state (population, counters, history, plot samples and the RNG) is a plain dict, so a
checkpoint taken between batches resumes to exactly the result of an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from e3dnas import cost
from e3dnas.arch import ArchBatch
from e3dnas.budget import BudgetError
from e3dnas.scores import check_scores
from e3dnas.search.checkpoint import read_checkpoint, run_signature, write_checkpoint
from e3dnas.search.problem import SearchProblem

HISTORY_COLUMNS = ("island", "evaluated", "best_score", "median_score", "best_flops", "accepted_rate")


@dataclass
class Population:
    genes: np.ndarray
    scores: np.ndarray
    flops: np.ndarray
    params: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def merged(self, other: Population, size: int) -> Population:
        """The ``size`` best unique rows of both; ties break by gene order, so the result is deterministic."""
        genes = np.concatenate([self.genes, other.genes])
        _, first = np.unique(genes, axis=0, return_index=True)
        order = first[np.argsort(-np.concatenate([self.scores, other.scores])[first], kind="stable")][:size]
        return Population(
            genes=genes[order],
            scores=np.concatenate([self.scores, other.scores])[order],
            flops=np.concatenate([self.flops, other.flops])[order],
            params=np.concatenate([self.params, other.params])[order],
        )


class Evolution:
    """One island: a population evolving under the problem's budget from its space's seed."""

    def __init__(
        self, problem: SearchProblem, rng: np.random.Generator, island: int = 0, sample_every: int = 1
    ):
        budget = problem.budget
        self.space, self.budget, self.settings = problem.space, budget, problem.settings
        self.score = problem.scorer.build()
        self.latency = problem.latency
        self.rng, self.island, self.sample_every = rng, island, sample_every
        seed = ArchBatch.from_archs([self.space.seed])
        seed_flops, seed_params = cost.flops(seed, budget.counter), cost.params(seed)
        seed_latency = self.predict_latency(seed)
        broken = budget.breaches(
            float(seed_flops[0]),
            float(seed_params[0]),
            int(cost.layers(seed)[0]),
            None if seed_latency is None else float(seed_latency[0]),
        )
        if broken:
            raise BudgetError(
                f"budget {budget.name} is impossible: the seed network already needs {'; '.join(broken)}"
            )
        seed_scores = check_scores(self.score(seed), seed, problem.scorer.name)
        self.population = Population(seed.genes, seed_scores, seed_flops, seed_params)
        self.evaluated = 0
        self.accepted = 0
        self.batches = 0
        self.history: list[tuple] = []
        self.samples: list[np.ndarray] = []  # (flops, score, admitted[, ms]) of every sample_every-th batch
        self._window = [0, 0]  # evaluated, accepted since the last history row

    def predict_latency(self, batch: ArchBatch) -> np.ndarray | None:
        """Predicted ms of each network when the budget has a latency table, else None."""
        return None if self.latency is None else self.latency.predict(batch)

    def step(self, n: int) -> tuple[ArchBatch, np.ndarray]:
        """Evaluate ``n`` children and fold the admitted ones into the population.

        Returns the children and which of them met the budget (studies sample the visited space from it).
        """
        parents = self.population.genes[self.rng.integers(0, len(self.population), n)]
        children = ArchBatch(self.space.skeleton, self.space.mutate(parents, self.rng))
        flops, params = cost.flops(children, self.budget.counter), cost.params(children)
        latency = self.predict_latency(children)
        ok = self.budget.admits(flops, params, cost.layers(children), latency)
        if self.batches % self.sample_every == 0:
            # (FLOPs, score, admitted[, predicted ms]) per child: a latency column only with a table.
            columns = [flops, self.score(children), ok, *([] if latency is None else [latency])]
            self.samples.append(np.stack(columns, axis=1))
        kept = ArchBatch(children.skeleton, children.genes[ok])
        offspring = Population(kept.genes, self.score(kept), flops[ok], params[ok])
        self.population = self.population.merged(offspring, self.settings.population)
        self.batches += 1
        self.evaluated += n
        self.accepted += int(ok.sum())
        self._window[0] += n
        self._window[1] += int(ok.sum())
        every = self.settings.history_every
        if (
            self.evaluated // every > (self.evaluated - n) // every
            or self.evaluated == self.settings.iterations
        ):
            self._record()
        return children, ok

    def _record(self) -> None:
        pop = self.population
        rate = self._window[1] / max(self._window[0], 1)
        self.history.append(
            (
                self.island,
                self.evaluated,
                float(pop.scores[0]),
                float(np.median(pop.scores)),
                float(pop.flops[0]),
                rate,
            )
        )
        self._window = [0, 0]

    def state_dict(self) -> dict[str, Any]:
        return {
            "population": self.population,
            "evaluated": self.evaluated,
            "accepted": self.accepted,
            "batches": self.batches,
            "history": self.history,
            "samples": self.samples,
            "window": self._window,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.population = state["population"]
        self.evaluated, self.accepted, self.batches = state["evaluated"], state["accepted"], state["batches"]
        self.history, self.samples, self._window = state["history"], state["samples"], state["window"]
        self.rng.bit_generator.state = state["rng"]


@dataclass
class SearchResult:
    """What an island, or all islands merged, found and how far they got."""

    population: Population
    history: list[tuple]
    samples: np.ndarray
    evaluated: int
    accepted: int
    seconds: float
    resumed_at: int = 0  # candidates already evaluated by the run this one resumed
    interrupted: bool = False
    seconds_before: float = 0.0  # what the attempts this one resumed spent

    @property
    def evaluated_here(self) -> int:
        """Candidates this run evaluated (a resumed run counts only what it added)."""
        return self.evaluated - self.resumed_at

    @property
    def rate(self) -> float:
        """Candidates per second of this attempt."""
        return self.evaluated_here / max(self.seconds, 1e-9)

    @property
    def total_seconds(self) -> float:
        """The whole search's time, every attempt it resumed included."""
        return self.seconds_before + self.seconds

    @property
    def overall_rate(self) -> float:
        """Candidates per second of the whole search (what a resume adds nothing to, it leaves alone)."""
        return self.evaluated / max(self.total_seconds, 1e-9)


def run_island(
    island: int,
    problem: SearchProblem,
    iterations: int,
    checkpoint: Path | None = None,
    on_progress: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_history: Callable[[tuple], None] | None = None,
) -> SearchResult:
    """Evolve one island for ``iterations`` children, checkpointing every ``checkpoint_every`` seconds.

    With ``settings.resume`` it continues from ``checkpoint``, which must exist and have been written under
    the same settings (:func:`run_signature`). ``should_stop`` is polled between batches: when it turns
    true the island checkpoints and returns early with ``interrupted`` set. ``on_history`` receives each
    new history row as it is recorded (not the rows a resumed checkpoint already held). ``on_progress``
    hears of each batch of children, and of each candidate as it is scored by a scorer that scores one by
    one (a proxy's ``on_scored``): the counts add up to the candidates evaluated either way.
    """
    start = time.perf_counter()
    settings = problem.settings
    rng = np.random.default_rng(np.random.SeedSequence(settings.seed).spawn(island + 1)[island])
    batches = math.ceil(iterations / settings.batch)
    sample_every = max(1, math.ceil(batches * settings.batch / max(settings.pareto_samples, 1)))
    evo = Evolution(problem, rng, island, sample_every)
    signature = run_signature(island, problem, iterations)
    seconds_before = 0.0
    if settings.resume and checkpoint is not None:
        saved = read_checkpoint(checkpoint, signature)
        evo.load_state_dict(saved["state"])
        seconds_before = saved.get("seconds", 0.0)
        if on_progress:
            on_progress(evo.evaluated, float(evo.population.scores[0]))
    resumed_at = evo.evaluated
    reported = len(evo.history)
    ticked = 0  # candidates of the current batch already reported, one by one, by a slow scorer

    def tick() -> None:
        nonlocal ticked
        ticked += 1
        on_progress(1, float(evo.population.scores[0]))

    if on_progress is not None and hasattr(evo.score, "on_scored"):
        evo.score.on_scored = tick

    def save() -> None:
        if checkpoint is not None:
            spent = seconds_before + time.perf_counter() - start
            write_checkpoint(checkpoint, signature, evo.state_dict(), spent)

    last_save = time.monotonic()
    interrupted = False
    while evo.evaluated < iterations:
        if should_stop is not None and should_stop():
            interrupted = True
            break
        n = min(settings.batch, iterations - evo.evaluated)
        evo.step(n)
        if on_progress:
            on_progress(n - ticked, float(evo.population.scores[0]))
            ticked = 0
        if on_history:
            for row in evo.history[reported:]:
                on_history(row)
            reported = len(evo.history)
        if time.monotonic() - last_save >= settings.checkpoint_every:
            save()
            last_save = time.monotonic()
    save()
    columns = 3 if evo.latency is None else 4
    samples = np.concatenate(evo.samples) if evo.samples else np.zeros((0, columns))
    return SearchResult(
        evo.population,
        evo.history,
        samples,
        evo.evaluated,
        evo.accepted,
        time.perf_counter() - start,
        resumed_at,
        interrupted,
        seconds_before,
    )
