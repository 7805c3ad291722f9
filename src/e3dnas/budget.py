"""Compute budgets a searched network must meet (conf/budget/*.yaml, docs/method.md "Budgets").

A FLOPs budget means nothing without its counter: the paper's 2.0 / 5.0 / 18.5 G are in the authors'
count (BatchNorm, ReLU and pooling included), which is ~5 % above plain conv MACs at E3D-S/M. A latency
budget means nothing without its device: it is milliseconds as predicted by a latency table measured on
one (``python -m e3dnas.profile``, docs/latency.md) at the budget's input size.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from e3dnas.cost import FLOPS_COUNTERS
from e3dnas.errors import E3DError
from e3dnas.latency.constraint import LatencyConstraint
from e3dnas.latency.table import LatencyError
from e3dnas.schema import check_fields, integer, one_of, positive_number, setting
from e3dnas.space import SearchSpace, build_space

if TYPE_CHECKING:
    from omegaconf import DictConfig

#: Fields that constrain latency; left out of fingerprints when unset.
LATENCY_FIELDS = ("latency_ms", "latency_table")


class BudgetError(E3DError, ValueError):
    """The budget is malformed or impossible; the message says which field and why."""


@dataclass
class Budget:
    """One budget (conf/budget/<name>.yaml); each field's allowed values are beside it.

    A value: built once per search (by its config reader, which also decides whether the command line
    changed it: :meth:`fingerprinted`) and never changed after, so that the search, its checkpoints and its
    files all see the same one.
    """

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
        to fit (:attr:`latency`): a bad one fails here, with the reason, not in the search."""
        check_fields(self, "budget", BudgetError, f" (budget {self.name})")
        for key in ("flops", "params", "latency_ms"):
            if getattr(self, key) is not None:
                setattr(self, key, float(getattr(self, key)))
        if self.latency_ms is not None and self.latency_table is None:
            raise BudgetError(
                f"budget {self.name}: 'latency_ms' needs 'latency_table' "
                "(a table of python -m e3dnas.profile)"
            )
        #: The latency table, its digest and predictor, and ``latency_ms`` (None without a table).
        self.latency: LatencyConstraint | None = None
        if self.latency_table is not None:
            try:
                self.latency = LatencyConstraint.load(
                    self.latency_table, self.latency_ms, self.frames, self.resolution, self.flops
                )
            except LatencyError as err:
                raise BudgetError(f"budget {self.name}: {err}") from None

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
        if self.latency is not None:
            tree["latency_table"] = self.latency.digest
        return tree

    def fingerprinted(self) -> Budget:
        """This budget named ``<name>-<fingerprint>``: an overridden budget must not pass for the original
        in run names, architecture files, wandb artifacts and reports. A renamed copy: its fields were
        checked and its table read already."""
        renamed = copy.copy(self)
        renamed.name = f"{self.name}-{self.fingerprint()}"
        return renamed

    def space(self, space_cfg: Mapping[str, Any]) -> SearchSpace:
        """The search space of ``space_cfg`` (conf/space) at this budget's input size and layer cap."""
        space = build_space(space_cfg, frames=self.frames, resolution=self.resolution, max_layers=self.layers)
        if self.latency is not None:
            problem = self.latency.covers(space)
            if problem:
                raise BudgetError(f"budget {self.name}: latency table {self.latency_table}: {problem}")
        return space

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

    def breaches(
        self, flops: float, params: float, layers: int, latency_ms: float | None = None
    ) -> list[str]:
        """Each limit one network breaks, in words (``0.566 > 0.100 GFLOPs (authors)``): the one place a
        broken limit is written. A limit the budget does not set (``params``, ``latency_ms``) is never
        broken; an unknown latency (None or NaN) breaks nothing."""
        limits = [
            (flops, self.flops, f"{flops / 1e9:.3f} > {self.flops / 1e9:.3f} GFLOPs ({self.counter})"),
            (layers, self.layers, f"{layers} > {self.layers} layers"),
            (params, self.params, f"{params / 1e6:.2f} > {(self.params or 0) / 1e6:.2f} M params"),
            (latency_ms, self.latency_ms, f"{latency_ms or 0:.1f} > {self.latency_ms or 0:g} ms predicted"),
        ]
        return [text for value, limit, text in limits if None not in (value, limit) and value > limit]

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def is_given(node: DictConfig | None) -> bool:
    """Whether a composed config chose a budget: the node is absent (``null``) or its fields are
    unfilled (``???``) until ``+budget=NAME`` fills them."""
    from omegaconf import OmegaConf

    return node is not None and not OmegaConf.is_missing(node, "name")
