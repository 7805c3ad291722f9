"""The comparison table as CSV and Markdown."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path

from e3dnas.atomic import atomic_write_csv
from e3dnas.report.collect import RunRecord

COLUMNS = (
    "kind",
    "run dir",
    "dataset",
    "budget",
    "seed",
    "model",
    "scorer",
    "score",
    "GFLOPs (authors')",
    "GFLOPs (conv MACs)",
    "params backbone (M)",
    "params total (M)",
    "layers",
    "val top-1",
    "test top-1",
)


#: Shown when a run predicted latency (its search had a latency table).
LATENCY_COLUMN = "latency (ms, predicted)"


def _number(value, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _millions(count: int | None) -> str:
    return _number(None if count is None else count / 1e6, ".3f")


def _cells(record: RunRecord, root: Path | None) -> list[str]:
    run_dir = Path(record.run_dir)
    shown = run_dir.relative_to(root) if root is not None and run_dir.is_relative_to(root) else run_dir
    return [
        record.kind,
        str(shown),
        record.dataset or "",
        record.budget or "",
        _number(record.seed, "d"),
        record.model or "",
        record.scorer or "",
        _number(record.score, ".3f"),
        _number(None if record.authors_flops is None else record.authors_flops / 1e9, ".3f"),
        _number(None if record.flops is None else record.flops / 1e9, ".3f"),
        _millions(record.params_backbone),
        _millions(record.params_total),
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


def markdown(records: list[RunRecord], root: Path | None = None) -> str:
    """The table, run dirs relative to ``root``; with a latency column after ``layers`` when any run
    predicted latency."""
    if not any(r.latency_ms is not None for r in records):
        return markdown_table(COLUMNS, [_cells(r, root) for r in records]) + "\n"
    at = COLUMNS.index("layers") + 1
    header = [*COLUMNS[:at], LATENCY_COLUMN, *COLUMNS[at:]]
    rows = [
        [*c[:at], _number(r.latency_ms, ".2f"), *c[at:]] for r, c in ((r, _cells(r, root)) for r in records)
    ]
    return markdown_table(header, rows) + "\n"
