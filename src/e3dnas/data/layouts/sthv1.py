"""Something-Something V1: JPEG frame folders ``<media>/<id>/00001.jpg`` and ``;``-separated CSVs; read as
distributed and written the same way."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from e3dnas.data.annotations import (
    LayoutFolders,
    Row,
    Split,
    SplitName,
    collect,
    list_names,
    read_class_list,
    read_lines,
    require_dir,
)
from e3dnas.data.errors import SampleError, where
from e3dnas.data.writers import Clip, Rows, write_jpegs
from e3dnas.registry import register_layout

PREFIX = "something-something-v1"
SPLIT_FILES: dict[SplitName, str] = {"train": "train", "val": "validation", "test": "test"}


@register_layout("sthv1")
class SthV1Layout(LayoutFolders):
    """Something-Something V1: JPEG frame folders and ``;``-separated CSVs."""

    storage, flip_sensitive = "frames", True

    @cached_property
    def class_names(self) -> list[str]:
        require_dir(self.annotation_dir, "annotation folder")
        return read_class_list(self.annotation_dir / f"{PREFIX}-labels.csv")

    def split(self, name: SplitName) -> Split:
        split = Split()
        folders = list_names(require_dir(self.media_dir, "frame folder root"))
        rows = self._rows(self.annotation_dir / f"{PREFIX}-{SPLIT_FILES[name]}.csv", name != "test", split)
        return collect(
            rows,
            self.class_names,
            lambda row: (self.media_dir / row.video_id, row.video_id in folders),
            split,
        )

    @staticmethod
    def _rows(path: Path, labelled: bool, split: Split) -> Iterator[Row]:
        fields = 2 if labelled else 1
        for number, line in read_lines(path, "split file"):
            parts = [part.strip() for part in line.split(";")]
            if len(parts) != fields:
                detail = (
                    f"expected {fields} ';'-separated field(s) (<video_id>;<class name>), got {len(parts)}"
                )
                split.skipped.append(SampleError("bad_line", where(path, number), detail))
                continue
            yield Row(parts[0], parts[1] if labelled else None, where(path, number))

    @staticmethod
    def write_clip(root: Path, clip: Clip, fps: int) -> None:
        write_jpegs(root / clip.video_id, clip.frames)

    @staticmethod
    def write_annotations(root: Path, rows: Rows, class_names: list[str], fps: int) -> None:
        (root / f"{PREFIX}-labels.csv").write_text("".join(f"{name}\n" for name in class_names))
        for split, clips in rows.items():
            lines = [c.video_id if split == "test" else f"{c.video_id};{c.class_name}" for c in clips]
            (root / f"{PREFIX}-{SPLIT_FILES[split]}.csv").write_text("".join(f"{line}\n" for line in lines))
