"""What every layout parser shares: the record type, the split result, readers that name file and line.

A *record* problem (a CSV line with the wrong number of fields, an unknown label, a JSON entry that is not an
object, a listed video that is not on disk) is skipped and counted; a *file* problem (missing file, invalid
JSON, a JSON split that is not a list, a broken label file) raises DataError naming the file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from e3dnas.data.errors import DataError, SampleError, where

SplitName = Literal["train", "val", "test"]

#: Label of records from a split without labels (Something-Something test lists).
NO_LABEL = -1


@dataclass(frozen=True)
class VideoRecord:
    """One sample as the annotation lists it: its media (a video file or a frame folder) and class index."""

    path: Path
    label: int
    video_id: str


class Row(NamedTuple):
    """One parsed annotation line: ``origin`` is its file:line, ``group`` a layout-specific folder hint."""

    video_id: str
    class_name: str | None
    origin: str
    group: str = ""


@dataclass
class Split:
    """The usable records of one split plus the records that were skipped, each with path and reason."""

    records: list[VideoRecord] = field(default_factory=list)
    skipped: list[SampleError] = field(default_factory=list)

    @property
    def listed(self) -> int:
        """How many records the annotation file listed (usable + skipped)."""
        return len(self.records) + len(self.skipped)


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{where(path)}: {what} not found (check dataset.root)")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{where(path)}: {what} not found")
    return path


def find_file(folder: Path, names: Sequence[str], what: str) -> Path:
    """The one of ``names`` (the official name first, then those of widely used copies) present in ``folder``.

    Two present are refused rather than one picked: they may list different samples, and a silent choice
    would hide which one the run read.
    """
    present = [folder / name for name in names if (folder / name).is_file()]
    if len(present) > 1:
        raise DataError(
            f"{where(folder)}: both {present[0].name} and {present[1].name} are present as the {what}"
            " (two names of the same file): keep one"
        )
    if not present:
        others = f" (nor {', '.join(names[1:])})" if len(names) > 1 else ""
        raise DataError(f"{where(folder / names[0])}: {what} not found{others}")
    return present[0]


def read_lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) of a text file, blank lines dropped."""
    text = require_file(path, what).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def read_class_list(path: Path) -> list[str]:
    """A label file with one class name per line, line order = class index (Something-Something V1)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    text = require_file(path, "label file").read_text(encoding="utf-8")
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        name = line.strip()
        if not name:
            raise DataError(f"{where(path, number)}: empty class name (line order is the class index)")
        if name in seen:
            raise DataError(f"{where(path, number)}: class {name!r} already defined on line {seen[name]}")
        seen[name] = number
        names.append(name)
    if not names:
        raise DataError(f"{where(path)}: label file lists no classes")
    return names


def json_line(text: str, needle: str) -> int | None:
    """Line of the first occurrence of ``needle`` in a JSON text: lets errors about a value name its line."""
    position = text.find(needle)
    return text.count("\n", 0, position) + 1 if position >= 0 else None


def read_json(path: Path, what: str) -> tuple[Any, str]:
    """Parsed JSON and its text; invalid JSON raises DataError with the decoder's line."""
    text = require_file(path, what).read_text(encoding="utf-8")
    try:
        return json.loads(text), text
    except json.JSONDecodeError as error:
        raise DataError(f"{where(path, error.lineno)}: invalid JSON in {what}: {error.msg}") from None


def read_json_list(path: Path, what: str) -> list[Any]:
    value, _ = read_json(path, what)
    if not isinstance(value, list):
        raise DataError(
            f"{where(path, 1)}: {what} must be a JSON list of objects, got {type(value).__name__}"
        )
    return value


def list_names(folder: Path) -> set[str]:
    """Entry names of a folder, read once so that checking every listed video costs one directory scan."""
    try:
        return {entry.name for entry in os.scandir(folder)}
    except OSError:
        return set()


Storage = Literal["video", "frames"]


class Layout(Protocol):
    """Reads one dataset as distributed: class names in label-file order and the records of each split.
    Implementations take ``(media_dir, annotation_dir)`` and read nothing until asked. One whose test
    split is labelled says so with a true ``labelled_test`` attribute: the test stage then reads it instead
    of the validation split."""

    #: How samples are stored: one video file each, or a folder of JPEG frames.
    storage: Storage
    #: True for Something-Something: a horizontal flip turns "left" classes into "right" ones.
    flip_sensitive: bool

    @property
    def class_names(self) -> list[str]: ...

    def split(self, name: SplitName) -> Split: ...


class LayoutFolders:
    """Base of the layout parsers: where the media and the annotation files are. Reads nothing."""

    def __init__(self, media_dir: Path, annotation_dir: Path) -> None:
        self.media_dir = Path(media_dir)
        self.annotation_dir = Path(annotation_dir)


def collect(
    rows: Iterable[Row],
    class_names: list[str],
    media_path: Callable[[Row], tuple[Path, bool]],
    split: Split,
) -> Split:
    """Turn parsed rows into records, skipping unknown labels and media that is not on disk (``media_path``
    gives a row's media path and whether it exists)."""
    class_index = {name: index for index, name in enumerate(class_names)}
    for row in rows:
        if row.class_name is not None and row.class_name not in class_index:
            detail = f"class {row.class_name!r} is not in the label file"
            split.skipped.append(SampleError("unknown_label", row.origin, detail))
            continue
        path, exists = media_path(row)
        if not exists:
            split.skipped.append(SampleError("missing", path, f"listed in {row.origin} but not on disk"))
            continue
        label = NO_LABEL if row.class_name is None else class_index[row.class_name]
        split.records.append(VideoRecord(path=path, label=label, video_id=row.video_id))
    return split
