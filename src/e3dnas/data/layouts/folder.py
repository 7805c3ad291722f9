"""One folder per class: ``<root>/<class>/<video>``, the shape people keep their own videos in.

Classes are the sorted class folder names. When ``<root>/train/`` or ``<root>/val/`` exists, those folders
(each ``<split>/<class>/<video>``) are the splits; otherwise every class is split in two by a seeded draw,
``val_fraction`` of its videos to validation, with whole groups kept on one side when ``group_pattern``
names a video's group (e.g. the person filmed). Any container decord opens counts as a video; other files
are ignored and their count logged.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from e3dnas.data.annotations import LayoutFolders, Split, SplitName, VideoRecord, require_dir
from e3dnas.data.errors import DataError, where
from e3dnas.data.writers import Clip, Rows, write_video
from e3dnas.registry import register_layout

logger = logging.getLogger("e3dnas.data")

#: Containers listed as videos (decord, through FFmpeg, opens each of them).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ogv", ".flv", ".wmv")
SPLIT_FOLDERS: dict[SplitName, str] = {"train": "train", "val": "val", "test": "test"}


def is_video(name: str) -> bool:
    """A video file by its suffix, or the frame folder a prepared copy keeps under the video's name."""
    return name.lower().endswith(VIDEO_SUFFIXES)


@register_layout("folder")
class FolderLayout(LayoutFolders):
    storage = "video"
    flip_sensitive = False  # folder names say nothing of left/right classes: set dataset.flip=none for those
    #: The dataset fields this layout reads, given to its constructor by keyword.
    settings = ("val_fraction", "split_seed", "group_pattern", "classes")

    def __init__(
        self,
        media_dir: Path,
        annotation_dir: Path,
        *,
        val_fraction: float = 0.2,
        split_seed: int = 0,
        group_pattern: str | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        super().__init__(media_dir, annotation_dir)
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.group_pattern = group_pattern
        self.classes = list(classes) if classes else None

    @cached_property
    def has_split_folders(self) -> bool:
        """The splits are given as ``train/`` and ``val/`` folders rather than drawn."""
        return any((self.media_dir / SPLIT_FOLDERS[name]).is_dir() for name in ("train", "val"))

    @property
    def labelled_test(self) -> bool:
        """A ``test/`` folder of class folders is labelled: the test stage reads it when it is there."""
        return self.has_split_folders and (self.media_dir / SPLIT_FOLDERS["test"]).is_dir()

    @cached_property
    def class_names(self) -> list[str]:
        """``classes`` when given (evaluation pins a checkpoint's), else the sorted class folder names of
        ``train/`` (or ``val/`` when only it exists) or of the root."""
        if self.classes is not None:
            return self.classes
        root = require_dir(self.media_dir, "dataset folder")
        if self.has_split_folders:
            train = root / SPLIT_FOLDERS["train"]
            root = train if train.is_dir() else root / SPLIT_FOLDERS["val"]
        return sorted(self._class_folders(root))

    def split(self, name: SplitName) -> Split:
        if self.has_split_folders:
            folder = require_dir(self.media_dir / SPLIT_FOLDERS[name], f"{name} split folder")
            return self._records(self._videos(folder))
        if name == "test":
            raise DataError(
                f"{where(self.media_dir / SPLIT_FOLDERS['test'])}: the folder layout has a test split only"
                " as a test/ folder beside train/ and val/"
            )
        if name == "train" and self.val_fraction >= 1:
            raise DataError(
                f"{where(self.media_dir)}: dataset.val_fraction=1 puts every video in val: nothing to train"
            )
        drawn = {cls: self._draw(cls, videos) for cls, videos in self._root_videos.items()}
        return self._records({cls: sides[name == "val"] for cls, sides in drawn.items()})

    @cached_property
    def _root_videos(self) -> dict[str, list[Path]]:
        """The videos of each class folder directly under the root (listed once for both splits)."""
        return self._videos(require_dir(self.media_dir, "dataset folder"))

    def _class_folders(self, folder: Path) -> list[str]:
        names = [entry.name for entry in _entries(folder) if entry.is_dir() and not is_video(entry.name)]
        if not names:
            raise DataError(
                f"{where(folder)}: no class folders (expected {folder}/<class>/<video>, "
                f"videos {', '.join(VIDEO_SUFFIXES)})"
            )
        return names

    def _videos(self, folder: Path) -> dict[str, list[Path]]:
        """Videos by class folder of ``folder``, in name order; a class folder that is not a known class or
        holds no video is refused, any other file is ignored (counted in the log)."""
        known = set(self.class_names)
        videos: dict[str, list[Path]] = {}
        ignored = [entry.name for entry in _entries(folder) if not entry.is_dir() or is_video(entry.name)]
        for name in sorted(self._class_folders(folder)):
            if name not in known:
                raise DataError(
                    f"{where(folder / name)}: class folder {name!r} is not one of the {len(known)} classes"
                    f" ({', '.join(self.class_names)})"
                )
            entries = sorted(_entries(folder / name), key=lambda entry: entry.name)
            videos[name] = [Path(entry.path) for entry in entries if is_video(entry.name)]
            ignored += [f"{name}/{entry.name}" for entry in entries if not is_video(entry.name)]
            if not videos[name]:
                raise DataError(
                    f"{where(folder / name)}: class folder holds no videos ({', '.join(VIDEO_SUFFIXES)})"
                )
        if ignored:
            shown = ", ".join(sorted(ignored)[:3]) + (", …" if len(ignored) > 3 else "")
            logger.info("%s: ignored %d entries that are not videos (%s)", folder, len(ignored), shown)
        return videos

    def _draw(self, class_name: str, videos: list[Path]) -> tuple[list[Path], list[Path]]:
        """(train, val) videos of one class: a draw seeded by ``split_seed`` and the class name, so that
        adding a class leaves the others' splits as they were."""
        if self.val_fraction >= 1:
            return [], videos
        rng = random.Random(f"{self.split_seed}/{class_name}")
        folder = videos[0].parent
        if self.group_pattern is None:
            if len(videos) < 2:
                raise DataError(f"{where(folder)}: one video cannot fill both train and val")
            order = rng.sample(videos, len(videos))
            held = min(max(round(self.val_fraction * len(videos)), 1), len(videos) - 1)
            return sorted(order[held:]), sorted(order[:held])
        groups = self._groups(videos)
        if len(groups) < 2:
            raise DataError(
                f"{where(folder)}: dataset.group_pattern finds one group ({next(iter(groups))}) in class "
                f"{class_name!r}: a split needs two or more groups per class to fill train and val"
            )
        order = rng.sample(sorted(groups), len(groups))
        sizes = list(itertools.accumulate(len(groups[group]) for group in order[:-1]))
        target = self.val_fraction * len(videos)
        held = 1 + min(range(len(sizes)), key=lambda k: abs(sizes[k] - target))  # groups to val
        val = [video for group in order[:held] for video in groups[group]]
        train = [video for group in order[held:] for video in groups[group]]
        return sorted(train), sorted(val)

    def group_of(self, path: Path) -> str | None:
        """The group ``group_pattern`` names in a video's file name (None without a pattern or a match)."""
        match = re.search(self.group_pattern, path.name) if self.group_pattern else None
        return None if match is None else match.group(1)

    def _groups(self, videos: list[Path]) -> dict[str, list[Path]]:
        groups: dict[str, list[Path]] = defaultdict(list)
        for video in videos:
            group = self.group_of(video)
            if group is None:
                raise DataError(
                    f"{where(video)}: dataset.group_pattern '{self.group_pattern}' does not match this file"
                    " name (its first group must name the video's group)"
                )
            groups[group].append(video)
        return groups

    def _records(self, videos: dict[str, list[Path]]) -> Split:
        split = Split()
        index = {name: label for label, name in enumerate(self.class_names)}
        for class_name, paths in videos.items():
            for path in paths:
                video_id = f"{class_name}/{path.name}"
                split.records.append(VideoRecord(path=path, label=index[class_name], video_id=video_id))
        return split

    @staticmethod
    def write_clip(root: Path, clip: Clip, fps: int) -> None:
        """``<root>/<split>/<class>/<id>.mp4``: the clips carry their split, so it is written as folders."""
        write_video(
            root / SPLIT_FOLDERS[clip.split] / clip.class_name / f"{clip.video_id}.mp4", clip.frames, fps
        )

    @staticmethod
    def write_annotations(root: Path, rows: Rows, class_names: list[str], fps: int) -> None:
        """Nothing to write: the folder names are the labels."""


def _entries(folder: Path) -> list[os.DirEntry]:
    """A folder's entries, hidden ones (``.DS_Store``, a prepared copy's staging folders) left out."""
    try:
        return [entry for entry in os.scandir(folder) if not entry.name.startswith(".")]
    except OSError as error:
        raise DataError(f"{where(folder)}: cannot list this folder: {error.strerror}") from None
