"""The torch module timed for each latency-table entry: the model's own building blocks, one op each."""

from __future__ import annotations

from torch import Tensor, nn

from e3dnas.arch import Skeleton
from e3dnas.latency.ops import Entry
from e3dnas.models.e3d import ACTIVATION_LAYERS, InvertedBottleneck3d, classifier, conv_bn, conv_bn_act

#: The classifier timed with every network (conf/model/e3d.yaml's defaults; 400 classes as Kinetics-400).
CLASSIFIER = {"num_classes": 400, "classifier_hidden": 2048, "head": "authors"}


class _Tail(nn.Module):
    """A block's tail alone: what :meth:`InvertedBottleneck3d.merge` does with the block's two inputs."""

    def __init__(self, block: InvertedBottleneck3d):
        super().__init__()
        self.block = block

    def forward(self, y: Tensor, x: Tensor) -> Tensor:
        return self.block.merge(y, x)


def op_module(entry: Entry, point: tuple[int, ...], skeleton: Skeleton) -> tuple[nn.Module, list[tuple]]:
    """The op of ``entry`` at channel ``point``, as the model builds it, and its input shapes (C, T, H, W)."""
    act = ACTIVATION_LAYERS[skeleton.activation]
    t, side = skeleton.frames, entry.side
    if entry.kind == "stem":
        (c,) = point
        return conv_bn_act(3, c, entry.kernel, act, entry.stride), [(3, t, side, side)]
    if entry.kind in ("expand", "head"):
        c_in, c_out = point if entry.kind == "expand" else (point[0], skeleton.head_width)
        return conv_bn_act(c_in, c_out, (1, 1), act), [(c_in, t, side, side)]
    if entry.kind == "depthwise":
        (c,) = point
        return conv_bn_act(c, c, entry.kernel, act, entry.stride, groups=c), [(c, t, side, side)]
    if entry.kind == "project":
        c_in, c_out = point
        return conv_bn(c_in, c_out, (1, 1)), [(c_in, t, side, side)]
    if entry.kind == "tail":
        (c,) = point
        c_in = c if entry.residual != "none" else c + 8  # any other width: no residual
        block = InvertedBottleneck3d(c_in, 8, c, (1, 1), entry.stride, act)
        return _Tail(block), [(c, t, entry.side_out, entry.side_out), (c_in, t, side, side)]
    if entry.kind == "classifier":
        head = classifier(
            skeleton.head_width,
            CLASSIFIER["classifier_hidden"],
            CLASSIFIER["num_classes"],
            CLASSIFIER["head"],
            None,
        )
        return head, [(skeleton.head_width, t, side, side)]
    raise ValueError(f"unknown op kind {entry.kind!r}")
