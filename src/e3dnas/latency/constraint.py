"""A budget's latency limit and the table it is measured by: read, checked and digested once per search,
then handed to the evolution (which networks it admits), the outputs (``meta.latency``) and the report."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from e3dnas.arch import Arch, ArchBatch
from e3dnas.latency.predict import LatencyPredictor
from e3dnas.latency.table import LatencyError, LatencyTable, read_table
from e3dnas.space import SearchSpace


@dataclass(frozen=True)
class LatencyConstraint:
    """Predicted ms per forward pass on the table's device, at most ``limit_ms`` (None: predicted and
    recorded, not limited)."""

    path: str
    table: LatencyTable
    #: Twelve hex digits of the file's bytes: budgets fingerprint the table by its content, not its path.
    digest: str
    limit_ms: float | None = None

    @classmethod
    def load(
        cls, path: str | os.PathLike, limit_ms: float | None, frames: int, resolution: int, flops: float
    ) -> LatencyConstraint:
        """The table at ``path``, checked to fit networks of ``frames``×``resolution``² up to ``flops``
        (its input size, and the FLOPs up to which it timed ops); a misfit is a one-line
        :class:`LatencyError`."""
        table, digest = read_table(path)
        if table.input_size != (frames, resolution):
            measured_frames, measured_resolution = table.input_size
            raise LatencyError(
                f"latency table {path} was measured at {measured_frames}×{measured_resolution}², the budget "
                f"is {frames}×{resolution}²: profile at this size (python -m e3dnas.profile +budget=...)"
            )
        if table.space["flops_cap"] < flops:
            raise LatencyError(
                f"latency table {path} times ops up to {table.space['flops_cap']:.3g} FLOPs (budget "
                f"{table.space['budget']}), this budget allows {flops:.3g}: profile with this budget"
            )
        return cls(str(path), table, digest, limit_ms)

    @cached_property
    def predictor(self) -> LatencyPredictor:
        """Built on first use: the budget checks of a command line need the table, not its predictor."""
        return LatencyPredictor(self.table)

    def covers(self, space: SearchSpace) -> str | None:
        """Why the table cannot price every network of ``space`` (None when it can)."""
        return self.table.covers(space)

    def predict(self, batch: ArchBatch) -> np.ndarray:
        """Predicted ms of each network (NaN: outside the table)."""
        return self.predictor.predict(batch)

    def predict_arch(self, arch: Arch) -> float:
        return self.predictor.predict_arch(arch)

    def meta(self, ms: float) -> dict[str, Any]:
        """``meta.latency`` of a searched architecture: predicted ms, the table and the device it is for."""
        return {"predicted_ms": ms, "table": self.path, "device": self.table.describe()}
