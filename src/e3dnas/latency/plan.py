"""What a latency table must measure for a search space at one input size.

The space's channel counts are multiples of 8 up to 640, bottlenecks up to four times that: every op on
that lattice would be 10⁵–10⁶ timings. Three facts shrink it to a few hundred points per input size:

* widths never decrease from stem to head, so a stage is at most the head's width, and a bottleneck is
  one of six ratios of its stage's width: most (C, B) pairs never occur;
* a block whose convs' multiply-accumulates alone exceed the FLOPs budget is in no admitted network
  (``flops_cap``): it would also be the slowest ops to time, tensors of hundreds of MB;
* between grid points latency is interpolated (:mod:`e3dnas.latency.grid`), so only the corners of the
  cells holding an op that can occur are timed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from e3dnas.latency.grid import channel_axis, needed_points
from e3dnas.latency.ops import Entry, classifier_entry, head_entry, stage_ops, stem_entry
from e3dnas.space import SearchSpace


@dataclass(frozen=True)
class PlannedEntry:
    """An entry's grid (one axis per channel dimension) and which of its points to time."""

    entry: Entry
    grid: tuple[np.ndarray, ...]
    needed: np.ndarray

    def points(self) -> list[tuple[int, ...]]:
        """The channel points to time, in a stable order (small first)."""
        return [
            tuple(int(axis[i]) for axis, i in zip(self.grid, index, strict=True))
            for index in np.argwhere(self.needed)
        ]


def space_queries(space: SearchSpace, flops_cap: float) -> dict[Entry, np.ndarray]:
    """Every (entry, channel point) a network of ``space`` can contain, on the channel lattice, in a
    block of at most ``flops_cap`` multiply-accumulates (a larger block is in no admitted network)."""
    sk, m, frames = space.skeleton, space.channel_multiple, space.skeleton.frames
    widths = np.arange(m, min(space.max_channels, sk.head_width) + 1, m)
    stems = widths[widths <= space.stem_max_width]
    bottlenecks = space.bottleneck_grid(widths)  # (W, ratios)
    pairs = np.stack([np.repeat(widths, bottlenecks.shape[1]), bottlenecks.ravel()], axis=1)  # (C, B)
    found: dict[Entry, list[np.ndarray]] = defaultdict(list)
    found[stem_entry(sk)].append(stems[:, None])
    found[head_entry(sk)].append(widths[:, None])
    found[classifier_entry(sk)].append(np.zeros((1, 0), dtype=np.int64))
    inputs = stems
    for ops, max_depth in zip(stage_ops(sk, space.kernels), space.max_depths(), strict=True):
        positions_in = frames * ops.first_expand.side**2
        positions = frames * ops.project.side**2
        # First block: C_in → B → C with C >= C_in, B a ratio of C.
        i, j = np.nonzero(pairs[:, 0][None, :] >= inputs[:, None])
        c_in, c, b = inputs[i], pairs[j, 0], pairs[j, 1]
        for kernel, depthwise in ops.first_depthwise.items():
            kernel_macs = kernel[0] * kernel[1] ** 2
            fits = c_in * b * positions_in + b * (kernel_macs + c) * positions <= flops_cap
            found[ops.first_expand].append(np.stack([c_in[fits], b[fits]], axis=1))
            found[depthwise].append(b[fits, None])
            found[ops.project].append(np.stack([b[fits], c[fits]], axis=1))
            found[ops.first_tail[0]].append(c[fits & (c_in != c), None])
            found[ops.first_tail[1]].append(c[fits & (c_in == c), None])
            if max_depth > 1:
                later = pairs[(2 * pairs[:, 0] + kernel_macs) * pairs[:, 1] * positions <= flops_cap]
                found[ops.expand].append(later)
                found[ops.depthwise[kernel]].append(later[:, 1:])
                found[ops.project].append(later[:, ::-1])
                found[ops.tail].append(later[:, :1])
        inputs = widths
    return {entry: np.unique(np.concatenate(q), axis=0) for entry, q in found.items() if sum(map(len, q))}


def plan(space: SearchSpace, flops_cap: float, ratio: float) -> list[PlannedEntry]:
    """The entries a table for ``space`` holds, their grids (geometric, ``ratio`` apart) and the points
    to time: the corners of every cell holding an op of a block of at most ``flops_cap``
    multiply-accumulates."""
    m = space.channel_multiple
    planned = []
    for entry, queries in space_queries(space, flops_cap).items():
        grid = tuple(
            channel_axis(int(queries[:, d].min()), int(queries[:, d].max()), m, ratio)
            for d in range(queries.shape[1])
        )
        planned.append(PlannedEntry(entry, grid, needed_points(grid, queries)))
    return sorted(planned, key=lambda p: p.entry.name)
