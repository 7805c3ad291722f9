"""The ops a network of the space is made of, each one entry of a latency table.

A network is stem → blocks → head conv → classifier, and each block is four ops, timed alone as the model
builds them (:mod:`e3dnas.models.e3d`): ``expand`` (1×1×1 conv, BN, act), ``depthwise`` (kt×k×k conv, BN,
act; strided on a stage's first block), ``project`` (1×1×1 conv, BN) and ``tail`` (residual add, through
a 2×2 average pool on a strided block, then act). An :class:`Entry` is one op at one place in the network:
its kind, the feature-map side it reads, its stride, kernel and residual. What varies within an entry is
channel counts, its axes: a table holds each entry's latency over a grid of them.

:func:`stage_ops` is where networks and entries meet: the predictor and the profiler both read it. No
torch here (the search imports this); the modules timed for each entry are in
:mod:`e3dnas.latency.modules`.
"""

from __future__ import annotations

from dataclasses import dataclass

from e3dnas.arch import Arch, Skeleton

#: Channel axes of each kind of entry (the classifier has none: its shape is fixed by the skeleton).
AXES: dict[str, tuple[str, ...]] = {
    "stem": ("c_out",),
    "expand": ("c_in", "c_out"),
    "depthwise": ("channels",),
    "project": ("c_in", "c_out"),
    "tail": ("channels",),
    "head": ("c_in",),
    "classifier": (),
}

#: A block's tail: no residual (widths differ), identity residual, or average-pooled residual (strided).
RESIDUALS = ("none", "identity", "pool")


@dataclass(frozen=True)
class Entry:
    """One op at one place: ``side`` is the side of the feature map it reads."""

    kind: str
    side: int
    stride: int = 1
    kernel: tuple[int, int] = (1, 1)
    residual: str = "none"

    @property
    def name(self) -> str:
        """The entry's key in a table file, e.g. ``depthwise/80/s2/1x5`` or ``tail/40/identity``."""
        parts = [self.kind, str(self.side)]
        if self.stride != 1:
            parts.append(f"s{self.stride}")
        if self.kind == "depthwise":
            parts.append(f"{self.kernel[0]}x{self.kernel[1]}")
        if self.kind == "tail":
            parts.append(self.residual)
        return "/".join(parts)

    @property
    def axes(self) -> tuple[str, ...]:
        return AXES[self.kind]

    @property
    def side_out(self) -> int:
        return -(-self.side // self.stride)


def stem_entry(skeleton: Skeleton) -> Entry:
    return Entry("stem", skeleton.resolution, skeleton.stem_stride, skeleton.stem_kernel)


def head_entry(skeleton: Skeleton) -> Entry:
    _, sides = skeleton.sides()
    return Entry("head", int(sides[-1]))


def classifier_entry(skeleton: Skeleton) -> Entry:
    _, sides = skeleton.sides()
    return Entry("classifier", int(sides[-1]))


@dataclass(frozen=True)
class StageOps:
    """The entries of one stage: its first block (reads the stage's input side, strided) and the others.

    ``first_tail`` is indexed by whether the first block has a residual (its input width equals the
    stage's); the other blocks always have one.
    """

    first_expand: Entry
    first_depthwise: dict[tuple[int, int], Entry]
    first_tail: tuple[Entry, Entry]
    expand: Entry
    depthwise: dict[tuple[int, int], Entry]
    project: Entry
    tail: Entry


def stage_ops(skeleton: Skeleton, kernels: tuple[tuple[int, int], ...]) -> list[StageOps]:
    """Entries of every stage of ``skeleton``, depthwise ones for each of ``kernels``."""
    stem_side, sides = skeleton.sides()
    side_in, out = int(stem_side), []
    for stride, side in zip(skeleton.strides, map(int, sides), strict=True):
        residual = "pool" if stride == 2 else "identity"
        out.append(
            StageOps(
                first_expand=Entry("expand", side_in),
                first_depthwise={k: Entry("depthwise", side_in, stride, k) for k in kernels},
                first_tail=(Entry("tail", side), Entry("tail", side_in, stride, residual=residual)),
                expand=Entry("expand", side),
                depthwise={k: Entry("depthwise", side, 1, k) for k in kernels},
                project=Entry("project", side),
                tail=Entry("tail", side, residual="identity"),
            )
        )
        side_in = side
    return out


def arch_ops(arch: Arch) -> list[tuple[str, Entry, tuple[int, ...]]]:
    """Every op of ``arch`` in order, as (part, entry, channel point): one at a time, for reference and
    for per-part breakdowns (the search uses the vectorised predictor instead)."""
    sk = arch.skeleton
    stages = stage_ops(sk, tuple(s.kernel for s in arch.stages))
    ops = [("stem", stem_entry(sk), (arch.stem.width,))]
    c_in = arch.stem.width
    for i, (stage, entries) in enumerate(zip(arch.stages, stages, strict=True)):
        part, c, b = f"stage{i + 1}", stage.width, stage.bottleneck
        ops += [
            (part, entries.first_expand, (c_in, b)),
            (part, entries.first_depthwise[stage.kernel], (b,)),
            (part, entries.project, (b, c)),
            (part, entries.first_tail[int(c_in == c)], (c,)),
        ]
        for _ in range(stage.depth - 1):
            ops += [
                (part, entries.expand, (c, b)),
                (part, entries.depthwise[stage.kernel], (b,)),
                (part, entries.project, (b, c)),
                (part, entries.tail, (c,)),
            ]
        c_in = c
    return [*ops, ("head", head_entry(sk), (c_in,)), ("classifier", classifier_entry(sk), ())]
