"""The latency table file: per-op latencies on a channel grid, what they were measured on, and the
calibration that turns a sum of ops into a network's latency.

JSON, written atomically. Top-level keys: ``format``, ``created``, ``device`` (device, device_name,
torch, threads, batch, dtype, channels_last, compile), ``timing`` (method, statistic, warm-up, run time),
``input`` (frames, resolution), ``space`` (the skeleton every network shares, the space's kernels and
channel multiple, the grid ratio and the FLOPs cap the table was planned for), ``entries`` (name → kind,
side, stride, kernel, residual, axes, grid, ms; ``null`` where a point was not timed) and
``calibration`` (:class:`Calibration`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from e3dnas.arch import Skeleton
from e3dnas.atomic import atomic_write_text
from e3dnas.errors import E3DError
from e3dnas.latency.grid import interpolate
from e3dnas.latency.ops import Entry
from e3dnas.space import SearchSpace

FORMAT_VERSION = 1


class LatencyError(E3DError, ValueError):
    """A latency table is missing, malformed or does not fit the networks asked about."""


@dataclass(frozen=True)
class Calibration:
    """network ms = scale · Σ op ms + per_block_ms · blocks, fitted on whole networks timed by the
    profiler (:mod:`e3dnas.latency.calibrate`; ``networks``: genes, ops_ms, blocks, measured_ms of each)."""

    scale: float = 1.0
    per_block_ms: float = 0.0
    networks: tuple[dict[str, Any], ...] = ()

    def apply(self, ops_ms: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        return self.scale * ops_ms + self.per_block_ms * blocks


@dataclass(frozen=True)
class TableEntry:
    entry: Entry
    grid: tuple[np.ndarray, ...]
    ms: np.ndarray  # NaN where not timed

    def at(self, points: np.ndarray) -> np.ndarray:
        """Interpolated ms at channel ``points`` (N, len(axes)); NaN outside what was timed."""
        return interpolate(self.grid, self.ms, np.asarray(points))

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "kind": e.kind,
            "side": e.side,
            "stride": e.stride,
            "kernel": list(e.kernel),
            "residual": e.residual,
            "axes": list(e.axes),
            "grid": [axis.tolist() for axis in self.grid],
            "ms": _nan_to_none(self.ms.tolist()),
        }

    @classmethod
    def from_dict(cls, tree: dict[str, Any]) -> TableEntry:
        entry = Entry(tree["kind"], tree["side"], tree["stride"], tuple(tree["kernel"]), tree["residual"])
        grid = tuple(np.asarray(axis, dtype=np.int64) for axis in tree["grid"])
        ms = np.asarray(_none_to_nan(tree["ms"]), dtype=np.float64)
        if ms.shape != tuple(len(axis) for axis in grid) or len(grid) != len(entry.axes):
            raise ValueError(f"entry {entry.name}: ms of shape {ms.shape} does not match its grid")
        return cls(entry, grid, ms)


def _nan_to_none(value):
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if value != value else value


def _none_to_nan(value):
    if isinstance(value, list):
        return [_none_to_nan(v) for v in value]
    return float("nan") if value is None else value


def skeleton_to_dict(skeleton: Skeleton) -> dict[str, Any]:
    tree = asdict(skeleton)
    return tree | {"stem_kernel": list(skeleton.stem_kernel), "strides": list(skeleton.strides)}


def skeleton_from_dict(tree: dict[str, Any]) -> Skeleton:
    return Skeleton(**tree | {"stem_kernel": tuple(tree["stem_kernel"]), "strides": tuple(tree["strides"])})


@dataclass(frozen=True)
class LatencyTable:
    device: dict[str, Any]
    timing: dict[str, Any]
    skeleton: Skeleton
    space: dict[str, Any]  # kernels, channel_multiple, grid_ratio, flops_cap, budget
    entries: dict[str, TableEntry]
    calibration: Calibration = field(default_factory=Calibration)
    created: str = ""

    @property
    def input_size(self) -> tuple[int, int]:
        return self.skeleton.frames, self.skeleton.resolution

    def describe(self) -> str:
        """One line: what the table's latencies are for."""
        d = self.device
        return (
            f"{d['device_name']} ({d['device']}, {d['threads']} threads, batch {d['batch']}, {d['dtype']}"
            f"{', channels_last' if d['channels_last'] else ''}{', compiled' if d['compile'] else ''}; "
            f"torch {d['torch']}) at {self.skeleton.frames}×{self.skeleton.resolution}²"
        )

    def covers(self, space: SearchSpace) -> str | None:
        """Why this table cannot price every network of ``space`` (None when it can)."""
        if space.skeleton != self.skeleton:
            return "measured for another input size, stem, strides, head or activation than the space's"
        multiple = self.space["channel_multiple"]
        if space.channel_multiple != multiple:
            return f"channels on multiples of {multiple}, the space's of {space.channel_multiple}"
        missing = [list(k) for k in space.kernels if list(k) not in self.space["kernels"]]
        if missing:
            return f"no timings for kernels {missing} of the space"
        return None

    def entry(self, entry: Entry) -> TableEntry:
        try:
            return self.entries[entry.name]
        except KeyError:
            raise LatencyError(
                f"the latency table has no entry {entry.name}: it was profiled for another space "
                "(kernels, strides) or input size"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "created": self.created,
            "device": self.device,
            "timing": self.timing,
            "input": {"frames": self.skeleton.frames, "resolution": self.skeleton.resolution},
            "skeleton": skeleton_to_dict(self.skeleton),
            "space": self.space,
            "calibration": asdict(self.calibration) | {"networks": list(self.calibration.networks)},
            "entries": {name: e.to_dict() for name, e in self.entries.items()},
        }

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, tree: dict[str, Any]) -> LatencyTable:
        if tree.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {tree.get('format')!r} (this e3dnas reads {FORMAT_VERSION})")
        calibration = dict(tree["calibration"])
        calibration["networks"] = tuple(calibration.get("networks", ()))
        return cls(
            device=tree["device"],
            timing=tree["timing"],
            skeleton=skeleton_from_dict(tree["skeleton"]),
            space=tree["space"],
            entries={name: TableEntry.from_dict(e) for name, e in tree["entries"].items()},
            calibration=Calibration(**calibration),
            created=tree.get("created", ""),
        )


def load_table(path: str | os.PathLike) -> LatencyTable:
    """Read a table file; every problem is a one-line :class:`LatencyError` naming the file."""
    return read_table(path)[0]


def read_table(path: str | os.PathLike) -> tuple[LatencyTable, str]:
    """The table of a file and the digest of its bytes (twelve hex digits: a re-profiled table is another
    budget), from one read; every problem is a one-line :class:`LatencyError` naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
        tree = json.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise LatencyError(
            f"latency table {path}: no such file (make one: python -m e3dnas.profile +budget=...)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LatencyError(f"latency table {path}: cannot read: {err}") from None
    try:
        table = LatencyTable.from_dict(tree)
    except (KeyError, TypeError, ValueError) as err:
        raise LatencyError(f"latency table {path}: not a latency table: {type(err).__name__} {err}") from None
    return table, hashlib.sha1(data).hexdigest()[:12]
