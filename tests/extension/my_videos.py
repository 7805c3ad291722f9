"""A user's own model and dataset layout, outside e3dnas: docs/extending_training.md's worked example."""

from __future__ import annotations

from functools import cached_property

from torch import nn

from e3dnas.data.annotations import LayoutFolders, Split, SplitName, VideoRecord


def tiny_net(*, num_classes: int, width: int = 8, arch=None, frames=None, resolution=None) -> nn.Module:
    """One strided 3D convolution, pooled, then a linear classifier (it takes any input: ``arch``,
    ``frames`` and ``resolution`` are unused)."""
    return nn.Sequential(
        nn.Conv3d(3, width, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(width, num_classes),
    )


class ClassFolders(LayoutFolders):
    """``<root>/<split>/<class name>/<video>.mp4``: the classes are the folder names under ``train/``."""

    storage = "video"
    flip_sensitive = False

    @cached_property
    def class_names(self) -> list[str]:
        return sorted(folder.name for folder in (self.media_dir / "train").iterdir() if folder.is_dir())

    def split(self, name: SplitName) -> Split:
        split = Split()
        for label, class_name in enumerate(self.class_names):
            for path in sorted((self.media_dir / name / class_name).glob("*.mp4")):
                split.records.append(VideoRecord(path=path, label=label, video_id=path.stem))
        return split
