"""What a search optimises and under which limits, as one value handed to every part of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from e3dnas.budget import Budget
from e3dnas.latency.constraint import LatencyConstraint
from e3dnas.scores import ScorerSpec
from e3dnas.search.settings import SearchSettings
from e3dnas.space import SearchSpace

#: Search settings that only change how a run is watched or written, not its result: resumable across.
UNSIGNED_SETTINGS = ("resume", "checkpoint_every", "top_k")


@dataclass(frozen=True)
class SearchProblem:
    """The space searched, the score maximised, the budget every network must meet and how the evolution
    runs: the islands, their checkpoints and the run's files all read the same one."""

    space: SearchSpace
    scorer: ScorerSpec
    budget: Budget
    settings: SearchSettings

    @property
    def latency(self) -> LatencyConstraint | None:
        """The budget's latency table and limit (None without a table): read once, with the budget."""
        return self.budget.latency

    @property
    def run_name(self) -> str:
        """``<budget>-<scorer>-seed<seed>``: how the run's architecture files are named."""
        return f"{self.budget.name}-{self.scorer.name}-seed{self.settings.seed}"

    def signature(self) -> dict[str, Any]:
        """Everything a search's result depends on, as a tree (the table by its digest)."""
        return {
            "budget": self.budget.signature(),
            "space": asdict(self.space),
            "scorer": {"name": self.scorer.name, "options": dict(self.scorer.options)}
            | ({} if self.scorer._target_ is None else {"target": self.scorer._target_}),
            "search": {k: v for k, v in asdict(self.settings).items() if k not in UNSIGNED_SETTINGS},
        }
