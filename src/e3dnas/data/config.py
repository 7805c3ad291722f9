"""The data settings (``dataset.*``): the one place their defaults live, and their range checks.

conf/dataset/<name>.yaml holds what a dataset changes; the dataclass is registered in Hydra's ConfigStore as
``dataset/schema`` (so ``defaults: [schema]`` puts every key, typed, into the composed config) and read back
with :func:`e3dnas.settings.read_settings`, which runs the checks below. The package imports this module
(``e3dnas/__init__.py``): the schema must be registered before anything composes a config. It stays light
(no torch) for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from e3dnas.errors import ConfigError
from e3dnas.settings import at_least, one_of

#: Normalisation in [0, 1] units (X3D / PySlowFast).
KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


@dataclass
class DatasetConfig:
    """One dataset and how it is read (every field is a ``dataset.<field>=`` override)."""

    name: str = "custom"  # the name in run names and results
    layout: str = "sthv2"  # sthv1 | sthv2 | k400, or a Layout class path (docs/extending_training.md)
    root: str = MISSING  # mandatory: the dataset (or its prepared copy, docs/data.md)
    media_dir: str = "."  # videos (or frame folders), relative to root
    annotation_dir: str = "."  # label and split files, relative to root
    frames: int = 16  # T frames per clip
    sampling: str = "segment"  # segment: T equal segments, a random frame of each (training), the centre
    # (test) | dense: a random frames × stride clip (training), test_clips evenly spaced (test)
    stride: int = 1  # dense sampling only: frames between sampled frames
    resolution: int = 224  # side of the square crop the network sees
    train_scale: list[float] | None = (
        None  # [min, max] random short side in training; None: res × [8/7, 10/7]
    )
    test_scale: float | None = None  # short side of val/test views; None: resolution × 8/7 (256 @ 224)
    test_clips: int = 1  # temporal test views (segment sampling: offset (k + ½)/K inside each segment)
    test_crops: int = 1  # 1 (centre) or 3 (start, centre, end of the long side); views = clips × crops
    repeat_clips: int = 1  # K training clips per decoded video (repeated augmentation, docs/data.md)
    flip: str = "none"  # none | label_pairs (flip and swap left/right classes) | plain (not on Something)
    batch_size: int = 8
    test_batch_size: int | None = None  # None: batch_size (a test sample holds test_clips × test_crops views)
    num_workers: int = 4
    pin_memory: bool = True  # used only when a GPU is present
    persistent_workers: bool = True
    decode_threads: int = 1  # FFmpeg threads per decoder: the workers already use the cores
    gpu_transforms: bool = False  # true: workers ship uint8 clips; scale/crop/flip/normalise on the device
    max_failure_rate: float = 0.01  # share of missing / corrupt samples tolerated per epoch (and split)
    min_failure_samples: int = 100  # the rate is judged only after this many samples
    mean: list[float] = field(default_factory=lambda: list(KINETICS_MEAN))  # normalisation in [0, 1] units
    std: list[float] = field(default_factory=lambda: list(KINETICS_STD))
    seed: int = 0  # shuffling and worker seeds

    def __post_init__(self) -> None:
        for key in ("frames", "stride", "resolution", "test_clips", "repeat_clips", "batch_size"):
            at_least(f"dataset.{key}", getattr(self, key), 1)
        at_least("dataset.test_batch_size", self.test_batch_size, 1)
        at_least("dataset.decode_threads", self.decode_threads, 1)
        at_least("dataset.num_workers", self.num_workers, 0)
        at_least("dataset.min_failure_samples", self.min_failure_samples, 0)
        one_of("dataset.sampling", self.sampling, ("segment", "dense"))
        one_of("dataset.flip", self.flip, ("none", "label_pairs", "plain"))
        if self.test_crops not in (1, 3):
            raise ConfigError(f"dataset.test_crops: must be 1 or 3, got {self.test_crops}")
        if not 0 <= self.max_failure_rate <= 1:
            raise ConfigError(f"dataset.max_failure_rate: must be in [0, 1], got {self.max_failure_rate}")
        if self.batch_size % self.repeat_clips:
            raise ConfigError(
                f"dataset.repeat_clips: must divide dataset.batch_size ({self.batch_size}), "
                f"got {self.repeat_clips}"
            )
        if self.train_scale is not None and (len(self.train_scale) != 2 or min(self.train_scale) <= 0):
            raise ConfigError(f"dataset.train_scale: must be [min, max] > 0, got {self.train_scale}")


ConfigStore.instance().store(group="dataset", name="schema", node=DatasetConfig)
