"""Compute budgets a searched network must meet (conf/budget/*.yaml, docs/method.md "Budgets").

A FLOPs budget means nothing without its counter: the paper's 2.0 / 5.0 / 18.5 G are in the authors'
count (BatchNorm, ReLU and pooling included), which is ~5 % above plain conv MACs at E3D-S/M. A latency
budget means nothing without its device: it is milliseconds as predicted by a latency table measured on
one (``python -m e3dnas.profile``, docs/latency.md) at the budget's input size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from e3dnas.cost import FLOPS_COUNTERS
from e3dnas.errors import E3DError
from e3dnas.latency.predict import LatencyPredictor
from e3dnas.latency.table import LatencyError, LatencyTable, load_table, table_digest
from e3dnas.schema import check_fields, integer, one_of, positive_number, setting
from e3dnas.space import SearchSpace, build_space

#: Fields that constrain latency; left out of fingerprints when unset.
LATENCY_FIELDS = ("latency_ms", "latency_table")


class BudgetError(E3DError, ValueError):
    """The budget is malformed or impossible; the message says which field and why."""


@dataclass
class Budget:
    """One budget (conf/budget/<name>.yaml); each field's allowed values are beside it."""

    name: str
    frames: int = setting(*integer(1))
    resolution: int = setting(*integer(1))
    #: In ``counter``'s count, on a 1×3×T×R×R clip.
    flops: float = setting(*positive_number())
    #: Stem + 3 per block + head.
    layers: int = setting(*integer(1))
    counter: str = setting(*one_of(FLOPS_COUNTERS), default="authors")
    #: Backbone parameters.
    params: float | None = setting(*positive_number(optional=True), default=None)
    #: The released network (conf/arch/<name>.yaml) this budget is aligned with.
    reference: str | None = None
    #: Predicted ms per forward pass on the latency table's device.
    latency_ms: float | None = setting(*positive_number(optional=True), default=None)
    #: A table of `python -m e3dnas.profile` at this budget's input size.
    latency_table: str | None = None

    def __post_init__(self) -> None:
        """Range checks, numbers as floats (fingerprints hash them), and the latency table read and checked
        to fit: a bad one fails here, with the reason, not in the search."""
        check_fields(self, "budget", BudgetError, f" (budget {self.name})")
        for key in ("flops", "params", "latency_ms"):
            if getattr(self, key) is not None:
                setattr(self, key, float(getattr(self, key)))
        if self.latency_ms is not None and self.latency_table is None:
            raise BudgetError(
                f"budget {self.name}: 'latency_ms' needs 'latency_table' "
                "(a table of python -m e3dnas.profile)"
            )
        self.latency_table_checked()

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Budget:
        """The budget of a plain mapping (a conf/budget file read outside Hydra)."""
        names = [f.name for f in fields(cls)]
        unknown = set(cfg) - set(names)
        if unknown:
            raise BudgetError(f"budget: unknown field(s) {sorted(unknown)} (known: {names})")
        missing = [key for key in names[:5] if cfg.get(key) is None]
        if missing:
            raise BudgetError(f"budget {cfg.get('name', '?')}: field '{missing[0]}' is missing")
        return cls(**cfg)

    def fingerprint(self) -> str:
        """Six hex digits of every field but the name: equal for equal budgets, different otherwise.

        The latency table counts by its content, not its path (a re-profiled table is another budget);
        budgets without latency fields keep the fingerprints they had before those fields existed.
        """
        fields_but_name = {k: v for k, v in self.signature().items() if k != "name"}
        for key in LATENCY_FIELDS:
            if fields_but_name[key] is None:
                del fields_but_name[key]
        return hashlib.sha1(json.dumps(fields_but_name, sort_keys=True).encode()).hexdigest()[:6]

    def signature(self) -> dict[str, Any]:
        """The fields, with the latency table as the digest of its content rather than its path."""
        tree = self.as_dict()
        if self.latency_table is not None:
            tree["latency_table"] = table_digest(self.latency_table)
        return tree

    def fingerprinted(self) -> Budget:
        """This budget named ``<name>-<fingerprint>``: an overridden budget must not pass for the original
        in run names, architecture files, wandb artifacts and reports."""
        return replace(self, name=f"{self.name}-{self.fingerprint()}")

    def space(self, space_cfg: Mapping[str, Any]) -> SearchSpace:
        """The search space of ``space_cfg`` (conf/space) at this budget's input size and layer cap."""
        space = build_space(space_cfg, frames=self.frames, resolution=self.resolution, max_layers=self.layers)
        if self.latency_table is not None:
            problem = self.latency_table_checked().covers(space)
            if problem:
                raise BudgetError(f"budget {self.name}: latency table {self.latency_table}: {problem}")
        return space

    def latency_predictor(self) -> LatencyPredictor | None:
        """The predictor of ``latency_table`` (None without one)."""
        table = self.latency_table_checked()
        return None if table is None else LatencyPredictor(table)

    def latency_table_checked(self) -> LatencyTable | None:
        """``latency_table`` read (None without one) and checked to fit this budget: its input size and
        the FLOPs up to which it timed ops."""
        if self.latency_table is None:
            return None
        try:
            table = load_table(self.latency_table)
        except LatencyError as err:
            raise BudgetError(f"budget {self.name}: {err}") from None
        if table.input_size != (self.frames, self.resolution):
            frames, resolution = table.input_size
            raise BudgetError(
                f"budget {self.name}: latency table {self.latency_table} was measured at "
                f"{frames}×{resolution}², the budget is {self.frames}×{self.resolution}²: profile at this "
                f"size (python -m e3dnas.profile +budget=...)"
            )
        if table.space["flops_cap"] < self.flops:
            raise BudgetError(
                f"budget {self.name}: latency table {self.latency_table} times ops up to "
                f"{table.space['flops_cap']:.3g} FLOPs (budget {table.space['budget']}), this budget allows "
                f"{self.flops:.3g}: profile with this budget"
            )
        return table

    def admits(
        self, flops: np.ndarray, params: np.ndarray, layers: np.ndarray, latency: np.ndarray | None = None
    ) -> np.ndarray:
        """Which networks meet every budget; ``latency`` (predicted ms, NaN: unknown) when it has one."""
        ok = (flops <= self.flops) & (layers <= self.layers)
        if self.params is not None:
            ok &= params <= self.params
        if self.latency_ms is not None:
            ok &= latency <= self.latency_ms
        return ok

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
