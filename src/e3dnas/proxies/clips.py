"""The labelled batch of the data-dependent proxies: real clips from a folder of class sub-folders.

``root/<class>/<video>`` (classes = sorted folder names), the shape the folder-per-class dataset reads.
This is a minimal reader for one seeded batch, not a dataset: it decodes with the project's decoder and
cuts a centred square view with its transforms; a dataset's splits, sampling and augmentation do not apply.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from e3dnas.data.decode import VideoFile
from e3dnas.data.errors import SampleError
from e3dnas.data.transforms import render

log = logging.getLogger(__name__)

#: Containers read as videos (what decord opens).
VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov")


def labelled_videos(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """The class names (sorted folder names) and every (video, class index) under ``root``; ValueError
    saying what is missing when there are none."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    videos = [
        (path, label)
        for label, name in enumerate(classes)
        for path in sorted((root / name).iterdir())
        if path.suffix.lower() in VIDEO_SUFFIXES
    ]
    if not videos:
        raise ValueError(f"{root} holds no <class>/<video> files ({', '.join(VIDEO_SUFFIXES)})")
    return classes, videos


def centred_clip(path: Path, frames: int, resolution: int) -> torch.Tensor:
    """``frames`` frames spread evenly over the video (each segment's middle), short side scaled to
    ``resolution`` by the decoder: uint8 [T, h, w, 3]."""
    video = VideoFile(path, max_short=resolution)
    indices = ((np.arange(frames) + 0.5) * video.num_frames / frames).astype(np.int64)
    return video.read(indices)


def load_batch(
    root: Path, count: int, frames: int, resolution: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``count`` clips drawn without replacement by ``seed`` (float32 [B, 3, T, R, R], normalised as in
    training), their labels and the number of classes. Undecodable videos are logged and skipped; ValueError
    when fewer than ``count`` decode."""
    classes, videos = labelled_videos(root)
    clips, labels = [], []
    for index in np.random.default_rng(seed).permutation(len(videos)):
        path, label = videos[index]
        try:
            clip = centred_clip(path, frames, resolution)
        except SampleError as error:
            log.warning("proxy batch: skipped %s (%s)", path, error)
            continue
        clips.append(clip[None])
        labels.append(label)
        if len(clips) == count:
            break
    if len(clips) < count:
        raise ValueError(f"{root}: only {len(clips)} of the {count} clips of a batch decode")
    views = torch.tensor([_centre_view(clip.shape[3], clip.shape[2]) for clip in clips])
    return render(clips, views, resolution), torch.tensor(labels), len(classes)


def _centre_view(width: int, height: int) -> tuple[int, int, int, int, int]:
    """(x0, y0, width, height, flip) of the centred square of a frame."""
    side = min(width, height)
    return ((width - side) // 2, (height - side) // 2, side, side, 0)
