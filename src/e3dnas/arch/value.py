"""The architecture value: one network of the E3D family, and a columnar batch of them.

An :class:`Arch` is what the YAML holds and what the model builder reads. An :class:`ArchBatch` holds
many architectures that share a :class:`Skeleton` (input size, strides, fixed stem/head) as one integer
matrix, so the cost model and the scorers can evaluate thousands of candidates with a few numpy ops.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from e3dnas.errors import E3DError

ACTIVATIONS = ("relu", "relu6", "silu", "gelu", "hardswish")

#: How a stride shrinks a spatial side: see :meth:`Skeleton.sides`.
SIDE_ROUNDING = {
    "ceil": lambda side, stride: -(-side // stride),
    "floor": lambda side, stride: side // stride,
    "exact": lambda side, stride: side / stride,
}


class InputSizeError(E3DError, ValueError):
    """A clip size no input has: frames or resolution under 1."""


@dataclass(frozen=True)
class Stem:
    """The first conv: 3 input channels → ``width``, kernel (kt, k), spatial ``stride``."""

    width: int
    kernel: tuple[int, int] = (1, 3)
    stride: int = 2


@dataclass(frozen=True)
class Stage:
    """``depth`` inverted-bottleneck blocks C_in → ``bottleneck`` → ``width``; the first has ``stride``."""

    width: int
    bottleneck: int
    kernel: tuple[int, int]
    depth: int
    stride: int


@dataclass(frozen=True)
class Arch:
    """stem → stages → head 1×1×1 conv, for clips of ``frames`` × ``resolution``²."""

    frames: int
    resolution: int
    stem: Stem
    stages: tuple[Stage, ...]
    head_width: int = 512
    activation: str = "relu"

    @property
    def skeleton(self) -> Skeleton:
        return Skeleton(
            frames=self.frames,
            resolution=self.resolution,
            stem_kernel=self.stem.kernel,
            stem_stride=self.stem.stride,
            strides=tuple(s.stride for s in self.stages),
            head_width=self.head_width,
            activation=self.activation,
        )

    def with_input(self, frames: int, resolution: int) -> Arch:
        """This network on ``frames``×``resolution``² clips; InputSizeError for a size under 1 (its cost
        and score would be negative or NaN)."""
        for name, value in (("frames", frames), ("resolution", resolution)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise InputSizeError(f"{name} must be an integer >= 1, got {value!r}")
        return replace(self, frames=frames, resolution=resolution)


@dataclass(frozen=True)
class Skeleton:
    """What all architectures of one search share: the parts no mutation touches."""

    frames: int
    resolution: int
    stem_kernel: tuple[int, int]
    stem_stride: int
    strides: tuple[int, ...]
    head_width: int
    activation: str = "relu"

    @property
    def num_stages(self) -> int:
        return len(self.strides)

    def input_problem(self) -> str | None:
        """Why this input size is degenerate (a feature map under 1 px), or None when it is fine.

        The built network rounds sides up and never reaches 0 px, but below 1 px of true side the deep
        stages see one padded pixel and their kernels (and the score's α) no longer mean anything.
        """
        _, sides = self.sides("exact")
        stride = round(self.resolution / sides[-1])
        if sides[-1] < 1:
            return (
                f"input {self.frames}×{self.resolution}² is too small: the network strides by {stride}, "
                f"so the last stage's feature map would be {sides[-1]:g} px; use a resolution of at least "
                f"{stride}"
            )
        return None

    def sides(
        self, rounding: str = "ceil", resolution: float | None = None
    ) -> tuple[float, tuple[float, ...]]:
        """Spatial side after the stem and after each stage, dividing by each stride in turn.

        ``rounding`` says what a division does: ``ceil`` is what the built network produces ('same'
        padding, odd kernels: ⌈R/s⌉), ``floor`` is what the authors' STEntr code uses (``int(R/s)``) and
        ``exact`` keeps fractions, as the authors' FLOPs counter does (312 → … → 19.5). ``resolution``
        replaces the input side (the authors' released M/L configs score every net at 160).
        """
        step = SIDE_ROUNDING[rounding]
        side = step(self.resolution if resolution is None else resolution, self.stem_stride)
        stem_side = side
        stage_sides = []
        for stride in self.strides:
            side = step(side, stride)
            stage_sides.append(side)
        return stem_side, tuple(stage_sides)


class ArchBatch:
    """N architectures of one :class:`Skeleton` as an int64 matrix of shape (N, 1 + 5·S).

    Columns: stem width, then per-stage blocks of S columns each: width, bottleneck, kt, k, depth.
    Rows are plain numbers, so hashing, de-duplication and mutation are numpy operations.
    """

    FIELDS = ("width", "bottleneck", "kt", "k", "depth")

    def __init__(self, skeleton: Skeleton, genes: np.ndarray):
        genes = np.asarray(genes, dtype=np.int64)
        expected = 1 + len(self.FIELDS) * skeleton.num_stages
        if genes.ndim != 2 or genes.shape[1] != expected:
            raise ValueError(f"genes must have shape (N, {expected}), got {genes.shape}")
        self.skeleton = skeleton
        self.genes = genes

    def __len__(self) -> int:
        return self.genes.shape[0]

    def column(self, field: str) -> np.ndarray:
        """(N, S) view of one per-stage field."""
        s = self.skeleton.num_stages
        start = 1 + self.FIELDS.index(field) * s
        return self.genes[:, start : start + s]

    @property
    def stem_width(self) -> np.ndarray:
        return self.genes[:, 0]

    @classmethod
    def from_archs(cls, archs: list[Arch] | tuple[Arch, ...]) -> ArchBatch:
        skeleton = archs[0].skeleton
        rows = []
        for arch in archs:
            if arch.skeleton != skeleton:
                raise ValueError("all architectures of a batch must share one skeleton")
            rows.append(
                [arch.stem.width]
                + [s.width for s in arch.stages]
                + [s.bottleneck for s in arch.stages]
                + [s.kernel[0] for s in arch.stages]
                + [s.kernel[1] for s in arch.stages]
                + [s.depth for s in arch.stages]
            )
        return cls(skeleton, np.array(rows, dtype=np.int64))

    def arch(self, index: int) -> Arch:
        sk = self.skeleton
        row = self.genes[index]
        cols = {f: self.column(f)[index] for f in self.FIELDS}
        stages = tuple(
            Stage(
                width=int(cols["width"][i]),
                bottleneck=int(cols["bottleneck"][i]),
                kernel=(int(cols["kt"][i]), int(cols["k"][i])),
                depth=int(cols["depth"][i]),
                stride=sk.strides[i],
            )
            for i in range(sk.num_stages)
        )
        return Arch(
            frames=sk.frames,
            resolution=sk.resolution,
            stem=Stem(width=int(row[0]), kernel=sk.stem_kernel, stride=sk.stem_stride),
            stages=stages,
            head_width=sk.head_width,
            activation=sk.activation,
        )
