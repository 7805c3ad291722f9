"""What the optimiser and schedule configs (conf/optim, ``scheduler`` in conf/train.yaml) cannot say alone:
which parameters are decayed, the learning rate of the batch the run actually takes, and a schedule whose
length is only known once the trainer counts its steps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler


def param_groups(model: nn.Module, decay_norm_and_bias: bool = False) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only: decaying BN scales and biases only hurts (X3D/E3D recipe).

    The first group takes the optimiser's ``weight_decay``, the second none."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if decay_norm_and_bias or param.ndim > 1 else no_decay).append(param)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


@dataclass(frozen=True)
class ScaledRate:
    """The linear scaling rule: ``base`` is the rate for ``reference_batch`` clips per optimiser step; a run
    taking ``global_batch`` clips per step uses ``base × global_batch / reference_batch``, so the rate per
    clip stays the recipe's whatever the number of devices. ``reference_batch`` None: ``base`` as given."""

    base: float
    reference_batch: int | None
    global_batch: int

    @property
    def lr(self) -> float:
        if self.reference_batch is None:
            return self.base
        return self.base * self.global_batch / self.reference_batch

    def describe(self) -> str:
        if self.reference_batch is None:
            return f"lr {self.lr:g} as configured (optim.reference_batch=null: not scaled to the batch)"
        return (
            f"lr {self.lr:g} = base {self.base:g} × global batch {self.global_batch} / reference "
            f"{self.reference_batch}"
        )

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "lr": self.lr,
            "base_lr": self.base,
            "reference_batch": self.reference_batch,
            "global_batch": self.global_batch,
        }


def global_batch(per_device: int, world_size: int, accumulate: int) -> int:
    """Clips per optimiser step: per-device batch × devices × nodes (``world_size``) × accumulated batches."""
    return per_device * world_size * accumulate


def warmup_cosine_factor(
    step: int,
    *,
    total_steps: int,
    warmup_steps: int,
    min_factor: float = 0.0,
    start_factor: float | None = None,
    cosine_after_warmup: bool = True,
) -> float:
    """The rate at ``step`` as a fraction of the peak rate (see :func:`warmup_cosine`)."""

    def cosine(at: int) -> float:
        offset = warmup_steps if cosine_after_warmup else 0
        progress = (at - offset) / max(1, total_steps - offset)
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    if step >= warmup_steps:
        return cosine(step)
    start = 1 / warmup_steps if start_factor is None else start_factor
    end = cosine(warmup_steps)
    return start + (end - start) * step / max(1, warmup_steps - 1)


def warmup_cosine(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    min_lr: float = 0.0,
    warmup_start_factor: float | None = None,
    cosine_after_warmup: bool = True,
) -> LRScheduler:
    """Per-step schedule: linear warm-up over the first W steps (``warmup_epochs`` × ``steps_per_epoch``)
    from ``warmup_start_factor`` × lr (None: lr / W, i.e. from about 0), then a half cosine down to
    ``min_lr`` at ``total_steps``.

    ``cosine_after_warmup`` true: the cosine starts at the peak rate when the warm-up ends. False (X3D's
    recipe, PySlowFast's ``SOLVER.COSINE_AFTER_WARMUP: False``): the cosine spans the whole run and the
    warm-up ramps to the value it has reached at step W."""
    warmup = int(warmup_epochs * steps_per_epoch)
    factors = [
        lambda step, peak=group["lr"]: warmup_cosine_factor(
            step,
            total_steps=total_steps,
            warmup_steps=warmup,
            min_factor=min_lr / peak if peak else 0.0,
            start_factor=warmup_start_factor,
            cosine_after_warmup=cosine_after_warmup,
        )
        for group in optimizer.param_groups
    ]
    return LambdaLR(optimizer, factors)
