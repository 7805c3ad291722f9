"""The ``search.*`` settings: each default and allowed range is here, once (conf/search.yaml only selects
presets; a preset such as ``+budget=e3d_s_authors`` overrides what it needs)."""

from __future__ import annotations

from dataclasses import dataclass

from e3dnas.errors import E3DError
from e3dnas.schema import check_fields, integer, is_number, setting


class SettingsError(E3DError, ValueError):
    """A ``search.*`` setting is out of range; the message names it."""


@dataclass
class SearchSettings:
    """How long and how the evolution runs (``search.<key>=`` on the command line)."""

    #: Candidates evaluated (children generated and costed), all islands together.
    iterations: int = setting(*integer(1), default=500_000)
    population: int = setting(*integer(1), default=256)
    #: Children per vectorised step (parents drawn from one population snapshot).
    batch: int = setting(*integer(1), default=64)
    seed: int = setting(*integer(0), default=0)
    top_k: int = setting(*integer(1), default=10)
    #: More than 1: independent islands in processes, merged at the end.
    workers: int = setting(*integer(1), default=1)
    #: Continue from <run dir>/checkpoint/ (rerun with hydra.run.dir=<that dir>).
    resume: bool = setting("true or false", lambda v: isinstance(v, bool), default=False)
    #: Seconds between checkpoints.
    checkpoint_every: float = setting(
        "a number of seconds > 0", lambda v: is_number(v) and v > 0, default=30.0
    )
    #: Candidates between history.csv rows.
    history_every: int = setting(*integer(1), default=5_000)
    #: Candidates kept for pareto.png.
    pareto_samples: int = setting(*integer(0), default=20_000)

    def __post_init__(self) -> None:
        check_fields(self, "search", SettingsError)
