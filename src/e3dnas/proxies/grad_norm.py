"""grad_norm (Abdelfattah et al., ICLR 2021): how large the loss gradient is at initialisation."""

from __future__ import annotations

from torch import Tensor, nn

from e3dnas.proxies.layers import loss_gradients


def grad_norm(model: nn.Module, inputs: Tensor, labels: Tensor) -> float:
    """Σ over conv and linear layers of the Euclidean norm ‖∂L/∂W‖₂ of the layer's weight gradient, L the
    cross-entropy on the batch (BatchNorm in train mode, dropout off). Gradients are left on ``model``."""
    return float(sum(grad.norm() for _, grad in loss_gradients(model, inputs, labels)))
