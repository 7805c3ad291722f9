"""Analytic cost of an architecture: FLOPs under two counters, parameters and layer count.

Closed form, no nn.Module: the search calls it on batches of thousands of candidates.

Two FLOPs counters, because two conventions are in use and a budget means nothing without its counter
(docs/method.md, "Cost"):

* ``conv_macs``: multiply-accumulates of the backbone convolutions (stem, blocks, head conv) on a
  1×3×T×R×R clip at the sides the built network really has (⌈R/s⌉); BatchNorm, activations and the
  classifier are not counted. This is what fvcore reports under ``conv``.
* ``authors``: the count the E3D authors checked their budgets with: conv MACs plus 2·C per output
  position for each BatchNorm, C per position for each ReLU and C_in per input position for the
  stride-2 residual average pool, at fractional sides (R/2, R/4, … never rounded). The paper's budgets
  (2.0 / 5.0 / 18.5 G) are in this count.

Params are the backbone's trainable parameters (convs without bias + BatchNorm affine); the classifier
depends on the dataset, so it is not part of the architecture's cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from e3dnas.arch import Arch, ArchBatch


@dataclass(frozen=True)
class Cost:
    flops: float  # conv_macs
    authors_flops: float
    params: int
    layers: int

    def flops_by(self, counter: str) -> float:
        return {"conv_macs": self.flops, "authors": self.authors_flops}[counter]


def layers(batch: ArchBatch) -> np.ndarray:
    """Weight layers on the main path: stem + 3 per block + head."""
    return 2 + 3 * batch.column("depth").sum(axis=1)


def _per_position_costs(batch: ArchBatch, extras: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per part (stem, each stage, head): (cost per input position, cost per output position), per frame.

    ``extras`` adds the authors' BatchNorm (2·C), ReLU (C) and residual-pool (C_in) terms to the conv MACs.
    A stage's first block runs its expansion conv at the stage's input side, everything else at its output
    side, so each part is "a·R_in² + b·R_out²".
    """
    sk = batch.skeleton
    bn_relu = 3.0 if extras else 0.0  # BatchNorm 2·C + ReLU C per position, after every conv
    kt0, k0 = sk.stem_kernel
    c_in = batch.stem_width.astype(np.float64)
    zero = np.zeros(len(batch))
    parts = [(zero, c_in * (3.0 * kt0 * k0 * k0 + bn_relu))]
    width, bottle = batch.column("width"), batch.column("bottleneck")
    kt, k, depth = batch.column("kt"), batch.column("k"), batch.column("depth")
    for i, stride in enumerate(sk.strides):
        c, b = width[:, i].astype(np.float64), bottle[:, i].astype(np.float64)
        expand_in = c_in * b + bn_relu * b
        pool = c_in * ((c_in == c) & (stride == 2)) if extras else zero
        depthwise = b * kt[:, i] * k[:, i] ** 2 + bn_relu * b
        project = b * c + bn_relu * c
        others = (depth[:, i] - 1) * (c * b + bn_relu * b + depthwise + project)
        parts.append((expand_in + pool, depthwise + project + others))
        c_in = c
    parts.append((zero, c_in * sk.head_width + bn_relu * sk.head_width))
    return parts


def _by_part(batch: ArchBatch, rounding: str, extras: bool) -> list[np.ndarray]:
    sk = batch.skeleton
    stem_side, stage_sides = sk.sides(rounding)
    sides_in = [float(sk.resolution), float(stem_side), *map(float, stage_sides)]
    sides_out = [float(stem_side), *map(float, stage_sides), float(stage_sides[-1])]
    return [
        sk.frames * (per_in * side_in**2 + per_out * side_out**2)
        for (per_in, per_out), side_in, side_out in zip(
            _per_position_costs(batch, extras), sides_in, sides_out, strict=True
        )
    ]


#: counter name → FLOPs of the stem, each stage and the head conv, each an (N,) float64 array.
FLOPS_COUNTERS: dict[str, Callable[[ArchBatch], list[np.ndarray]]] = {
    "conv_macs": lambda batch: _by_part(batch, "ceil", extras=False),
    "authors": lambda batch: _by_part(batch, "exact", extras=True),
}


def flops_by_part(batch: ArchBatch, counter: str = "conv_macs") -> list[np.ndarray]:
    """FLOPs of the stem, each stage and the head conv under ``counter``, each an (N,) float64 array."""
    return FLOPS_COUNTERS[counter](batch)


def flops(batch: ArchBatch, counter: str = "conv_macs") -> np.ndarray:
    """FLOPs of each architecture in the batch under ``counter``, as float64 (E3D-L is ~1.8e10)."""
    return np.sum(flops_by_part(batch, counter), axis=0)


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
    """FLOPs under both counters, params and layers of one architecture."""
    batch = ArchBatch.from_archs([arch])
    return Cost(
        flops=float(flops(batch, "conv_macs")[0]),
        authors_flops=float(flops(batch, "authors")[0]),
        params=int(params(batch)[0]),
        layers=int(layers(batch)[0]),
    )
