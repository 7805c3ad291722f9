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
from e3dnas.space import SearchSpace

#: Fields that constrain latency; left out of fingerprints when unset.
LATENCY_FIELDS = ("latency_ms", "latency_table")


class BudgetError(E3DError, ValueError):
    """The budget is malformed or impossible; the message says which field and why."""


@dataclass(frozen=True)
class Budget:
    name: str
    frames: int
    resolution: int
    flops: float
    layers: int
    counter: str = "authors"
    params: float | None = None
    reference: str | None = None  # the released network (conf/arch/<name>.yaml) this budget is aligned with
    latency_ms: float | None = None  # predicted ms per forward pass on the latency table's device
    latency_table: str | None = None  # a table of `python -m e3dnas.profile` at this budget's input size

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Budget:
        known = {f.name for f in fields(cls)}
        unknown = set(cfg) - known
        if unknown:
            raise BudgetError(f"budget: unknown field(s) {sorted(unknown)} (known: {sorted(known)})")
        name = cfg.get("name", "?")
        for key in ("frames", "resolution", "flops", "layers"):
            if key not in cfg or cfg[key] is None:
                raise BudgetError(f"budget {name}: field '{key}' is missing")
        for key in ("frames", "resolution", "flops", "layers", "params"):
            value = cfg.get(key)
            if value is None and key == "params":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise BudgetError(f"budget {name}: '{key}' must be a positive number, got {value!r}")
        counter = cfg.get("counter", "authors")
        if counter not in FLOPS_COUNTERS:
            raise BudgetError(
                f"budget {name}: 'counter' must be one of {', '.join(FLOPS_COUNTERS)}, got {counter!r}"
            )
        latency = cfg.get("latency_ms")
        if latency is not None and (
            isinstance(latency, bool) or not isinstance(latency, int | float) or not latency > 0
        ):
            raise BudgetError(f"budget {name}: 'latency_ms' must be a positive number, got {latency!r}")
        table = cfg.get("latency_table")
        if latency is not None and table is None:
            raise BudgetError(
                f"budget {name}: 'latency_ms' needs 'latency_table' (a table of python -m e3dnas.profile)"
            )
        budget = cls(
            name=str(name),
            counter=counter,
            frames=int(cfg["frames"]),
            resolution=int(cfg["resolution"]),
            flops=float(cfg["flops"]),
            layers=int(cfg["layers"]),
            params=None if cfg.get("params") is None else float(cfg["params"]),
            reference=cfg.get("reference"),
            latency_ms=None if latency is None else float(latency),
            latency_table=None if table is None else str(table),
        )
        budget.latency_table_checked()  # a bad table fails here, with the reason, not in the search
        return budget

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
        space = SearchSpace.from_config(
            space_cfg, frames=self.frames, resolution=self.resolution, max_layers=self.layers
        )
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
