"""Something-Something V2: ``<media>/<id>.webm`` (VP9) with ``labels.json`` and JSON split lists
(``train.json``, ``validation.json``, ``test.json``), or the same files under the names of the original
release, ``something-something-v2-{labels,train,validation,test}.json``; read as distributed and written the
same way."""

from __future__ import annotations

import json
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
    json_line,
    list_names,
    read_json,
    read_json_list,
    require_dir,
)
from e3dnas.data.errors import DataError, SampleError, where
from e3dnas.data.writers import Clip, Rows, template_class, write_video
from e3dnas.registry import register_layout

SPLIT_FILES: dict[SplitName, str] = {"train": "train.json", "val": "validation.json", "test": "test.json"}
#: The original release prefixes every annotation file: ``something-something-v2-labels.json``, ...
RELEASE_PREFIX = "something-something-v2-"
LABEL_FILE = "labels.json"
EXTENSION = ".webm"


@register_layout("sthv2")
class SthV2Layout(LayoutFolders):
    storage = "video"
    flip_sensitive = True

    @cached_property
    def class_names(self) -> list[str]:
        """Names ordered by the indices of ``labels.json`` (``{"class": "index"}``), which must be 0..n-1."""
        path = self._annotation_file(LABEL_FILE, "label file")
        mapping, text = read_json(path, "label file")
        if not isinstance(mapping, dict) or not mapping:
            raise DataError(f"{where(path, 1)}: {path.name} must be a non-empty object {{class: index}}")
        names: dict[int, str] = {}
        for name, value in mapping.items():
            line = json_line(text, json.dumps(name))
            try:
                index = int(value)
            except (TypeError, ValueError):
                raise DataError(
                    f"{where(path, line)}: index of {name!r} is {value!r}, not an integer"
                ) from None
            if index in names or not 0 <= index < len(mapping):
                raise DataError(
                    f"{where(path, line)}: index {index} of {name!r} is a duplicate"
                    f" or outside 0..{len(mapping) - 1}"
                )
            names[index] = name
        return [names[index] for index in range(len(mapping))]

    def split(self, name: SplitName) -> Split:
        videos = list_names(require_dir(self.media_dir, "video folder"))
        split = Split()

        def media(row: Row) -> tuple[Path, bool]:
            return self.media_dir / f"{row.video_id}{EXTENSION}", f"{row.video_id}{EXTENSION}" in videos

        rows = self._rows(self._annotation_file(SPLIT_FILES[name], "split file"), name != "test", split)
        return collect(rows, self.class_names, media, split)

    def _annotation_file(self, name: str, what: str) -> Path:
        """``name`` or its original-release name ``something-something-v2-<name>``, never both."""
        require_dir(self.annotation_dir, "annotation folder")
        return find_file(self.annotation_dir, (name, RELEASE_PREFIX + name), what)

    @staticmethod
    def _rows(path: Path, labelled: bool, split: Split) -> Iterator[Row]:
        keys = ("id", "template") if labelled else ("id",)
        for number, entry in enumerate(read_json_list(path, "split file")):
            origin = f"{where(path)} entry {number}"
            if not isinstance(entry, dict) or any(not isinstance(entry.get(key), str) for key in keys):
                detail = f"expected an object with string fields {', '.join(keys)}, got {str(entry)[:80]!r}"
                split.skipped.append(SampleError("bad_entry", origin, detail))
                continue
            yield Row(entry["id"], template_class(entry["template"]) if labelled else None, origin)

    @staticmethod
    def write_clip(root: Path, clip: Clip, fps: int) -> None:
        write_video(root / f"{clip.video_id}{EXTENSION}", clip.frames, fps)

    @staticmethod
    def write_annotations(root: Path, rows: Rows, class_names: list[str], fps: int) -> None:
        (root / LABEL_FILE).write_text(
            json.dumps({name: str(index) for index, name in enumerate(class_names)}, indent=1)
        )
        for split, clips in rows.items():
            entries = [
                {"id": c.video_id}
                if split == "test"
                else {
                    "id": c.video_id,
                    "label": c.template.replace("[something]", c.source),
                    "template": c.template,
                    "placeholders": [c.source],
                }
                for c in clips
            ]
            (root / SPLIT_FILES[split]).write_text(json.dumps(entries, indent=1))
