"""SynFlow (Tanaka et al., NeurIPS 2020) as a zero-cost proxy: the synaptic flow through |θ| on all-ones."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from e3dnas.arch import Arch
from e3dnas.proxies.layers import weighted_layers
from e3dnas.proxies.scorer import ProxyScorer, ProxySettings
from e3dnas.registry import register_scorer


def synflow(model: nn.Module, input_shape: Sequence[int]) -> float:
    """Σ over the weights of every conv and linear layer of |θ · ∂R/∂θ|, with every parameter and buffer
    replaced by its absolute value, R the sum of the outputs on one all-ones input of ``input_shape``.

    In float64 (R is a product over all layers and overflows float32 in deep nets) and in eval mode, so that
    BatchNorm applies its running statistics (mean 0, variance 1 at initialisation) rather than normalising
    the single all-ones input away, and dropout is off. Works on a copy: ``model`` is left as it was.
    """
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            tensor.abs_()
    net.zero_grad(set_to_none=True)
    net(
        torch.ones(tuple(input_shape), dtype=torch.float64, device=next(net.parameters()).device)
    ).sum().backward()
    with torch.no_grad():
        return float(sum((layer.weight * layer.weight.grad).abs().sum() for layer in weighted_layers(net)))


@register_scorer("synflow")
def synflow_scorer(seed: int = 0, device: str = "cpu") -> ProxyScorer:
    """SynFlow: the synaptic flow through |θ| on one all-ones clip, per built candidate (data-free)."""
    return ProxyScorer("synflow", _measure, ProxySettings(seed=seed, device=device))


def _measure(scorer: ProxyScorer, model: nn.Module, arch: Arch) -> float:
    return synflow(model, (1, 3, arch.frames, arch.resolution, arch.resolution))
