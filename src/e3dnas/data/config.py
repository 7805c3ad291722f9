"""The data settings (``dataset.*``): the one place their defaults live, and their range checks.

conf/dataset/<name>.yaml holds what a dataset changes; the dataclass is registered in Hydra's ConfigStore as
``_base/dataset/schema`` (so ``defaults: [/_base/dataset/schema@_here_]`` puts every key, typed, into the
composed config, and ``dataset=`` does not offer it as a choice) and read back with
:func:`e3dnas.schema.read_node`, which runs the checks below. Whatever composes a config with a dataset
imports this module first (the readers of train, evaluate and prepare do), so it stays light (no torch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from e3dnas.schema import (
    Check,
    ConfigValueError,
    check_fields,
    integer,
    is_number,
    one_of,
    positive_number,
    setting,
)

#: Normalisation in [0, 1] units (X3D / PySlowFast).
KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


class DatasetSettingError(ConfigValueError):
    """Dataset settings that cannot work together; the message names them."""


def optional(allowed: str, check: Check) -> tuple[str, Check]:
    return f"null or {allowed}", lambda v: v is None or check(v)


POSITIVE_INT = integer(1)
#: The clip size of a dataset config that sets none, for a model without an architecture of its own (X3D).
DEFAULT_FRAMES, DEFAULT_RESOLUTION = 16, 224
#: A size field: a positive integer, or null (left to the architecture; null is not a value a user types).
SIZE = (POSITIVE_INT[0], lambda v: v is None or POSITIVE_INT[1](v))
FRACTION = ("a number in [0, 1]", lambda v: is_number(v) and 0 <= v <= 1)


@dataclass
class DatasetConfig:
    """One dataset and how it is read (every field is a ``dataset.<field>=`` override)."""

    name: str = "custom"  # the name in run names and results
    # sthv1 | sthv2 | k400 | folder, or a Layout class path (docs/extending_training.md)
    layout: str = "sthv2"
    root: str = MISSING  # mandatory: the dataset (or its prepared copy, docs/data.md)
    media_dir: str = "."  # videos (or frame folders), relative to root
    annotation_dir: str = "."  # label and split files, relative to root
    # T frames per clip; null: the trained architecture's own (the size it was searched for), else 16
    frames: int | None = setting(*SIZE, default=None)
    # segment: T equal segments, a random frame of each (training), the centre (test) | dense: a random
    # frames × stride clip (training), test_clips evenly spaced (test)
    sampling: str = setting(*one_of(("segment", "dense")), default="segment")
    stride: int = setting(*POSITIVE_INT, default=1)  # dense sampling only: frames between sampled frames
    # side of the square crop the network sees; null: the trained architecture's own, else 224
    resolution: int | None = setting(*SIZE, default=None)
    # [min, max] random short side in training; null: resolution × [8/7, 10/7]
    train_scale: list[float] | None = None
    # short side of val/test views; null: resolution × 8/7 (256 @ 224)
    test_scale: float | None = setting(*positive_number(optional=True), default=None)
    # side of the test views the network sees; null: resolution. X3D's protocol sets it to test_scale: its
    # 3 crops then cover the whole short side (fully convolutional test at a larger input than training)
    test_resolution: int | None = setting(*optional(*POSITIVE_INT), default=None)
    # temporal test views (segment sampling: offset (k + ½)/K inside each segment)
    test_clips: int = setting(*POSITIVE_INT, default=1)
    # 1 (centre) or 3 (start, centre, end of the long side); views = clips × crops
    test_crops: int = setting("1 or 3", lambda v: v in (1, 3), default=1)
    # K training clips per decoded video (repeated augmentation, docs/data.md); must divide batch_size
    repeat_clips: int = setting(*POSITIVE_INT, default=1)
    # none | label_pairs (flip and swap left/right classes) | plain (refused on Something-Something)
    flip: str = setting(*one_of(("none", "label_pairs", "plain")), default="none")
    batch_size: int = setting(*POSITIVE_INT, default=8)
    # null: batch_size (a test sample holds test_clips × test_crops views)
    test_batch_size: int | None = setting(*optional(*POSITIVE_INT), default=None)
    num_workers: int = setting(*integer(0), default=4)
    pin_memory: bool = True  # used only when a GPU is present
    persistent_workers: bool = True
    decode_threads: int = setting(*POSITIVE_INT, default=1)  # FFmpeg threads per decoder
    gpu_transforms: bool = False  # true: workers ship uint8 clips; scale/crop/flip/normalise on the device
    # share of missing / corrupt samples tolerated per epoch (and per split at setup)
    max_failure_rate: float = setting(*FRACTION, default=0.01)
    min_failure_samples: int = setting(*integer(0), default=100)  # the rate is judged after this many
    mean: list[float] = field(default_factory=lambda: list(KINETICS_MEAN))  # normalisation in [0, 1] units
    std: list[float] = field(default_factory=lambda: list(KINETICS_STD))
    seed: int = setting(*integer(0), default=0)  # shuffling and worker seeds
    # folder layout (docs/data.md), without train/ and val/ folders: share of each class drawn for validation
    # (1: every video is validation, how evaluate reads another folder)
    val_fraction: float = setting("a number in (0, 1]", lambda v: is_number(v) and 0 < v <= 1, default=0.2)
    split_seed: int = setting(*integer(0), default=0)  # folder layout: seed of that draw
    # folder layout: a regex whose first group names a video's group (the person filmed: `_(\d+)_`); a group
    # stays on one side of the drawn split
    group_pattern: str | None = setting(
        "null or a regex with a group", lambda v: v is None or _grouping(v), None
    )
    # folder layout: class names in label order (null: the sorted class folder names); evaluate pins the
    # checkpoint's, and a class folder outside them is refused
    classes: list[str] | None = None

    def __post_init__(self) -> None:
        check_fields(self, "dataset", DatasetSettingError)
        # Unset here: no architecture gave its size (a training fills it in first, e3dnas.train.settings).
        self.frames = DEFAULT_FRAMES if self.frames is None else self.frames
        self.resolution = DEFAULT_RESOLUTION if self.resolution is None else self.resolution
        if self.train_scale is not None and (len(self.train_scale) != 2 or min(self.train_scale) <= 0):
            raise DatasetSettingError(
                f"dataset.train_scale must be [min, max], both > 0, got {self.train_scale}"
            )
        if self.test_resolution is not None and self.test_resolution > self.test_short_side:
            raise DatasetSettingError(
                f"dataset.test_resolution ({self.test_resolution}) must not exceed the test short side "
                f"dataset.test_scale ({self.test_short_side:g})"
            )
        if self.batch_size % self.repeat_clips:
            raise DatasetSettingError(
                f"dataset.repeat_clips must divide dataset.batch_size ({self.batch_size}), "
                f"got {self.repeat_clips}"
            )
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise DatasetSettingError(f"dataset.classes lists a class twice: {self.classes}")

    @property
    def test_short_side(self) -> float:
        """Short side of the val/test views: ``test_scale``, else ``resolution`` × 8/7."""
        return float(self.test_scale) if self.test_scale is not None else self.resolution * 8 / 7

    def test_protocol(self, multiview: bool = True) -> dict[str, int | float | str]:
        """The views an evaluation takes (``multiview``: the test protocol; else the one validation view), as
        evaluation's metrics.json records them. ``full_short_side``: X3D's, square crops as large as the short
        side; ``inner_crop``: crops of ``resolution`` from a larger short side."""
        short = self.test_short_side
        crop = (self.test_resolution or self.resolution) if multiview else self.resolution
        return {
            "name": "full_short_side" if crop >= round(short) else "inner_crop",
            "clips": self.test_clips if multiview else 1,
            "crops": self.test_crops if multiview else 1,
            "short_side": short,
            "crop": crop,
        }


def _grouping(pattern: object) -> bool:
    """A regular expression with at least one group (the first names a video's group)."""
    try:
        return isinstance(pattern, str) and re.compile(pattern).groups >= 1
    except re.error:
        return False


ConfigStore.instance().store(group="_base/dataset", name="schema", node=DatasetConfig)
