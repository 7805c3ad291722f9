"""Channel grids and multilinear interpolation between their points.

An op's latency is close to a + b·C_in + c·C_out + d·C_in·C_out (work and memory traffic both grow that
way), which bilinear interpolation reproduces exactly however far apart the grid points are; what it
misses is the kernels' efficiency changing with the channel count, which a geometric grid samples more
finely where it changes most (few channels). Profiler and predictor read cells through :func:`corners`,
so the points the profiler measures are exactly the ones interpolation will read.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np


def channel_axis(low: int, high: int, multiple: int, ratio: float) -> np.ndarray:
    """Multiples of ``multiple`` from ``low`` to ``high``, each at most ``ratio`` × the one before (and at
    least one ``multiple`` above it): 8, 16, 24, 40, 64, 96, … for ratio 1.5."""
    values = [low]
    while values[-1] < high:
        grown = -(-int(values[-1] * ratio) // multiple) * multiple
        values.append(min(max(grown, values[-1] + multiple), high))
    return np.array(values, dtype=np.int64)


def _cells(axis: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query: index of its cell's lower point and its weight on the upper one (0 on a grid point)."""
    if len(axis) == 1:
        return np.zeros(len(queries), dtype=np.int64), np.zeros(len(queries))
    low = np.clip(np.searchsorted(axis, queries, side="right") - 1, 0, len(axis) - 2)
    weight = (queries - axis[low]) / (axis[low + 1] - axis[low])
    return low, weight


def corners(
    grid: Sequence[np.ndarray], queries: np.ndarray
) -> list[tuple[tuple[np.ndarray, ...], np.ndarray]]:
    """The grid points each query (N, len(grid)) interpolates from: per corner of its cell, the index
    tuple and the weight (N,). A corner of weight 0 is left out for that query (marked by weight 0)."""
    cells = [_cells(axis, queries[:, d].astype(np.float64)) for d, axis in enumerate(grid)]
    out = []
    for upper in itertools.product((0, 1), repeat=len(grid)):
        index = tuple(
            np.minimum(low + u, len(axis) - 1) for (low, _), u, axis in zip(cells, upper, grid, strict=True)
        )
        weight = np.ones(len(queries))
        for (_, w), u in zip(cells, upper, strict=True):
            weight = weight * (w if u else 1.0 - w)
        out.append((index, weight))
    return out


def interpolate(grid: Sequence[np.ndarray], values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Multilinear interpolation of ``values`` (on ``grid``) at ``queries`` (N, len(grid)).

    NaN where a corner the query needs was not measured; outside the grid, NaN as well (extrapolating
    latency would invent it).
    """
    queries = np.asarray(queries)
    if not grid:
        return np.full(len(queries), float(values))
    total = np.zeros(len(queries))
    for index, weight in corners(grid, queries):
        total += np.where(weight > 0, weight * values[index], 0.0)
    inside = np.ones(len(queries), dtype=bool)
    for d, axis in enumerate(grid):
        inside &= (queries[:, d] >= axis[0]) & (queries[:, d] <= axis[-1])
    return np.where(inside, total, np.nan)


def needed_points(grid: Sequence[np.ndarray], queries: np.ndarray) -> np.ndarray:
    """Boolean mask over ``grid``: the points interpolation at ``queries`` reads."""
    mask = np.zeros(tuple(len(axis) for axis in grid), dtype=bool)
    for index, weight in corners(grid, queries):
        mask[tuple(i[weight > 0] for i in index)] = True
    return mask
