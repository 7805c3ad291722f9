"""The LightningDataModule the trainer uses: configured by a :class:`DatasetConfig`
(``conf/dataset/<name>.yaml``), yielding ``{"clip", "label", "index"}`` batches."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from e3dnas.data.annotations import Layout, Split, SplitName, Storage, require_dir
from e3dnas.data.collate import ClipCollate
from e3dnas.data.config import DatasetConfig, DatasetSettingError
from e3dnas.data.dataset import ClipDataset, worker_init
from e3dnas.data.errors import DataError
from e3dnas.data.failures import FailureMonitor
from e3dnas.data.layouts import layout_settings, open_layout
from e3dnas.data.prepare import MANIFEST, read_manifest
from e3dnas.data.sampling import make_sampler
from e3dnas.data.splits import SplitRow, split_rows
from e3dnas.data.transforms import (
    ClipTransform,
    mirror_labels,
    normalise,
    render,
)

logger = logging.getLogger("e3dnas.data")

#: Which annotation split feeds the train and val stages; the test stage's is ``test_split``.
SOURCES: dict[str, SplitName] = {"train": "train", "val": "val"}
STAGES: dict[str | None, tuple[str, ...]] = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    None: ("train", "val", "test"),
}


class VideoDataModule(L.LightningDataModule):
    """Train (random clip, random scale/crop/flip), val (one centre view) and test (``test_clips`` ×
    ``test_crops`` views on the validation split) loaders over one of the official layouts.

    ``repeat_clips`` K > 1 is repeated augmentation: each training video is decoded once for K clips (own
    frames, own views) that share a batch of ``batch_size`` clips (``batch_size / K`` videos), so an epoch
    trains on K clips of every video in K× the steps.

    Batches, after ``on_after_batch_transfer`` (which Lightning calls on the device; loaders alone yield uint8
    clips): ``clip`` float32 ``[B, 3, T, H, W]`` (test: ``[B, V, 3, T, H, W]``), ``label`` and ``index``
    int64 ``[B]``. Skipped samples are counted in ``skipped`` / ``skip_counts``; past ``max_failure_rate``
    (once ``min_failure_samples`` were seen in the epoch or split) DataError stops the run."""

    def __init__(self, config: DatasetConfig) -> None:
        super().__init__()
        self.config = config
        self.save_hyperparameters(asdict(config))
        c = config
        if c.root is None or str(c.root) in ("", "???"):
            raise DataError(f"dataset.root is not set for the {c.layout} layout")
        self.root = Path(c.root)
        self.layout: Layout = open_layout(
            c.layout, self.root, c.media_dir, c.annotation_dir, **layout_settings(c.layout, c)
        )
        if c.flip == "plain" and self.layout.flip_sensitive:
            raise DatasetSettingError(
                f"dataset.flip: 'plain' changes labels on {c.layout} (left/right classes): use 'label_pairs' "
                "or 'none'"
            )
        self.flip = c.flip
        self.sampler = make_sampler(c.sampling, c.frames, c.stride)
        self.resolution = resolution = c.resolution
        low, high = c.train_scale if c.train_scale is not None else (resolution * 8 / 7, resolution * 10 / 7)
        test = c.test_short_side
        self.mean, self.std = tuple(c.mean), tuple(c.std)
        common = {"resolution": resolution, "mean": self.mean, "std": self.std}
        self.transforms = {
            "train": ClipTransform(scale=(float(low), float(high)), train=True, **common),
            "val": ClipTransform(scale=(test, test), train=False, **common),
            "test": ClipTransform(
                scale=(test, test),
                train=False,
                crops=c.test_crops,
                multiview=True,
                **(common | {"resolution": c.test_resolution or resolution}),
            ),
        }
        self.max_short = {"train": math.ceil(high), "val": math.ceil(test), "test": math.ceil(test)}
        self.test_clips = c.test_clips
        self.repeat_clips = c.repeat_clips
        self.batch_size = c.batch_size
        self.test_batch_size = c.test_batch_size or c.batch_size
        self.num_workers = c.num_workers
        self.pin_memory = c.pin_memory and torch.cuda.is_available()  # pinning only helps a GPU
        self.persistent_workers = c.persistent_workers and c.num_workers > 0
        self.gpu_transforms = c.gpu_transforms
        self.seed = c.seed
        self.decode_threads = c.decode_threads
        self.monitor = FailureMonitor(c.max_failure_rate, c.min_failure_samples)
        self.datasets: dict[str, ClipDataset] = {}
        self._splits: dict[SplitName, Split] = {}

    @cached_property
    def class_names(self) -> list[str]:
        """Class names in index order, as the dataset's label file defines them (read on first access)."""
        require_dir(self.root, "dataset root")
        return self.layout.class_names

    @cached_property
    def storage(self) -> Storage:
        """How samples are stored: the layout's own way, or JPEG frames in a prepared copy of the dataset
        (``prepared.json`` at the root, written by ``python -m e3dnas.data.prepare``)."""
        manifest = read_manifest(self.root)
        if manifest is None:
            return self.layout.storage
        manifest_path = self.root / MANIFEST
        if not manifest.get("complete"):
            raise DataError(
                f"{manifest_path}: this prepared copy is incomplete; rerun python -m e3dnas.data.prepare"
                " with the same settings to finish it"
            )
        prepared = manifest["settings"]
        if prepared["layout"] != self.config.layout:
            raise DataError(
                f"{manifest_path}: prepared as {prepared['layout']}, configured as {self.config.layout}"
            )
        needed = max(self.max_short.values())
        if prepared["short_side"] < needed:
            logger.warning(
                "%s: frames were prepared at short side %d px but this configuration reads up to %d px:"
                " views are upscaled (prepare again with short_side=%d for full detail)",
                self.root,
                prepared["short_side"],
                needed,
                needed,
            )
        return "frames"

    @cached_property
    def test_split(self) -> SplitName:
        """The split the (multi-view) test stage reads: the layout's test split where it is labelled (a
        layout's ``labelled_test``: Kinetics' test.csv when present), else the validation split
        (Something-Something's test lists carry no labels). Results name it, as ``test_split``."""
        return "test" if getattr(self.layout, "labelled_test", False) else "val"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def skipped(self) -> int:
        """Samples skipped so far: records dropped at setup plus samples that failed to load (all workers)."""
        return sum(self.monitor.counts.values())

    @property
    def skip_counts(self) -> dict[str, int]:
        """``skipped`` by reason (missing, empty, corrupt, unreadable, bad_line, bad_entry, unknown_label)."""
        return dict(self.monitor.counts)

    def setup(self, stage: str | None = None) -> None:
        for name in STAGES[stage]:
            if name not in self.datasets:
                self.datasets[name] = self._dataset(name)

    def split_rows(self) -> list[SplitRow]:
        """One row per usable video of the train and val splits read so far (``setup("fit")``)."""
        read = {name: self._splits[SOURCES[name]] for name in SOURCES if SOURCES[name] in self._splits}
        return split_rows(read, self.class_names, getattr(self.layout, "group_of", lambda path: None))

    def _dataset(self, name: str) -> ClipDataset:
        source = self.test_split if name == "test" else SOURCES[name]
        if source not in self._splits:
            require_dir(self.root, "dataset root")
            self._splits[source] = self.layout.split(source)
            self.monitor.add_split(source, self._splits[source])
        dataset = ClipDataset(
            self._splits[source].records,
            self.storage,
            self.sampler,
            train=name == "train",
            clips=self.test_clips if name == "test" else 1,
            repeat=self.repeat_clips,
            max_short=self.max_short[name],
            decode_threads=self.decode_threads,
            workers=self.num_workers,
        )
        self.monitor.watch(name, dataset.counters)
        return dataset

    def _loader(self, name: str, batch_size: int) -> DataLoader:
        if name not in self.datasets:
            raise RuntimeError(f"call setup() before the {name} dataloader")
        transform = self.transforms[name]
        if name == "train":
            transform = replace(transform, mirror=mirror_labels(self.class_names, self.flip))
        dataset = self.datasets[name]
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=name == "train",
            drop_last=name == "train" and len(dataset) >= batch_size,
            num_workers=self.num_workers,
            collate_fn=ClipCollate(transform, render=not self.gpu_transforms),
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            worker_init_fn=worker_init,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size // self.repeat_clips)  # videos: each gives K clips

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.test_batch_size)

    def check_failures(self) -> None:
        """Raise DataError if any split's load-failure rate in the current epoch passes the threshold."""
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        for name in self.datasets:
            self.monitor.check(name, epoch)

    def on_before_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        self.check_failures()
        return batch

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Clips arrive on the device as uint8 views (normalised here) or, with ``gpu_transforms``, as uint8
        clips with their planned views (cut and normalised here). A bare tensor is the module's example
        input (Lightning's model summary counts FLOPs on it) and passes as it is."""
        if isinstance(batch, torch.Tensor):
            return batch
        if "views" in batch:
            views = batch.pop("views")
            multiview = views.dim() == 3  # [B, V, 5]: test views, at their own side (dataset.test_resolution)
            side = self.transforms["test" if multiview else "val"].resolution
            batch["clip"] = render(batch["clip"], views, side, self.mean, self.std)
        elif batch["clip"].dtype == torch.uint8:
            batch["clip"] = normalise(batch["clip"], self.mean, self.std)
        return batch
