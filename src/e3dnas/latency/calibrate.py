"""From a sum of op latencies to a network's latency, fitted on whole networks.

Ops timed alone are not a network: in the network each op reads an input the previous op just wrote and
allocates its output while others are alive, and the framework dispatches between them. Those costs
grow with the work done (a scale) and with the number of blocks (a per-block cost), so the table stores
a least-squares fit of measured = scale · Σ ops + per_block · blocks + offset over a few networks timed
whole by the profiler.
"""

from __future__ import annotations

import numpy as np

from e3dnas.latency.table import Calibration


def fit_calibration(
    ops_ms: np.ndarray, blocks: np.ndarray, measured_ms: np.ndarray, genes: list[str]
) -> Calibration:
    """Least squares of ``measured_ms`` on ``ops_ms`` and ``blocks``; the networks (``genes``: each one's
    gene row, :func:`~e3dnas.latency.sample.genes_key`) are kept in the result."""
    features = np.stack([ops_ms, blocks, np.ones_like(ops_ms)], axis=1)
    (scale, per_block, offset), *_ = np.linalg.lstsq(features, measured_ms, rcond=None)
    networks = tuple(
        {"genes": g, "ops_ms": float(o), "blocks": int(b), "measured_ms": float(m)}
        for g, o, b, m in zip(genes, ops_ms, blocks, measured_ms, strict=True)
    )
    return Calibration(float(scale), float(per_block), float(offset), networks)
