"""The comparison table as CSV and Markdown."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path

from e3dnas.atomic import atomic_write_csv
from e3dnas.report.collect import RunRecord

COLUMNS = (
    "kind",
    "budget",
    "seed",
    "model",
    "scorer",
    "score",
    "GFLOPs (authors')",
    "GFLOPs (conv MACs)",
    "params (M)",
    "layers",
    "val top-1",
    "test top-1",
)


#: Shown when a run predicted latency (its search had a latency table).
LATENCY_COLUMN = "latency (ms, predicted)"


def _number(value, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _cells(record: RunRecord) -> list[str]:
    return [
        record.kind,
        record.budget or "",
        _number(record.seed, "d"),
        record.model or "",
        record.scorer or "",
        _number(record.score, ".3f"),
        _number(None if record.authors_flops is None else record.authors_flops / 1e9, ".3f"),
        _number(None if record.flops is None else record.flops / 1e9, ".3f"),
        _number(None if record.params is None else record.params / 1e6, ".3f"),
        _number(record.layers, "d"),
        _number(None if record.val_top1 is None else 100 * record.val_top1, ".1f"),
        _number(None if record.test_top1 is None else 100 * record.test_top1, ".1f")
        + (" (val split)" if record.test_top1 is not None and record.test_split == "val" else ""),
    ]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table of already formatted cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(records: list[RunRecord], path: Path) -> Path:
    header = [field.name for field in fields(RunRecord)]
    return atomic_write_csv(path, header, [list(r.row().values()) for r in records])


def markdown(records: list[RunRecord]) -> str:
    """The table; with a latency column after ``layers`` when any run predicted latency."""
    if not any(r.latency_ms is not None for r in records):
        return markdown_table(COLUMNS, [_cells(r) for r in records]) + "\n"
    at = COLUMNS.index("layers") + 1
    header = [*COLUMNS[:at], LATENCY_COLUMN, *COLUMNS[at:]]
    rows = [[*c[:at], _number(r.latency_ms, ".2f"), *c[at:]] for r, c in ((r, _cells(r)) for r in records)]
    return markdown_table(header, rows) + "\n"
