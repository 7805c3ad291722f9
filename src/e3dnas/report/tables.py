"""The comparison table as CSV and Markdown."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from e3dnas.atomic import atomic_write_text
from e3dnas.report.collect import RunRecord

COLUMNS = (
    "kind",
    "budget",
    "seed",
    "model",
    "scorer",
    "score",
    "GFLOPs",
    "params (M)",
    "layers",
    "val top-1",
    "test top-1",
)


def _cells(record: RunRecord, root: Path) -> list[str]:
    def number(value, fmt):
        return "" if value is None else format(value, fmt)

    return [
        record.kind,
        record.budget or "",
        number(record.seed, "d"),
        record.model or "",
        record.scorer or "",
        number(record.score, ".3f"),
        number(None if record.flops is None else record.flops / 1e9, ".3f"),
        number(None if record.params is None else record.params / 1e6, ".3f"),
        number(record.layers, "d"),
        number(None if record.val_top1 is None else 100 * record.val_top1, ".1f"),
        number(None if record.test_top1 is None else 100 * record.test_top1, ".1f"),
    ]


def write_csv(records: list[RunRecord], path: Path) -> Path:
    table = io.StringIO()
    fields = list(records[0].row()) if records else []
    writer = csv.DictWriter(table, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(r.row() for r in records)
    return atomic_write_text(path, table.getvalue())


def markdown(records: list[RunRecord], root: Path) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r, root)) + " |" for r in records]
    return "\n".join(lines) + "\n"
