"""grad_norm (Abdelfattah et al., ICLR 2021): how large the loss gradient is at initialisation."""

from __future__ import annotations

from torch import Tensor, nn

from e3dnas.arch import Arch
from e3dnas.proxies.layers import loss_gradients
from e3dnas.proxies.scorer import ProxyScorer, ProxySettings
from e3dnas.registry import register_scorer


def grad_norm(model: nn.Module, inputs: Tensor, labels: Tensor) -> float:
    """Σ over conv and linear layers of the Euclidean norm ‖∂L/∂W‖₂ of the layer's weight gradient, L the
    cross-entropy on the batch (BatchNorm in train mode, dropout off). Gradients are left on ``model``."""
    return float(sum(grad.norm() for _, grad in loss_gradients(model, inputs, labels)))


@register_scorer("grad_norm")
def grad_norm_scorer(
    batch_size: int = 8, seed: int = 0, device: str = "cpu", data_root: str | None = None
) -> ProxyScorer:
    """grad_norm: Σ over layers of ‖∂L/∂W‖₂ on a labelled batch, per built candidate."""
    return ProxyScorer("grad_norm", _measure, ProxySettings(batch_size, seed, device, data_root))


def _measure(scorer: ProxyScorer, model: nn.Module, arch: Arch) -> float:
    return grad_norm(model, *scorer.labelled_batch(arch))
