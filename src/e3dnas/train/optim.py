"""Optimiser and learning-rate schedule of the training recipe."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float, decay_norm_and_bias: bool) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only: decaying BN scales and biases only hurts (X3D/E3D recipe)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (decay if decay_norm_and_bias or param.ndim > 1 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def sgd(groups: list[dict[str, Any]], cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        groups, lr=cfg["lr"], momentum=cfg.get("momentum", 0.9), nesterov=cfg.get("nesterov", True)
    )


def adamw(groups: list[dict[str, Any]], cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=cfg["lr"], betas=tuple(cfg.get("betas", (0.9, 0.999))))


OPTIMIZERS = {"sgd": sgd, "adamw": adamw}


def check_optimizer(name: str) -> None:
    """Reject an unknown ``optim.name`` when the module is built, not when Lightning starts fitting."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optim.name: unknown optimiser {name!r} (known: {', '.join(OPTIMIZERS)})")


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    check_optimizer(cfg["name"])
    groups = param_groups(model, cfg["weight_decay"], cfg.get("decay_norm_and_bias", False))
    return OPTIMIZERS[cfg["name"]](groups, cfg)


def warmup_cosine(total_steps: int, warmup_steps: int, min_lr_ratio: float):
    """LR multiplier per step: linear from ~0 to 1 over the warm-up, then cosine down to ``min_lr_ratio``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor
