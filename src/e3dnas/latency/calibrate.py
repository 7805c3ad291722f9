"""From a sum of op latencies to a network's latency, fitted on whole networks.

Ops timed alone are not a network: in the network each op reads an input the previous op just wrote,
and the framework dispatches between them (on a GPU at batch 1, launches are most of the time). Those
costs grow with the work done and with the number of blocks, so the table stores

    network ms = scale · Σ op ms + per_block_ms · blocks

fitted on a few networks timed whole by the profiler: least squares of the *relative* error (a 10 ms
network counts as much as a 100 ms one), both coefficients ≥ 0 (a negative one is noise, and would
extrapolate badly). Measured on this project's data, this form predicted held-out networks best: on an
H100 median error 4.2 % against 5.8 % with an offset term added (8 calibration networks, 53 held out); on
the shared 2-core CPU, whose own timings drift by ±15 %, all forms tried were within a point of each
other and the offset term was the worst.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from e3dnas.latency.table import Calibration


def fit_calibration(
    ops_ms: np.ndarray, blocks: np.ndarray, measured_ms: np.ndarray, genes: list[str]
) -> Calibration:
    """The fit over the networks (``genes``: each one's gene row, :func:`~e3dnas.profile.sample.genes_key`),
    which are kept in the result."""
    features = np.stack([ops_ms, blocks], axis=1) / measured_ms[:, None]
    (scale, per_block), _ = nnls(features, np.ones_like(measured_ms))
    networks = tuple(
        {"genes": g, "ops_ms": float(o), "blocks": int(b), "measured_ms": float(m)}
        for g, o, b, m in zip(genes, ops_ms, blocks, measured_ms, strict=True)
    )
    return Calibration(float(scale), float(per_block), networks)
