"""Analytic cost of an architecture: FLOPs (conv MACs), parameters and layer count.

Closed form, no nn.Module: the search calls it on batches of thousands of candidates. Conventions follow
DESIGN §5: FLOPs are the multiply-accumulates of the backbone convolutions (stem, blocks, head conv) on a
1×3×T×R×R clip, BatchNorm folded (not counted), classifier excluded; this is what fvcore reports under
``conv``. Params are the backbone's trainable parameters (convs without bias + BatchNorm affine); the
classifier depends on the dataset, so it is not part of the architecture's cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from e3dnas.arch import Arch, ArchBatch


@dataclass(frozen=True)
class Cost:
    flops: float
    params: int
    layers: int


def layers(batch: ArchBatch) -> np.ndarray:
    """Weight layers on the main path: stem + 3 per block + head (DESIGN §3)."""
    return 2 + 3 * batch.column("depth").sum(axis=1)


def flops_by_part(batch: ArchBatch) -> list[np.ndarray]:
    """Conv MACs of the stem, each stage and the head conv, each an (N,) float64 array."""
    sk = batch.skeleton
    stem_side, stage_sides = sk.sides()
    t = float(sk.frames)
    kt0, k0 = sk.stem_kernel
    c_in = batch.stem_width.astype(np.float64)
    parts = [3.0 * c_in * kt0 * k0 * k0 * t * stem_side**2]
    width, bottle = batch.column("width"), batch.column("bottleneck")
    kt, k, depth = batch.column("kt"), batch.column("k"), batch.column("depth")
    side_in = stem_side
    for i, side in enumerate(stage_sides):
        c, b = width[:, i].astype(np.float64), bottle[:, i].astype(np.float64)
        area = t * side * side
        # First block: the expansion conv runs before the strided depthwise conv, at the input side.
        first = c_in * b * t * side_in * side_in + b * kt[:, i] * k[:, i] ** 2 * area + b * c * area
        others = (depth[:, i] - 1) * (c * b + b * kt[:, i] * k[:, i] ** 2 + b * c) * area
        parts.append(first + others)
        c_in, side_in = c, side
    parts.append(c_in * sk.head_width * t * side_in * side_in)
    return parts


def flops(batch: ArchBatch) -> np.ndarray:
    """Conv MACs of each architecture in the batch, as float64 (E3D-L is ~1.8e10)."""
    return np.sum(flops_by_part(batch), axis=0)


def params_by_part(batch: ArchBatch) -> list[np.ndarray]:
    """Backbone parameters of the stem, each stage and the head: conv weights (no bias) + BN affine."""
    sk = batch.skeleton
    kt0, k0 = sk.stem_kernel
    c_in = batch.stem_width
    parts = [3 * c_in * kt0 * k0 * k0 + 2 * c_in]
    width, bottle = batch.column("width"), batch.column("bottleneck")
    kt, k, depth = batch.column("kt"), batch.column("k"), batch.column("depth")
    for i in range(sk.num_stages):
        c, b = width[:, i], bottle[:, i]
        per_block_tail = 2 * b + b * kt[:, i] * k[:, i] ** 2 + 2 * b + b * c + 2 * c
        parts.append(c_in * b + per_block_tail + (depth[:, i] - 1) * (c * b + per_block_tail))
        c_in = c
    parts.append(c_in * sk.head_width + 2 * sk.head_width)
    return parts


def params(batch: ArchBatch) -> np.ndarray:
    return np.sum(params_by_part(batch), axis=0)


def cost(arch: Arch) -> Cost:
    """FLOPs, params and layers of one architecture."""
    batch = ArchBatch.from_archs([arch])
    return Cost(flops=float(flops(batch)[0]), params=int(params(batch)[0]), layers=int(layers(batch)[0]))
