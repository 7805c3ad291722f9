"""What the pruning-at-init proxies share: which layers they sum over and the loss they differentiate."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The layers whose weights the pruning-at-init proxies (synflow, snip, grad_norm) sum over, as in their
#: reference code: convolutions and fully connected layers; BatchNorm affine parameters are left out.
WEIGHTED_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [module for module in model.modules() if isinstance(module, WEIGHTED_LAYERS)]


def train_mode_without_dropout(model: nn.Module) -> nn.Module:
    """BatchNorm normalises by the batch's statistics (train mode, as the proxies' papers score a network
    at initialisation) while dropout is off: its random mask would add noise unrelated to the network."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.Dropout | nn.Dropout2d | nn.Dropout3d):
            module.eval()
    return model


def loss_gradients(model: nn.Module, inputs: Tensor, labels: Tensor) -> list[tuple[Tensor, Tensor]]:
    """(weight, ∂L/∂weight) of every weighted layer, L the cross-entropy of ``model`` on a labelled batch."""
    train_mode_without_dropout(model)
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(inputs), labels).backward()
    pairs = []
    for layer in weighted_layers(model):
        grad = layer.weight.grad
        pairs.append((layer.weight.detach(), torch.zeros_like(layer.weight) if grad is None else grad))
    return pairs
