"""What the optimiser and schedule configs (conf/optim, ``scheduler`` in conf/train.yaml) cannot say alone:
which parameters are decayed, and a schedule whose length is only known once the trainer counts its steps."""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR


def param_groups(model: nn.Module, decay_norm_and_bias: bool = False) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only: decaying BN scales and biases only hurts (X3D/E3D recipe).

    The first group takes the optimiser's ``weight_decay``, the second none."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if decay_norm_and_bias or param.ndim > 1 else no_decay).append(param)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_cosine(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    min_lr: float = 0.0,
) -> LRScheduler:
    """Per-step schedule: linear warm-up from ``lr / W`` to ``lr`` over the first W steps
    (``warmup_epochs`` × ``steps_per_epoch``), then cosine down to ``min_lr`` at ``total_steps``."""
    warmup = int(warmup_epochs * steps_per_epoch)
    cosine = CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup), eta_min=min_lr)
    if warmup <= 0:
        return cosine
    linear = LinearLR(optimizer, start_factor=1 / warmup, end_factor=1.0, total_iters=max(0, warmup - 1))
    return SequentialLR(optimizer, [linear, cosine], milestones=[warmup])
