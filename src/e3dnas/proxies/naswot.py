"""NASWOT (Mellor et al., ICML 2021): how differently a network at initialisation codes the inputs of a batch.

Each input gets a binary code, one bit per unit of every activation layer: 1 where the unit's
pre-activation is positive. ReLU and Swish/SiLU (and ReLU6, GELU, hardswish) are all positive exactly
where their input is, so the code is the sign of the pre-activation whatever the activation: for ReLU it is
Mellor's code, for the others the same bit ("would a ReLU here be active").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from e3dnas.arch import Arch
from e3dnas.proxies.scorer import ProxyScorer, labelled_batch_proxy

#: The layers whose input is binarised.
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish)


def activation_kernel(model: nn.Module, inputs: Tensor) -> np.ndarray:
    """K[i, j] = N_A − Hamming(c_i, c_j) (the number of units on which inputs i and j agree), float64.

    One forward in train mode (BatchNorm on the batch's statistics, as a freshly built network runs in
    Mellor's code). Pre-hooks read each activation's input before an in-place activation overwrites it.
    """
    n = inputs.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def count(_module: nn.Module, args: tuple[Tensor, ...]) -> None:
        code = (args[0].detach().reshape(n, -1) > 0).to(torch.float32)
        # Agreements = both 1 + both 0; each layer's counts are exact in float32 (< 2^24 units per layer).
        agree = code @ code.T + (1 - code) @ (1 - code).T
        kernel.add_(agree.to(device="cpu", dtype=torch.float64))

    hooks = [m.register_forward_pre_hook(count) for m in model.modules() if isinstance(m, ACTIVATIONS)]
    try:
        with torch.no_grad():
            model.train()(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return kernel.numpy()


def naswot(model: nn.Module, inputs: Tensor) -> float:
    """log |det K| of :func:`activation_kernel`; −inf when K is singular (e.g. two inputs with one code)."""
    sign, logdet = np.linalg.slogdet(activation_kernel(model, inputs))
    return float(logdet) if sign != 0 else float("-inf")


@labelled_batch_proxy(
    "naswot",
    doc="NASWOT: log|det K| of the activation-code kernel of a batch, per built candidate (one forward).",
)
def _measure(scorer: ProxyScorer, model: nn.Module, arch: Arch) -> float:
    return naswot(model, scorer.labelled_batch(arch)[0])
