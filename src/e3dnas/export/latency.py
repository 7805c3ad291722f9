"""Latency on this CPU: median and 90th percentile of single timed calls after a warm-up."""

from __future__ import annotations

import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch (and the runtimes that read torch's count) on ``count`` intra-op threads, then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def latency(call: Callable[[], object], warmup: int, runs: int) -> dict[str, float]:
    """Milliseconds per call: ``{"median": ..., "p90": ...}`` over ``runs`` timed calls after ``warmup``
    untimed ones (allocator, thread pool and graph-optimiser start-up)."""
    for _ in range(warmup):
        call()
    ms = [timeit.timeit(call, number=1) * 1e3 for _ in range(runs)]
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90))}
