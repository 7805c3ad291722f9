"""Compute budgets a searched network must meet (conf/budget/*.yaml, docs/method.md "Budgets").

A FLOPs budget means nothing without its counter: the paper's 2.0 / 5.0 / 18.5 G are in the authors'
count (BatchNorm, ReLU and pooling included), which is ~5 % above plain conv MACs at E3D-S/M.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from e3dnas.cost import FLOPS_COUNTERS
from e3dnas.space import SearchSpace


class BudgetError(ValueError):
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
        return cls(
            name=str(name),
            counter=counter,
            frames=int(cfg["frames"]),
            resolution=int(cfg["resolution"]),
            flops=float(cfg["flops"]),
            layers=int(cfg["layers"]),
            params=None if cfg.get("params") is None else float(cfg["params"]),
            reference=cfg.get("reference"),
        )

    def fingerprint(self) -> str:
        """Six hex digits of every field but the name: equal for equal budgets, different otherwise."""
        fields_but_name = {k: v for k, v in self.as_dict().items() if k != "name"}
        return hashlib.sha1(json.dumps(fields_but_name, sort_keys=True).encode()).hexdigest()[:6]

    def fingerprinted(self) -> Budget:
        """This budget named ``<name>-<fingerprint>``: an overridden budget must not pass for the original
        in run names, architecture files, wandb artifacts and reports."""
        return replace(self, name=f"{self.name}-{self.fingerprint()}")

    def space(self, space_cfg: Mapping[str, Any]) -> SearchSpace:
        """The search space of ``space_cfg`` (conf/space) at this budget's input size and layer cap."""
        return SearchSpace.from_config(
            space_cfg, frames=self.frames, resolution=self.resolution, max_layers=self.layers
        )

    def admits(self, flops: np.ndarray, params: np.ndarray, layers: np.ndarray) -> np.ndarray:
        ok = (flops <= self.flops) & (layers <= self.layers)
        if self.params is not None:
            ok &= params <= self.params
        return ok

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
