"""SNIP (Lee et al., ICLR 2019) as a zero-cost proxy: the connection sensitivity Σ |θ · ∂L/∂θ|."""

from __future__ import annotations

from torch import Tensor, nn

from e3dnas.proxies.layers import loss_gradients


def snip(model: nn.Module, inputs: Tensor, labels: Tensor) -> float:
    """Σ over the weights of every conv and linear layer of |θ · ∂L/∂θ|, L the cross-entropy on the batch
    (BatchNorm in train mode, dropout off). Gradients are left on ``model``."""
    return float(sum((weight * grad).abs().sum() for weight, grad in loss_gradients(model, inputs, labels)))
