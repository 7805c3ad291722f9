"""Training-free scores of architectures: STEntr (docs/method.md, "Score") and the ablations beside it.

Every scorer maps an :class:`ArchBatch` to one float64 per architecture (a numpy array); higher is
better. The built-in ones are closed form over the stage table (a stage's d blocks are one term, not d),
so scoring a batch of thousands costs a few dozen numpy operations and never builds an nn.Module. Any
other scorer plugs in by ``_target_`` (:class:`ScorerSpec`); a built-in registers its factory where it is
defined (``@register_scorer(name)``, :mod:`e3dnas.registry`): the closed-form ones here, the proxies in their
own modules of :mod:`e3dnas.proxies`, imported only when one of them is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from e3dnas import cost
from e3dnas.arch import Arch, ArchBatch
from e3dnas.errors import E3DError
from e3dnas.registry import SCORERS, register_scorer
from e3dnas.schema import build_plugin

Scorer = Callable[[ArchBatch], np.ndarray]


class ScorerError(E3DError, ValueError):
    """A scorer is unknown, cannot be imported, breaks the scorer contract or gets bad options; the message
    names which."""


#: 1 − cos θ is floored here before the log: aligned kernel and feature-map vectors (cos θ = 1) would
#: otherwise give α = +inf. With this floor α ≤ −ln(1e-12) ≈ 27.6, far above any real layer's α (< 3).
COS_FLOOR = 1e-12


def refinement(frames, side, kt, k, floor: float = COS_FLOOR) -> np.ndarray:
    """Spatio-temporal refinement factor α(T, R, kt, k) (broadcasts over arrays)."""
    frames, side = np.asarray(frames, np.float64), np.asarray(side, np.float64)
    kt, k = np.asarray(kt, np.float64), np.asarray(k, np.float64)
    cos = (frames * kt + 2.0 * side * k) / (np.sqrt(frames**2 + 2.0 * side**2) * np.sqrt(kt**2 + 2.0 * k**2))
    alpha = -np.log(np.maximum(1.0 - cos, floor))
    return np.where(k == 1, 1.0, alpha)


def spatio_temporal_entropy(
    batch: ArchBatch,
    refine: bool = True,
    floor: float = COS_FLOOR,
    rounding: str = "ceil",
    resolution: int | None = None,
) -> np.ndarray:
    """STEntr = Σ_layers H + ln(C_final); with ``refine=False`` α ≡ 1 (the plain-entropy ablation).

    The objective is two choices (docs/method.md, "Objectives"): how a stride shrinks the feature-map
    side R that α sees (``ceil``: the sides the built network has; ``floor``: the authors' code) and at
    which input resolution (``None``: the architecture's own; a number: that one, as the authors'
    released M/L search configs score every candidate at 160).
    """
    sk = batch.skeleton
    stem_side, stage_sides = sk.sides(rounding, resolution)
    t = sk.frames

    def kernel_term(side, kt, k):
        alpha = refinement(t, side, kt, k, floor) if refine else 1.0
        return 0.5 * np.log(kt * k**2 * alpha)

    kt0, k0 = sk.stem_kernel
    c_in = batch.stem_width.astype(np.float64)
    total = 0.5 * np.log(3.0) + kernel_term(stem_side, kt0, k0) + np.zeros(len(batch))
    width, bottle = batch.column("width"), batch.column("bottleneck")
    kt, k, depth = batch.column("kt"), batch.column("k"), batch.column("depth")
    for i, side in enumerate(stage_sides):
        log_c, log_b = np.log(width[:, i]), np.log(bottle[:, i])
        per_block = 0.5 * log_b + kernel_term(side, kt[:, i], k[:, i])
        # The stage's first block reads C_in channels, the remaining d-1 read the stage width.
        total += 0.5 * np.log(c_in) + per_block + (depth[:, i] - 1) * (0.5 * log_c + per_block)
        c_in = width[:, i].astype(np.float64)
    total += 0.5 * np.log(c_in)  # head: 1×1×1 conv, α = 1
    return total + np.log(sk.head_width)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def random_score(batch: ArchBatch, seed: int = 0) -> np.ndarray:
    """A uniform [0, 1) value per architecture, fixed by (seed, genes): the same arch always scores alike."""
    with np.errstate(over="ignore"):
        h = np.full(len(batch), np.uint64(seed), dtype=np.uint64)
        for column in batch.genes.T.astype(np.uint64):
            h = _splitmix64(h ^ column)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


# The three STEntr entries are the three objectives in use (docs/method.md, "Objectives"): sides as the
# built network has them (the default), the authors' floored sides at the budget's resolution, and the
# authors' released M/L configs (floored sides, always at 160 px).
@register_scorer("stentr")
def _make_stentr(floor: float = COS_FLOOR, rounding: str = "ceil", resolution: int | None = None) -> Scorer:
    """STEntr: spatio-temporal entropy with the refinement α (docs/method.md, "Score")."""
    if rounding not in ("ceil", "floor"):
        raise ScorerError(f"scorer.rounding must be ceil or floor, got {rounding!r}")
    if resolution is not None and (
        isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1
    ):
        raise ScorerError(f"scorer.resolution must be null or a positive integer, got {resolution!r}")
    return lambda batch: spatio_temporal_entropy(batch, True, floor, rounding, resolution)


register_scorer(
    "stentr_floor",
    partial(_make_stentr, rounding="floor"),
    doc="STEntr on the authors' floored feature-map sides, at the budget's resolution.",
)
register_scorer(
    "stentr_authors",
    partial(_make_stentr, rounding="floor", resolution=160),
    doc="STEntr as the authors' released M/L search configs score: floored sides, always at 160 px.",
)


@register_scorer("entropy")
def _make_entropy() -> Scorer:
    """Plain entropy: STEntr without the refinement α (α ≡ 1), the paper's ablation."""
    return lambda batch: spatio_temporal_entropy(batch, refine=False)


@register_scorer("flops")
def _make_flops(counter: str = "authors") -> Scorer:
    """The network's FLOPs in ``counter``'s count: bigger is better (a baseline)."""
    if counter not in cost.FLOPS_COUNTERS:
        raise ScorerError(f"scorer.counter must be one of {', '.join(cost.FLOPS_COUNTERS)}, got {counter!r}")
    return lambda batch: cost.flops(batch, counter)


@register_scorer("params")
def _make_params() -> Scorer:
    """The backbone's parameter count: bigger is better (a baseline)."""
    return lambda batch: cost.params(batch).astype(np.float64)


@register_scorer("random")
def _make_random(seed: int = 0) -> Scorer:
    """A uniform [0, 1) value fixed by (seed, genes): the search without a signal."""
    return lambda batch: random_score(batch, seed)


#: The STEntr objectives, in the order they are reported.
OBJECTIVES = ("stentr", "stentr_floor", "stentr_authors")


def check_scores(values: object, batch: ArchBatch, source: str) -> np.ndarray:
    """``values`` if they are one finite-or-NaN float per architecture of ``batch``, else ScorerError."""
    if not isinstance(values, np.ndarray) or values.shape != (len(batch),) or values.dtype.kind not in "fiu":
        shape = getattr(values, "shape", type(values).__name__)
        raise ScorerError(
            f"scorer {source} returned {shape} for a batch of {len(batch)}: a scorer must return one "
            "number per architecture (a numpy array of that length)"
        )
    return values


@dataclass
class ScorerSpec:
    """A scorer as conf/scorer/<name>.yaml gives it: picklable, so island processes can rebuild it.

    The config node is flat (:meth:`from_config`): ``name`` and, for a scorer of one's own, ``_target_``
    (``package.module.factory``), beside the factory's keyword options. Without ``_target_`` ``name`` is
    a registered scorer (:data:`e3dnas.registry.SCORERS`); with it, ``name`` is only what outputs call the
    scorer. Either way :meth:`build` calls the factory with ``options`` and gets a :data:`Scorer`.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    _target_: str | None = None

    @classmethod
    def from_config(cls, node: Mapping[str, Any]) -> ScorerSpec:
        """The spec of a flat ``scorer`` node; without ``name`` a ``_target_``'s last part names it."""
        node = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        target = node.pop("_target_", None)
        name = node.pop("name", None)
        if name is None and target is not None:
            name = str(target).rsplit(".", 1)[-1]
        if not isinstance(name, str):
            raise ScorerError(f"scorer.name must be a scorer's name, got {name!r}")
        return cls(name, node, target)

    def config(self) -> dict[str, Any]:
        """The flat config node of this scorer (what :meth:`from_config` reads)."""
        return {"name": self.name, **self.options} | (
            {} if self._target_ is None else {"_target_": self._target_}
        )

    def build(self) -> Scorer:
        """The scorer; a ScorerError naming ``scorer.<option>`` for an unknown, missing or mistyped option."""
        return build_plugin(self.config(), SCORERS, "scorer", ScorerError)


def build_scorer(name: str, **options: Any) -> Scorer:
    """The built-in scorer ``name``, configured with ``options`` (conf/scorer/<name>.yaml)."""
    return ScorerSpec(name, options).build()


def score_arch(arch: Arch, name: str = "stentr", **options: Any) -> float:
    return float(build_scorer(name, **options)(ArchBatch.from_archs([arch]))[0])


def all_scores(arch: Arch, options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, float]:
    """Every closed-form scorer on one architecture (for the arch inspector and YAML metadata)."""
    options = options or {}
    closed_form = SCORERS.defined_in(__name__)
    return {name: score_arch(arch, name, **options.get(name, {})) for name in closed_form}
