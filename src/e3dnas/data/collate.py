"""Batching clips of different sizes: plan the views, then render them now or pad the clips for later."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import get_worker_info

from e3dnas.data.transforms import ClipTransform


def shared_empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An empty tensor in shared memory when called in a DataLoader worker (as torch's default_collate does):
    the batch then reaches the main process without the copy into shared memory."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = math.prod(shape)
    return (
        torch.empty((), dtype=dtype)
        .new(torch.empty((), dtype=dtype)._typed_storage()._new_shared(numel))
        .view(shape)
    )


def pad_stack(clips: list[torch.Tensor]) -> torch.Tensor:
    """Stack uint8 ``[K, T, h, w, 3]`` clips into ``[B, K, T, H, W, 3]``; the padding repeats each clip's last
    row and column (views never reach it, but it stays plain image content)."""
    height = max(clip.shape[2] for clip in clips)
    width = max(clip.shape[3] for clip in clips)
    out = clips[0].new_empty((len(clips), *clips[0].shape[:2], height, width, 3))
    for slot, clip in zip(out, clips, strict=True):
        h, w = clip.shape[2:4]
        slot[:, :, :h, :w] = clip
        slot[:, :, h:, :w] = clip[:, :, h - 1 : h]
        slot[:, :, :, w:] = slot[:, :, :, w - 1 : w]
    return out


@dataclass(frozen=True)
class ClipCollate:
    """DataLoader ``collate_fn``. With ``render`` the worker cuts the views (uint8; the data module
    normalises them after the transfer); without it the batch carries the uint8 clips plus the planned
    ``views`` to cut on the device. Either way the random views are drawn here, in the worker, so a seed
    means the same augmentation on CPU and GPU."""

    transform: ClipTransform
    render: bool = True

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if self.transform.train:  # each training clip is a sample, also K clips of one decoded video
            samples = [{**s, "clip": s["clip"][k : k + 1]} for s in samples for k in range(len(s["clip"]))]
        clips = [sample["clip"] for sample in samples]
        sizes = torch.tensor([list(clip.shape[2:4]) for clip in clips])
        labels = torch.tensor([sample["label"] for sample in samples], dtype=torch.int64)
        views, labels = self.transform.plan(sizes, labels, clips[0].shape[0])
        index = torch.tensor([sample["index"] for sample in samples], dtype=torch.int64)
        if not self.render:
            return {"clip": pad_stack(clips), "views": views, "label": labels, "index": index}
        size = self.transform.resolution
        shape = (len(clips), views.shape[1] if views.dim() == 3 else 1, 3, clips[0].shape[1], size, size)
        rendered = self.transform.cut_views(clips, views, shared_empty(shape, torch.uint8))
        return {"clip": rendered, "label": labels, "index": index}
