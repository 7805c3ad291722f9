"""SNIP (Lee et al., ICLR 2019) as a zero-cost proxy: the connection sensitivity Σ |θ · ∂L/∂θ|."""

from __future__ import annotations

from torch import Tensor, nn

from e3dnas.arch import Arch
from e3dnas.proxies.layers import loss_gradients
from e3dnas.proxies.scorer import ProxyScorer, labelled_batch_proxy


def snip(model: nn.Module, inputs: Tensor, labels: Tensor) -> float:
    """Σ over the weights of every conv and linear layer of |θ · ∂L/∂θ|, L the cross-entropy on the batch
    (BatchNorm in train mode, dropout off). Gradients are left on ``model``."""
    return float(sum((weight * grad).abs().sum() for weight, grad in loss_gradients(model, inputs, labels)))


@labelled_batch_proxy(
    "snip", doc="SNIP: Σ |θ · ∂L/∂θ| of the cross-entropy on a labelled batch, per built candidate."
)
def _measure(scorer: ProxyScorer, model: nn.Module, arch: Arch) -> float:
    return snip(model, *scorer.labelled_batch(arch))
