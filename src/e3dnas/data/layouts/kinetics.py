"""Kinetics-400: ``train.csv`` / ``validate.csv`` (or ``val.csv``, as the widely used CVDF mirror names it) /
``test.csv`` (``label,youtube_id,time_start,time_end,split``) and clips
``<youtube_id>_<start:06d>_<end:06d>.mp4``, flat or under ``<split>/<label>/``.

The official files define no class index: classes are the sorted label names of ``train.csv`` (the convention
of the published Kinetics models). Missing clips are normal (videos disappear): they are skipped and
counted. Written the same way (flat or per class) by ``write_clip`` / ``write_annotations``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from e3dnas.data.annotations import (
    LayoutFolders,
    Row,
    Split,
    SplitName,
    collect,
    find_file,
    list_names,
    require_dir,
    require_file,
)
from e3dnas.data.errors import DataError, SampleError, where
from e3dnas.data.writers import Clip, Rows, write_video
from e3dnas.registry import register_layout

#: Accepted names of each split file: the official one first (the one the demo builder writes).
SPLIT_NAMES: dict[SplitName, tuple[str, ...]] = {
    "train": ("train.csv",),
    "val": ("validate.csv", "val.csv"),
    "test": ("test.csv",),
}
SPLIT_FILES: dict[SplitName, str] = {split: names[0] for split, names in SPLIT_NAMES.items()}
COLUMNS = ("youtube_id", "time_start", "time_end", "split")


def clip_stem(youtube_id: str, start: int, end: int) -> str:
    """File name of a clip without ``.mp4``: also its video id."""
    return f"{youtube_id}_{start:06d}_{end:06d}"


@register_layout("k400")
class KineticsLayout(LayoutFolders):
    storage = "video"
    flip_sensitive = False

    def __init__(self, media_dir: Path, annotation_dir: Path) -> None:
        super().__init__(media_dir, annotation_dir)
        self._folders: dict[Path, set[str]] = {}

    @property
    def labelled_test(self) -> bool:
        """test.csv carries labels: the test stage reads it when it is there."""
        return any((self.annotation_dir / name).is_file() for name in SPLIT_NAMES["test"])

    @cached_property
    def class_names(self) -> list[str]:
        path = self._split_file("train")
        labels = {row.class_name for row in self._rows(path, Split()) if row.class_name is not None}
        if not labels:
            raise DataError(f"{where(path)}: no labelled clips to define classes")
        return sorted(labels)

    def _split_file(self, name: SplitName) -> Path:
        require_dir(self.annotation_dir, "annotation folder")
        return find_file(self.annotation_dir, SPLIT_NAMES[name], "split file")

    def split(self, name: SplitName) -> Split:
        require_dir(self.media_dir, "video folder")
        split = Split()
        return collect(self._rows(self._split_file(name), split), self.class_names, self._find, split)

    def _find(self, row: Row) -> tuple[Path, bool]:
        """The clip flat in the media folder or in ``<split>/<label>/`` (label as is or with underscores)."""
        name, split_dir, label = f"{row.video_id}.mp4", self.media_dir / row.group, row.class_name
        folders = [self.media_dir]
        if label is not None:
            folders += [split_dir / label, split_dir / label.replace(" ", "_")]
        folders.append(split_dir)
        for folder in folders:
            if name in self._names(folder):
                return folder / name, True
        return self.media_dir / name, False

    def _names(self, folder: Path) -> set[str]:
        if folder not in self._folders:
            self._folders[folder] = list_names(folder)
        return self._folders[folder]

    @staticmethod
    def _rows(path: Path, split: Split) -> Iterator[Row]:
        """One row per clip; its ``group`` is the split column, the folder of the per-class layout."""
        with require_file(path, "split file").open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = [column.strip() for column in next(reader, [])]
            missing = [column for column in COLUMNS if column not in header]
            if missing:
                raise DataError(f"{where(path, 1)}: header {header} lacks column(s) {missing}")
            column = {name: header.index(name) for name in header}
            for row in reader:
                origin = where(path, reader.line_num)
                if not any(field.strip() for field in row):
                    continue
                if len(row) != len(header):
                    detail = (
                        f"expected {len(header)} comma-separated fields ({','.join(header)}), got {len(row)}"
                    )
                    split.skipped.append(SampleError("bad_line", origin, detail))
                    continue
                try:
                    start, end = int(row[column["time_start"]]), int(row[column["time_end"]])
                except ValueError:
                    split.skipped.append(
                        SampleError("bad_line", origin, "time_start/time_end are not integers")
                    )
                    continue
                stem = clip_stem(row[column["youtube_id"]].strip(), start, end)
                label = row[column["label"]].strip() if "label" in column else None
                yield Row(stem, label or None, origin, row[column["split"]].strip())

    @staticmethod
    def write_clip(root: Path, clip: Clip, fps: int, per_class_folders: bool = False) -> None:
        """The clip flat in ``root`` or, with ``per_class_folders``, under ``<split>/<label>/``."""
        name = clip_stem(*_youtube_times(clip, fps)) + ".mp4"
        folder = root / clip.split / clip.class_name if per_class_folders else root
        write_video(folder / name, clip.frames, fps)

    @staticmethod
    def write_annotations(root: Path, rows: Rows, class_names: list[str], fps: int) -> None:
        """The CSVs only: Kinetics has no label file (its reader sorts the label names)."""
        for split, clips in rows.items():
            with (root / SPLIT_FILES[split]).open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["label", *COLUMNS])
                writer.writerows([clip.class_name, *_youtube_times(clip, fps), split] for clip in clips)


def _youtube_times(clip: Clip, fps: int) -> tuple[str, int, int]:
    """(youtube_id, time_start, time_end) of a written clip: an 11-character id and whole seconds, as in the
    official CSVs."""
    start = clip.start // fps
    return f"yt{int(clip.video_id):09d}", start, start + max(1, round(len(clip.frames) / fps))
