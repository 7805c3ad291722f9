"""The map-style dataset: record → sampled frame indices → decoded uint8 frames, replacing what fails."""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from e3dnas.data.annotations import Storage, VideoRecord
from e3dnas.data.decode import open_clip
from e3dnas.data.errors import DataError, SampleError
from e3dnas.data.failures import LOAD_REASONS, counter_table, log_skip
from e3dnas.data.sampling import TemporalSampler


class ClipDataset(Dataset):
    """Item i: ``{"clip": uint8 [K, T, H, W, 3], "label": int, "index": int}`` with K = ``repeat`` random
    clips in training (decoded together: repeated augmentation) and K = ``clips`` deterministic temporal views
    otherwise. Frames are decoded with their short side at most
    ``max_short`` (decode-time resize); spatial views are left to the batched ``ClipTransform``.

    A sample that fails to load is logged, counted in ``counters`` (shared with the main process) and
    replaced: by a random sample in training, by the next one otherwise (keeps evaluation deterministic).
    ``retries`` failures in a row raise DataError."""

    def __init__(
        self,
        records: list[VideoRecord],
        storage: Storage,
        sampler: TemporalSampler,
        *,
        train: bool,
        clips: int = 1,
        repeat: int = 1,
        max_short: int | None = None,
        decode_threads: int = 1,
        workers: int = 0,
        retries: int = 10,
    ) -> None:
        self.records = records
        self.storage = storage
        self.sampler = sampler
        self.train = train
        self.clips = repeat if train else clips
        self.max_short = max_short
        self.decode_threads = decode_threads
        self.retries = retries
        self.counters = counter_table(workers + 1)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        for _ in range(self.retries):
            record = self.records[index]
            try:
                clip = self.load(record)
            except SampleError as error:
                log_skip(error)
                self._count(1 + LOAD_REASONS.index(error.reason))
                last = error
                index = int(torch.randint(len(self), ())) if self.train else (index + 1) % len(self)
                continue
            self._count(0)
            return {"clip": clip, "label": record.label, "index": index}
        raise DataError(f"{self.retries} samples in a row failed to load; the last: {last}")

    def load(self, record: VideoRecord) -> torch.Tensor:
        """Decoded frames ``[K, T, H, W, 3]`` of one record (raises SampleError)."""
        source = open_clip(record.path, self.storage, self.max_short, self.decode_threads)
        if self.train:
            indices = np.concatenate([self.sampler.train(source.num_frames) for _ in range(self.clips)])
        else:
            indices = self.sampler.test(source.num_frames, self.clips)
        frames = source.read(indices.reshape(-1))
        return frames.reshape(*indices.shape, *frames.shape[1:])

    def _count(self, column: int) -> None:
        """Row 0 is the main process, row 1 + w worker w (one writer per row: no lost updates)."""
        info, rows = get_worker_info(), len(self.counters)
        self.counters[0 if info is None or rows == 1 else 1 + info.id % (rows - 1), column] += 1


#: glibc ``mallopt`` parameters (malloc.h) and the values set in workers.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BELOW, _TRIM_ABOVE = 256 * 2**20, 1024 * 2**20


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: make glibc keep freed multi-megabyte frame buffers for the next clip
    instead of unmapping them and faulting zeroed pages back in. Measured on 16×224² SSv2-like clips: 15 %
    less worker CPU, and a worker's private RSS stays flat (±1 MB over 2,000 clips instead of swinging by
    150-400 MB), at the price of keeping its working set (~250 MB). A no-op where libc is not glibc."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE)
