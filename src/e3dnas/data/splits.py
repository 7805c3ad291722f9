"""Which video a training read on which side: the split as one row per video (``split.csv`` in the run dir)
and its one-line summary, so that a drawn split (folder layout) can be seen and checked after the fact."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from e3dnas.atomic import atomic_write_csv
from e3dnas.data.annotations import Split

HEADER = ("path", "class", "split", "group")


@dataclass(frozen=True)
class SplitRow:
    path: str
    class_name: str
    split: str
    group: str  # the video's group (folder layout with dataset.group_pattern), else ""


def split_rows(
    splits: dict[str, Split], class_names: Sequence[str], group_of: Callable[[Path], str | None]
) -> list[SplitRow]:
    """One row per usable video of each split (in the order the splits are given)."""
    return [
        SplitRow(str(record.path), class_names[record.label], name, group_of(record.path) or "")
        for name, split in splits.items()
        for record in split.records
    ]


def write_split(path: Path, rows: Sequence[SplitRow]) -> Path:
    return atomic_write_csv(path, HEADER, ((r.path, r.class_name, r.split, r.group) for r in rows))


def describe_split(rows: Sequence[SplitRow]) -> str:
    """``120 train, 30 val videos; val groups: 03, 07`` (groups only where the layout names them)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.split] = counts.get(row.split, 0) + 1
    text = ", ".join(f"{n} {split}" for split, n in counts.items()) + " videos"
    val_groups = sorted({r.group for r in rows if r.split == "val" and r.group})
    return f"{text}; val groups: {', '.join(val_groups)}" if val_groups else text
