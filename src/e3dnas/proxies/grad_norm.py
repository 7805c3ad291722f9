"""grad_norm (Abdelfattah et al., ICLR 2021): how large the loss gradient is at initialisation."""

from __future__ import annotations

from torch import Tensor, nn

from e3dnas.arch import Arch
from e3dnas.proxies.layers import loss_gradients
from e3dnas.proxies.scorer import ProxyScorer, labelled_batch_proxy


def grad_norm(model: nn.Module, inputs: Tensor, labels: Tensor) -> float:
    """Σ over conv and linear layers of the Euclidean norm ‖∂L/∂W‖₂ of the layer's weight gradient, L the
    cross-entropy on the batch (BatchNorm in train mode, dropout off). Gradients are left on ``model``."""
    return float(sum(grad.norm() for _, grad in loss_gradients(model, inputs, labels)))


@labelled_batch_proxy(
    "grad_norm", doc="grad_norm: Σ over layers of ‖∂L/∂W‖₂ on a labelled batch, per built candidate."
)
def _measure(scorer: ProxyScorer, model: nn.Module, arch: Arch) -> float:
    return grad_norm(model, *scorer.labelled_batch(arch))
