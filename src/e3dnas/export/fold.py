"""BatchNorm folding: at inference a BatchNorm after a convolution is an affine map of its output, so it
can live in the convolution's weights and bias (one op and one memory pass fewer per layer)."""

from __future__ import annotations

from torch import nn
from torch.fx.experimental.optimization import fuse

from e3dnas.export.errors import ExportError


def batchnorms(module: nn.Module) -> list[str]:
    """Names of the BatchNorm layers (any dimension) of ``module``."""
    return [
        name for name, layer in module.named_modules() if isinstance(layer, nn.modules.batchnorm._BatchNorm)
    ]


def fold_batchnorm(network: nn.Module) -> nn.Module:
    """A copy of ``network`` in eval mode with every BatchNorm folded into the convolution it follows
    (torch.fx's conv-BN fusion, i.e. ``fuse_conv_bn_eval`` on each pair); ``network`` itself is only put in
    eval mode.

    Raises ExportError when a BatchNorm is left (one that does not directly follow a convolution): the
    export would not be the folded network it claims to be.
    """
    folded = fuse(network.eval())
    left = batchnorms(folded)
    if left:
        raise ExportError(f"BatchNorm {left[0]} cannot be folded: it does not directly follow a convolution")
    return folded
