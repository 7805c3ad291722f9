"""The E3D network built from an :class:`~e3dnas.arch.Arch` (docs/method.md, "Network").

Plain Conv3d/BatchNorm3d modules, 'same' padding, no temporal striding. The backbone is kept apart from
the classifier so the analytic cost model can be checked against it module for module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import Tensor, nn

from e3dnas.arch import Arch
from e3dnas.registry import register_model
from e3dnas.schema import ConfigValueError

#: Classifier heads: pool → Linear(head width → hidden) → activation → Dropout → Linear(→ classes).
#: ``authors``: the E3D authors' deploy head (Swish, dropout 0.2); ``x3d``: X3D's (ReLU, dropout 0.5).
HEADS: dict[str, tuple[Callable[[], nn.Module], float]] = {
    "authors": (nn.SiLU, 0.2),
    "x3d": (partial(nn.ReLU, inplace=True), 0.5),
}

#: In place where the layer allows it: one memory pass fewer per activation (~5 % of E3D-S CPU latency).
ACTIVATION_LAYERS: dict[str, Callable[[], nn.Module]] = {
    "relu": partial(nn.ReLU, inplace=True),
    "relu6": partial(nn.ReLU6, inplace=True),
    "silu": partial(nn.SiLU, inplace=True),
    "gelu": nn.GELU,
    "hardswish": partial(nn.Hardswish, inplace=True),
}


def conv_bn(
    c_in: int, c_out: int, kernel: tuple[int, int], stride: int = 1, groups: int = 1
) -> nn.Sequential:
    kt, k = kernel
    return nn.Sequential(
        nn.Conv3d(
            c_in,
            c_out,
            kernel_size=(kt, k, k),
            stride=(1, stride, stride),
            padding=(kt // 2, k // 2, k // 2),
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm3d(c_out),
    )


def conv_bn_act(
    c_in: int,
    c_out: int,
    kernel: tuple[int, int],
    activation: Callable[[], nn.Module],
    stride: int = 1,
    groups: int = 1,
) -> nn.Sequential:
    """Conv, BatchNorm, activation: the stem, a block's expand and depthwise convs, the head conv."""
    return nn.Sequential(conv_bn(c_in, c_out, kernel, stride, groups), activation())


def classifier(width: int, hidden: int, num_classes: int, head: str, dropout: float | None) -> nn.Sequential:
    """Pool → Linear(width → hidden) → the head's activation → Dropout → Linear(→ classes)."""
    head_activation, head_dropout = HEADS[head]
    return nn.Sequential(
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(1),
        nn.Linear(width, hidden),
        head_activation(),
        nn.Dropout(head_dropout if dropout is None else dropout),
        nn.Linear(hidden, num_classes),
    )


class InvertedBottleneck3d(nn.Module):
    """1×1×1 expand → depthwise kt×k×k (strided) → 1×1×1 project, residual when widths match."""

    def __init__(
        self,
        c_in: int,
        bottleneck: int,
        c_out: int,
        kernel: tuple[int, int],
        stride: int,
        activation: Callable[[], nn.Module],
    ):
        super().__init__()
        self.expand = conv_bn_act(c_in, bottleneck, (1, 1), activation)
        self.depthwise = conv_bn_act(bottleneck, bottleneck, kernel, activation, stride, groups=bottleneck)
        self.project = conv_bn(bottleneck, c_out, (1, 1))
        self.has_residual = c_in == c_out
        # ceil_mode keeps odd sides in step with the strided conv: ⌈R/2⌉ on both paths.
        self.shortcut = (
            nn.AvgPool3d((1, 2, 2), stride=(1, 2, 2), ceil_mode=True)
            if self.has_residual and stride == 2
            else nn.Identity()
        )
        self.out_act = activation()

    def forward(self, x: Tensor) -> Tensor:
        return self.merge(self.project(self.depthwise(self.expand(x))), x)

    def merge(self, y: Tensor, x: Tensor) -> Tensor:
        """The block's tail: ``y`` plus the (pooled, when strided) residual ``x`` if any, then activation."""
        if self.has_residual:
            y = y + self.shortcut(x)
        return self.out_act(y)


class E3DNet(nn.Module):
    """stem → stages → head conv (``backbone``) → pool → MLP classifier (``classifier``)."""

    def __init__(
        self,
        arch: Arch,
        num_classes: int,
        head: str = "authors",
        classifier_hidden: int = 2048,
        dropout: float | None = None,
        zero_init_residual: bool = True,
    ):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"model.head must be one of {', '.join(HEADS)}, got {head!r}")
        self.arch = arch
        act = ACTIVATION_LAYERS[arch.activation]
        layers: list[nn.Module] = [conv_bn_act(3, arch.stem.width, arch.stem.kernel, act, arch.stem.stride)]
        c_in = arch.stem.width
        for stage in arch.stages:
            blocks = [
                InvertedBottleneck3d(
                    c_in if i == 0 else stage.width,
                    stage.bottleneck,
                    stage.width,
                    stage.kernel,
                    stage.stride if i == 0 else 1,
                    act,
                )
                for i in range(stage.depth)
            ]
            layers.append(nn.Sequential(*blocks))
            c_in = stage.width
        layers.append(conv_bn_act(c_in, arch.head_width, (1, 1), act))
        self.backbone = nn.Sequential(*layers)
        self.classifier = classifier(arch.head_width, classifier_hidden, num_classes, head, dropout)
        self.reset_parameters(zero_init_residual)

    def reset_parameters(self, zero_init_residual: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            # Each residual block starts as the identity: deep nets train from the first step.
            for module in self.modules():
                if isinstance(module, InvertedBottleneck3d) and module.has_residual:
                    nn.init.zeros_(module.project[1].weight)

    def forward(self, clips: Tensor) -> Tensor:
        """(B, 3, T, H, W) → (B, num_classes) logits."""
        return self.classifier(self.backbone(clips))


@register_model(
    "e3d", doc="An E3D network of an architecture file (arch=...): the searched backbone and a head."
)
def build_e3d(
    *,
    arch: Arch | None,
    num_classes: int,
    head: str = "authors",
    classifier_hidden: int = 2048,
    dropout: float | None = None,
    zero_init_residual: bool = True,
    frames: int | None = None,
    resolution: int | None = None,
) -> E3DNet:
    """E3D pools adaptively, so it runs at any input size: the registry's frames/resolution are unused."""
    if arch is None:
        raise ConfigValueError("model 'e3d' needs an architecture (arch=<path/to/arch.yaml>)")
    return E3DNet(arch, num_classes, head, classifier_hidden, dropout, zero_init_residual)
