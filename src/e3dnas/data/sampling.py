"""Which frames a clip uses (docs/data.md): segment sampling for Something-Something, dense for Kinetics.

Both samplers return frame indices as an int64 array ``[clips, frames]``: one clip while training (random),
``clips`` deterministic views at test time. Randomness comes from torch's generator, which the DataLoader
seeds per worker, so runs are reproducible under a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch


class TemporalSampler(Protocol):
    frames: int

    def train(self, num_frames: int, generator: torch.Generator | None = None) -> np.ndarray: ...

    def test(self, num_frames: int, clips: int) -> np.ndarray: ...


@dataclass(frozen=True)
class SegmentSampler:
    """TSN-style: ``frames`` equal segments over the whole video; a random frame of each segment in training,
    a fixed position at test (the centre for one clip; clip k of K at fraction (k + ½)/K of each segment).
    Videos shorter than ``frames`` repeat frames rather than fail."""

    frames: int

    def train(self, num_frames: int, generator: torch.Generator | None = None) -> np.ndarray:
        offsets = torch.rand(self.frames, generator=generator, dtype=torch.float64).numpy()
        return self._at(num_frames, offsets)[None]

    def test(self, num_frames: int, clips: int) -> np.ndarray:
        fractions = (np.arange(clips) + 0.5) / clips
        return np.stack([self._at(num_frames, np.full(self.frames, fraction)) for fraction in fractions])

    def _at(self, num_frames: int, offsets: np.ndarray) -> np.ndarray:
        """Index at ``offset`` ∈ [0, 1) inside each segment: segment i spans [i·n/T, (i+1)·n/T)."""
        positions = (np.arange(self.frames) + offsets) * num_frames / self.frames  # exact at segment centres
        return np.minimum(positions.astype(np.int64), num_frames - 1)


@dataclass(frozen=True)
class DenseSampler:
    """X3D/SlowFast-style: ``frames`` frames ``stride`` apart; a random start in training, ``clips`` starts
    spread evenly (centred) at test. A video shorter than the span repeats its last frame."""

    frames: int
    stride: int

    @property
    def span(self) -> int:
        return (self.frames - 1) * self.stride + 1

    def train(self, num_frames: int, generator: torch.Generator | None = None) -> np.ndarray:
        room = max(num_frames - self.span, 0)
        start = int(torch.randint(room + 1, (), generator=generator))
        return self._from(num_frames, np.array([start]))

    def test(self, num_frames: int, clips: int) -> np.ndarray:
        room = max(num_frames - self.span, 0)
        starts = np.floor(room * (np.arange(clips) + 0.5) / clips + 0.5).astype(np.int64)
        return self._from(num_frames, starts)

    def _from(self, num_frames: int, starts: np.ndarray) -> np.ndarray:
        indices = starts[:, None] + self.stride * np.arange(self.frames)[None]
        return np.minimum(indices, num_frames - 1).astype(np.int64)


def make_sampler(kind: str, frames: int, stride: int) -> TemporalSampler:
    if frames < 1 or stride < 1:
        raise ValueError(f"frames and stride must be ≥ 1, got {frames} and {stride}")
    if kind == "segment":
        return SegmentSampler(frames)
    if kind == "dense":
        return DenseSampler(frames, stride)
    raise ValueError(f"unknown sampling {kind!r}; choose 'segment' or 'dense'")
