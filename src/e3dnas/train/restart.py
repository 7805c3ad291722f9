"""Where a resumed training starts again and what it redoes, said in one line of its own; the rows the
earlier attempt logged past its last checkpoint are dropped from ``metrics.csv``, so that each step appears
once (the weights they describe were never saved)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from lightning.pytorch.loggers import Logger

from e3dnas.train.csvlog import ContinuedCSVLogger


@dataclass(frozen=True)
class ResumePoint:
    """What a checkpoint restores: its epoch (the one under way), its optimiser step, and the step the loggers
    count (Lightning's batches that stepped: the ``step`` column of metrics.csv)."""

    path: Path
    epoch: int
    step: int
    logged_step: int


def resume_point(path: Path) -> ResumePoint:
    saved = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    loop = saved.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
    step = int(saved.get("global_step", 0))
    return ResumePoint(
        Path(path), int(saved.get("epoch", 0)), step, int(loop.get("_batches_that_stepped", step))
    )


def restart(point: ResumePoint, loggers: Sequence[Logger]) -> str:
    """Drop the CSV rows logged after ``point`` and say, in one line, where the run resumes and what it
    redoes. Other loggers keep what they received: a wandb run or a TensorBoard log of a resumed training
    shows the redone steps twice."""
    dropped = sum(
        logger.drop_rows_after(point.logged_step) or 0  # None on ranks > 0
        for logger in loggers
        if isinstance(logger, ContinuedCSVLogger)
    )
    redone = f" ({dropped} metrics.csv rows past it dropped)" if dropped else ""
    return (
        f"resuming from {point.path}: epoch {point.epoch}, step {point.step}; what the earlier attempt did "
        f"after step {point.step} is redone{redone}"
    )
