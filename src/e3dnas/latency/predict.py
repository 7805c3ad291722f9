"""Latency of whole batches of architectures from a table, at search speed.

At construction every op a stage can hold is interpolated once onto the space's channel lattice
(multiples of ``channel_multiple``) and summed into per-stage arrays, so predicting a batch is four
integer gathers per stage and no interpolation: a stage is first block + (depth − 1) × later block, a
block expand + depthwise + project + tail as in the network; a later block depends on (kernel, width,
bottleneck) only, a first block also on its input width. Ops the table did not time (outside the FLOPs
cap it was planned for) are NaN, and so is the latency of a network holding one: the search rejects it.
"""

from __future__ import annotations

import numpy as np

from e3dnas.arch import Arch, ArchBatch
from e3dnas.latency.ops import Entry, arch_ops, classifier_entry, head_entry, stage_ops, stem_entry
from e3dnas.latency.table import LatencyError, LatencyTable


class LatencyPredictor:
    """Predicted milliseconds per forward pass of networks of the table's skeleton."""

    def __init__(self, table: LatencyTable):
        self.table = table
        sk = table.skeleton
        self.multiple = int(table.space["channel_multiple"])
        self.kernels = [tuple(k) for k in table.space["kernels"]]
        top = max(int(axis[-1]) for e in table.entries.values() for axis in e.grid)
        self.lattice = np.arange(0, top + 2 * self.multiple, self.multiple)  # the last: "beyond", NaN
        kernel_codes = np.full(100 * max(kt for kt, _ in self.kernels) + 100, len(self.kernels))
        for i, (kt, k) in enumerate(self.kernels):
            kernel_codes[100 * kt + k] = i
        self.kernel_codes = kernel_codes  # (kt, k) → row of the depthwise tables; unknown → a NaN row
        self.stem = self._dense(stem_entry(sk), 1)
        self.head = self._dense(head_entry(sk), 1)
        self.classifier = float(table.entry(classifier_entry(sk)).ms)  # also: is it this skeleton's table
        # Per stage, flattened and stages concatenated for one np.take over all of them: first expand
        # (C_in, B), first depthwise + project (kernel, C, B), first tail (residual?, C), later block
        # (kernel, C, B).
        parts: list[list[np.ndarray]] = [[], [], [], []]
        for ops in stage_ops(sk, tuple(self.kernels)):
            project = self._dense(ops.project, 2).T[None]  # table axes (B, C) → (1, C, B)
            first = self._kernels(ops.first_depthwise)[:, None, :] + project
            later = self._dense(ops.expand, 2)[None] + self._kernels(ops.depthwise)[:, None, :] + project
            later += self._dense(ops.tail, 1)[None, :, None]
            first_tail = np.stack([self._dense(e, 1) for e in ops.first_tail])
            for part, array in zip(
                parts, (self._dense(ops.first_expand, 2), first, first_tail, later), strict=True
            ):
                part.append(array.ravel())
        self.offsets = [np.arange(sk.num_stages) * len(p[0]) for p in parts]
        self.first_expand, self.first, self.first_tail, self.later = (np.concatenate(p) for p in parts)

    def _dense(self, entry: Entry, ndim: int) -> np.ndarray:
        """The entry interpolated at every lattice point (``ndim`` lattice axes); NaN where the table has
        no time: beyond its grid, over its FLOPs cap, or the whole entry (later blocks of a space whose
        stages hold one block)."""
        shape = (len(self.lattice),) * ndim
        found = self.table.entries.get(entry.name)
        if found is None:
            return np.full(shape, np.nan)
        axes = np.meshgrid(*[self.lattice] * ndim, indexing="ij")
        values = found.at(np.stack([a.ravel() for a in axes], axis=1)).reshape(shape)
        for axis in range(ndim):
            np.moveaxis(values, axis, 0)[-1] = np.nan  # the "beyond the table" slot
        return values

    def _kernels(self, entries: dict[tuple[int, int], Entry]) -> np.ndarray:
        rows = [self._dense(entries[k], 1) for k in self.kernels]
        return np.stack([*rows, np.full(len(self.lattice), np.nan)])

    def _index(self, batch: ArchBatch) -> np.ndarray:
        """Lattice index of every gene (its channel count / the multiple; the last: beyond the table)."""
        channels = batch.genes[:, : 1 + 2 * batch.skeleton.num_stages]  # stem, widths, bottlenecks
        if np.any(channels % self.multiple):
            raise LatencyError(
                f"the latency table covers channel counts that are multiples of {self.multiple}; "
                f"got {sorted(set(channels[channels % self.multiple != 0].tolist()))[:5]}"
            )
        return np.minimum(batch.genes // self.multiple, len(self.lattice) - 1)

    def _check(self, batch: ArchBatch) -> None:
        sk, want = batch.skeleton, self.table.skeleton
        if (sk.frames, sk.resolution) != (want.frames, want.resolution):
            raise LatencyError(
                f"the latency table was measured at {want.frames}×{want.resolution}² inputs; these networks "
                f"run at {sk.frames}×{sk.resolution}²"
            )
        if sk != want:
            raise LatencyError("the latency table was measured for another stem, strides, head or activation")

    def ops_ms(self, batch: ArchBatch) -> np.ndarray:
        """Σ of the table's op latencies of each network (uncalibrated), (N,) float64."""
        self._check(batch)
        index, n = self._index(batch), len(self.lattice)
        shaped = ArchBatch(batch.skeleton, index)
        width, bottle = shaped.column("width"), shaped.column("bottleneck")
        c_in = np.concatenate([index[:, :1], width[:, :-1]], axis=1)
        codes = np.minimum(100 * batch.column("kt") + batch.column("k"), len(self.kernel_codes) - 1)
        kcb = (self.kernel_codes[codes] * n + width) * n + bottle
        first_expand, first, first_tail, later = self.offsets
        blocks = self.first_expand.take(first_expand + c_in * n + bottle) + self.first.take(first + kcb)
        blocks += self.first_tail.take(first_tail + (c_in == width) * n + width)
        more = batch.column("depth") - 1
        # 0 × NaN is NaN: a one-block stage must not pay for later blocks the table lacks.
        blocks += np.where(more > 0, more * self.later.take(later + kcb), 0.0)
        return self.stem[index[:, 0]] + self.head[width[:, -1]] + self.classifier + blocks.sum(axis=1)

    def predict(self, batch: ArchBatch) -> np.ndarray:
        """Calibrated milliseconds per forward pass of each network, (N,) float64 (NaN: outside the table)."""
        blocks = batch.column("depth").sum(axis=1)
        return self.table.calibration.apply(self.ops_ms(batch), blocks)

    def predict_arch(self, arch: Arch) -> float:
        return float(self.predict(ArchBatch.from_archs([arch]))[0])


def ops_ms_by_part(table: LatencyTable, arch: Arch) -> dict[str, float]:
    """Σ op ms of each part (stem, stage1…, head, classifier) of one network, op by op from the table:
    the reference the vectorised predictor is checked against, and the inspector's per-stage column."""
    parts: dict[str, float] = {}
    for part, entry, point in arch_ops(arch):
        found = table.entries.get(entry.name)
        ms = float(found.at(np.array([point]))[0]) if found is not None else float("nan")
        parts[part] = parts.get(part, 0.0) + ms
    return parts
