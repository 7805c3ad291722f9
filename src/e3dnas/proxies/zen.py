"""Zen-score (Lin et al., ICCV 2021, ZenNAS): how a feature map at Gaussian init responds to a nudge."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from e3dnas.arch import Arch
from e3dnas.proxies.layers import WEIGHTED_LAYERS
from e3dnas.proxies.scorer import ProxyScorer, ProxySettings
from e3dnas.registry import register_scorer

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def gaussian_init(model: nn.Module) -> None:
    """Conv and linear weights N(0, 1), biases 0, BatchNorm γ = 1 and β = 0 (the Zen-score's init)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, WEIGHTED_LAYERS):
                nn.init.normal_(module.weight)
            if isinstance(module, WEIGHTED_LAYERS + NORMS) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, NORMS):
                nn.init.ones_(module.weight)


def zen(features: nn.Module, inputs: Tensor, perturbation: Tensor, alpha: float = 0.01) -> float:
    """log(Δ / α) + Σ over BatchNorm layers of log √(mean over channels of the batch variance σ²).

    ``features`` maps a clip to the feature map before global pooling; Δ is the mean over the batch of
    Σ |f(x) − f(x + α·ε)| over that map, x = ``inputs`` and ε = ``perturbation`` (Gaussian in the paper).
    On a copy re-initialised by :func:`gaussian_init` (``features`` keeps its weights), BatchNorm in train
    mode, σ² read from each BatchNorm's input on the unperturbed forward.
    """
    net = copy.deepcopy(features)
    gaussian_init(net)
    variances: list[Tensor] = []

    def record(_module: nn.Module, args: tuple[Tensor, ...]) -> None:
        x = args[0]
        variances.append(x.transpose(0, 1).reshape(x.shape[1], -1).var(dim=1, unbiased=False).mean())

    net.train()
    with torch.no_grad():
        hooks = [m.register_forward_pre_hook(record) for m in net.modules() if isinstance(m, NORMS)]
        try:
            clean = net(inputs)
        finally:
            for hook in hooks:
                hook.remove()
        moved = net(inputs + alpha * perturbation)
    delta = (clean - moved).abs().flatten(1).sum(dim=1).mean()
    return float(torch.log(delta / alpha)) + sum(0.5 * math.log(float(v)) for v in variances)


@register_scorer("zen")
def zen_scorer(batch_size: int = 8, seed: int = 0, device: str = "cpu", alpha: float = 0.01) -> ProxyScorer:
    """Zen-score: the backbone's response to a small Gaussian nudge, per built candidate (data-free)."""
    return ProxyScorer("zen", _measure, ProxySettings(batch_size, seed, device, alpha=alpha))


def _measure(scorer: ProxyScorer, model: nn.Module, arch: Arch) -> float:
    return zen(model.backbone, *scorer.noise_pair(arch), alpha=scorer.settings.alpha)
