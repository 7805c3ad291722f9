"""Spatial augmentation as batched tensor ops that run the same in a DataLoader worker or on the GPU.

Every view (random short-side scale + random crop + optional flip for training; short-side scale + centre or 3
crops for testing) is a crop box on the decoded frames plus a flip bit. *Planning* draws the boxes for a whole
batch at once (cheap, on the CPU, in the worker, so a seed gives the same augmentation whether or not
rendering moves to the GPU). *Rendering* cuts each box out of the uint8 batch, resizes it to ``resolution``²
with antialiasing (torchvision's uint8 SIMD kernel on the CPU: ~1 ms per 16-frame clip, about 25× faster than
float resampling of the whole frame) and flips; *normalising* converts the uint8 views to float where the
batch lands (on the GPU when training there: a quarter of the bytes cross processes and the PCIe bus).
Clips of different sizes share a padded batch for the GPU; boxes never leave a clip's own pixels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

from e3dnas.data.config import KINETICS_MEAN, KINETICS_STD

#: Kinetics statistics used by X3D / PySlowFast / pytorchvideo, in [0, 1] units.

_SIDE = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def _swap_side(match: re.Match[str]) -> str:
    word = match.group(0)
    other = "right" if word.lower() == "left" else "left"
    return other.capitalize() if word[0].isupper() else other


def mirror_labels(class_names: Sequence[str], mode: str) -> torch.Tensor | None:
    """Label after a horizontal flip, per class, or -1 where flipping is not allowed; None disables flipping.

    "plain": every class keeps its label. "label_pairs": a class naming left/right maps to the class with the
    two words swapped ("Pushing something from left to right" ↔ "… right to left"); one without a partner is
    never flipped; classes naming no side keep their label. "none": no flip.
    """
    if mode == "none":
        return None
    if mode == "plain":
        return torch.arange(len(class_names))
    if mode != "label_pairs":
        raise ValueError(f"unknown flip mode {mode!r}; choose 'none', 'plain' or 'label_pairs'")
    index = {name: i for i, name in enumerate(class_names)}
    return torch.tensor([index.get(_SIDE.sub(_swap_side, name), -1) for name in class_names])


@dataclass(frozen=True)
class ClipTransform:
    """The views of one split. Training: one view, short side scaled to U[scale] then a random
    ``resolution``² crop, flipped with probability ½ where ``mirror`` allows (labels follow the flip). Testing
    (``train=False``): short side scaled to ``scale[0]``, ``crops`` crops along the long side (1: centre;
    3: start, centre, end) for every temporal clip. ``multiview`` keeps a views axis in the output."""

    resolution: int
    scale: tuple[float, float]
    train: bool
    crops: int = 1
    multiview: bool = False
    mirror: torch.Tensor | None = None
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD

    def __post_init__(self) -> None:
        if min(self.scale) < self.resolution or self.scale[0] > self.scale[1]:
            raise ValueError(f"scale {self.scale} must be ordered and ≥ resolution {self.resolution}")
        if self.crops not in (1, 3):
            raise ValueError(f"crops must be 1 or 3, got {self.crops}")

    def plan(
        self,
        sizes: torch.Tensor,
        labels: torch.Tensor,
        clips: int = 1,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Views for a batch of clips with frame ``sizes`` ``[B, 2]`` (height, width), and the labels after
        flipping. A view is (x0, y0, width, height, flip) in whole pixels: ``[B, 5]`` for single-view batches,
        ``[B, clips·crops, 5]`` for multi-view ones (view = clip·crops + crop)."""
        sizes = sizes.to(torch.float64)
        short = sizes.min(dim=1).values
        if self.train:
            low, high = self.scale
            target = low + (high - low) * torch.rand(len(sizes), generator=generator, dtype=torch.float64)
            side = (self.resolution * short / target)[:, None]
            where = torch.rand(len(sizes), 1, 2, generator=generator, dtype=torch.float64)
            flip = self._flips(labels, generator)
            labels = torch.where(flip, self.mirror[labels], labels) if self.mirror is not None else labels
            flip = flip[:, None]
        else:
            side = (self.resolution * short / self.scale[0])[:, None]
            where = self._test_positions(sizes)
            flip = torch.zeros(len(sizes), where.shape[1], dtype=torch.bool)
        side = side.round().clamp(min=1)
        corner = ((sizes.flip(1)[:, None] - side[..., None]) * where).round()  # [B, crops, (x, y)]
        views = torch.cat([corner, side[..., None].expand(corner.shape), flip[..., None]], dim=-1).long()
        if not self.multiview:
            return views[:, 0], labels
        return views.repeat(1, clips, 1), labels

    def _flips(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        coin = torch.rand(len(labels), generator=generator) < 0.5
        return coin & (self.mirror[labels] >= 0) if self.mirror is not None else torch.zeros_like(coin)

    def _test_positions(self, sizes: torch.Tensor) -> torch.Tensor:
        """``[B, crops, 2]`` relative (x, y) crop positions along each clip's long side."""
        along = torch.tensor([0.5] if self.crops == 1 else [0.0, 0.5, 1.0], dtype=torch.float64)
        centre = torch.full_like(along, 0.5)
        wide = (sizes[:, 1] >= sizes[:, 0])[:, None, None]
        return torch.where(wide, torch.stack([along, centre], -1), torch.stack([centre, along], -1))

    def cut_views(
        self,
        clips: torch.Tensor | Sequence[torch.Tensor],
        views: torch.Tensor,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return cut_views(clips, views, self.resolution, out)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        return normalise(pixels, self.mean, self.std)


def render(
    clips: torch.Tensor | Sequence[torch.Tensor],
    views: torch.Tensor,
    size: int,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
) -> torch.Tensor:
    """uint8 clips (``[B, K, T, H, W, 3]``, or a list of B ``[K, T, h, w, 3]``) → normalised float32 ``size``²
    views: ``[B, 3, T, R, R]`` for single-view ``views`` ``[B, 5]``, ``[B, V, 3, T, R, R]`` for ``[B, V, 5]``
    (V = K·crops)."""
    return normalise(cut_views(clips, views, size), mean, std)


def cut_views(
    clips: torch.Tensor | Sequence[torch.Tensor],
    views: torch.Tensor,
    size: int,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The views of ``render`` still in uint8: a quarter of the bytes to move between processes and to the
    device, where ``normalise`` finishes them. ``out`` may supply the result (e.g. in shared memory)."""
    single = views.dim() == 2
    views = views[:, None] if single else views
    num_clips, frames = clips[0].shape[:2]
    crops = views.shape[1] // num_clips
    shape = (len(views), views.shape[1], 3, frames, size, size)
    pixels = clips[0].new_empty(shape) if out is None else out.view(shape)
    for b, per_sample in enumerate(views.tolist()):
        for v, (x0, y0, width, height, flip) in enumerate(per_sample):
            window = clips[b][v // crops, :, y0 : y0 + height, x0 : x0 + width].permute(0, 3, 1, 2)
            image = TF.resize(window, [size, size], antialias=True)
            pixels[b, v] = (image.flip(-1) if flip else image).transpose(0, 1)
    return pixels[:, 0] if single else pixels


def normalise(
    pixels: torch.Tensor, mean: Sequence[float] = KINETICS_MEAN, std: Sequence[float] = KINETICS_STD
) -> torch.Tensor:
    """uint8 views ``[..., 3, T, R, R]`` → float32 in the model's units, in 3 vectorised passes."""
    shape = (3, 1, 1, 1)
    std_ = torch.tensor(std, device=pixels.device).view(shape)
    scale, shift = 1.0 / (255.0 * std_), -torch.tensor(mean, device=pixels.device).view(shape) / std_
    return pixels.to(torch.float32).mul_(scale).add_(shift)
