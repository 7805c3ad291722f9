"""The run records e3dnas writes and reads back: a search's ``summary.json``, a training's ``results.json``
and an evaluation's ``metrics.json``, each a dataclass with a ``schema_version``.

The writers build the record from the dict they always wrote (:meth:`Record.from_dict`, which checks it) and
:func:`write_record` adds the version; the report and the experiments read every file through
:func:`read_record`, so a field's name and type live here once. A file that is not such a record (another
tool's JSON, a field missing or of the wrong type, a newer schema) is one :class:`RecordError` line naming
the file and the field. Files written before the version existed (no ``schema_version``) are read with one
documented fallback: their ``params``, always the backbone's count, is read as ``params_backbone``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from e3dnas.atomic import atomic_write_text
from e3dnas.errors import E3DError

#: The version of every record written now; files without one are version 0.
SCHEMA_VERSION = 1


class RecordError(E3DError, ValueError):
    """A run record cannot be read: the message names the file and the field at fault."""


R = TypeVar("R", bound="Record")


@dataclass(frozen=True, kw_only=True)
class Record:
    """Fields common to every record; ``extra`` keeps the keys a record does not declare (the test
    metrics a training logs, say), written back flat."""

    kind: ClassVar[str]
    filename: ClassVar[str]
    #: Fields the writer leaves out of the file while they are None, as files always had them (an
    #: architecture's cost for a model without one, the latency of a search without a latency table).
    absent_when_none: ClassVar[tuple[str, ...]] = ()

    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any], source: str = "") -> R:
        """The record of ``data`` (a file's JSON); RecordError naming ``source`` and the field at fault."""
        source = source or cls.filename
        if not isinstance(data, dict):
            raise RecordError(f"{source}: not a {cls.kind} record (a JSON object), got {type(data).__name__}")
        data = dict(data)
        version = data.pop("schema_version", 0)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise RecordError(
                f"{source}: schema_version {version!r} is not one this e3dnas reads (<= {SCHEMA_VERSION}); "
                "update e3dnas"
            )
        if version == 0 and "params" in data:
            data["params_backbone"] = data.pop("params")  # "params" was always the backbone's count
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name in ("schema_version", "extra"):
                continue
            if field.name not in data:
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                    raise RecordError(f"{source}: field {field.name!r} is missing (not a {cls.kind} record?)")
                continue
            value = data.pop(field.name)
            if not _fits(value, hints[field.name]):
                raise RecordError(
                    f"{source}: field {field.name!r} must be {_words(hints[field.name])}, got {value!r}"
                )
            values[field.name] = value
        return cls(**values, schema_version=version, extra=data)

    def to_dict(self) -> dict[str, Any]:
        """The record as its file holds it: ``schema_version`` first, then the fields in order, then
        ``extra``; optional fields left out while None."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("schema_version", "extra"):
                continue
            if value is None and field.name in self.absent_when_none:
                continue
            out[field.name] = value
        return out | self.extra


@dataclass(frozen=True, kw_only=True)
class SearchSummary(Record):
    """``summary.json``: what a search was asked (budget, scorer, settings) and what it found."""

    kind: ClassVar[str] = "search summary"
    filename: ClassVar[str] = "summary.json"
    absent_when_none = ("best_flops_by_counter", "best_latency_ms")

    budget: dict[str, Any]
    scorer: dict[str, Any]
    settings: dict[str, Any]
    best_score: float
    best_flops: float
    best_flops_by_counter: dict[str, float] | None = None  # absent in searches before counters
    best_latency_ms: float | None = None  # with a latency table (docs/latency.md)
    # The search's effort (absent in the earliest files):
    evaluated: int | None = None
    accepted: int | None = None
    seconds: float | None = None  # every attempt of a resumed search
    candidates_per_second: float | None = None
    evaluated_here: int | None = None
    seconds_here: float | None = None


@dataclass(frozen=True, kw_only=True)
class TrainResults(Record):
    """``results.json``: a training's network, its sizes and its accuracies (test metrics in ``extra``)."""

    kind: ClassVar[str] = "training results"
    filename: ClassVar[str] = "results.json"
    absent_when_none = (
        *("arch", "flops", "authors_flops", "params_backbone", "layers", "budget", "score", "params_total"),
        *("test_top1", "test_split"),
    )

    model: str
    dataset: str
    # The architecture's summary, for a network of an architecture file only:
    arch: str | None = None
    flops: float | None = None  # conv MACs per clip at the trained size
    authors_flops: float | None = None
    params_backbone: int | None = None  # the searched backbone (what budgets and best.yaml count)
    layers: int | None = None
    budget: str | None = None
    score: float | None = None
    params_total: int | None = None  # the whole trained network: backbone, head and classifier
    best_checkpoint: str | None = None
    last_checkpoint: str | None = None
    val_top1: float | None = None
    final_val_top1: float | None = None
    frames: int | None = None
    resolution: int | None = None
    epochs: int | None = None
    global_step: int | None = None
    init_from: str | None = None
    lr_scaling: dict[str, Any] | None = None
    test_top1: float | None = None
    test_split: str | None = None  # the split test_top1 was measured on (test, or val)
    skipped_samples: int | None = None


@dataclass(frozen=True, kw_only=True)
class EvalMetrics(Record):
    """``metrics.json``: an evaluation of a checkpoint on a dataset (top-k accuracies beside ``top1``)."""

    kind: ClassVar[str] = "evaluation metrics"
    filename: ClassVar[str] = "metrics.json"
    absent_when_none = ("top1",)

    ckpt: str
    dataset: str
    root: str
    frames: int
    resolution: int
    trained_frames: int | None = None
    trained_resolution: int | None = None
    views: str
    split: str
    protocol: dict[str, Any]
    videos: int
    top1: float | None = None
    skipped_samples: int | None = None


def write_record(path: Path, record: Record) -> None:
    """Write ``record`` to ``path`` atomically, with its schema version."""
    atomic_write_text(path, json.dumps(record.to_dict(), indent=2))


def read_record(path: Path, kind: type[R]) -> R:
    """The record of kind ``kind`` in ``path``; RecordError naming the file (and field) if it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: not JSON ({err})") from None
    return kind.from_dict(data, str(path))


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)


def _words(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", dict: "an object", type(None): "null"}
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return " or ".join(names.get(typing.get_origin(a) or a, str(a)) for a in args)
