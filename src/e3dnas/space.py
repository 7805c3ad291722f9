"""The mutation space of the evolution, driven by conf/space/*.yaml.

The moves are the E3D authors' (docs/method.md, "Search space"), vectorised over batches of
:class:`~e3dnas.arch.ArchBatch` gene rows:

* one block is drawn uniformly among the stem and the stages (the head is never mutated); a stage then
  changes one of its width, kernel, bottleneck ratio or depth, drawn uniformly; the stem only its width;
* a width is the old width times a multiplier, rounded to a multiple of ``channel_multiple``
  (half-to-even, as Python's ``round``), kept between the stage's input width and the next stage's width
  (the head's for the last stage) and at most ``max_channels``; the bottleneck is then recomputed from
  the stage's ratio, so B = round(C × ratio) always lies on the ratio grid;
* a new kernel, ratio or depth is redrawn up to as many times as there are choices until it differs
  from the current one (the authors' retry loop: a 1/n^n chance that it stays);
* depths change by a step, at least 1, at most ``first_stage_max_depth`` in the first stage and
  ⌊layers / 3 / ``blocks_per_depth_cap``⌋ elsewhere;
* a child over the layer budget is redrawn (another block, another move) up to ``layer_retries`` times;
  the last try is kept either way and the budget check of the search rejects it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np

from e3dnas.arch import Arch, ArchBatch, arch_from_dict
from e3dnas.arch.document import FORMAT_VERSION
from e3dnas.errors import E3DError
from e3dnas.registry import SPACES, register_space
from e3dnas.schema import build_plugin

#: What a stage mutation changes, drawn uniformly.
STAGE_MOVES = ("width", "kernel", "bottleneck", "depth")


class SpaceError(E3DError, ValueError):
    """The space config (or an architecture checked against it) breaks a rule; the message says which."""


@dataclass(frozen=True)
class SearchSpace:
    seed: Arch
    kernels: tuple[tuple[int, int], ...]
    width_multipliers: tuple[float, ...]
    bottleneck_ratios: tuple[float, ...]
    depth_steps: tuple[int, ...]
    max_layers: int
    channel_multiple: int = 8
    max_channels: int = 640
    stem_max_width: int = 32
    first_stage_max_depth: int = 3
    blocks_per_depth_cap: int = 4
    mutations_per_child: int = 2
    layer_retries: int = 7

    @classmethod
    def from_config(
        cls,
        *,
        seed: dict[str, Any],
        kernels: list[list[int]],
        width_multipliers: list[float],
        bottleneck_ratios: list[float],
        depth_steps: list[int],
        frames: int,
        resolution: int,
        max_layers: int,
        **knobs: int,
    ) -> SearchSpace:
        """The space of conf/space/e3d.yaml's options for one input size and layer budget; ``knobs`` are
        the optional integer fields (:data:`KNOBS`)."""
        unknown = sorted(set(knobs) - set(KNOBS))
        if unknown:
            known = ", ".join(
                ["seed", "kernels", "width_multipliers", "bottleneck_ratios", "depth_steps", *KNOBS]
            )
            raise SpaceError(f"space.{unknown[0]}: unknown option (its options: {known})")
        seed_tree = {"format": FORMAT_VERSION, "input": {"frames": frames, "resolution": resolution}}
        seed_tree.update(seed)
        seed_arch = arch_from_dict(seed_tree, source="space.seed").arch
        problem = seed_arch.skeleton.input_problem()
        if problem:
            raise SpaceError(problem)
        space = cls(
            seed=seed_arch,
            kernels=tuple(tuple(k) for k in kernels),
            width_multipliers=tuple(width_multipliers),
            bottleneck_ratios=tuple(bottleneck_ratios),
            depth_steps=tuple(depth_steps),
            max_layers=max_layers,
            **knobs,
        )
        for key in ("channel_multiple", "max_channels", "mutations_per_child", "layer_retries"):
            if not isinstance(getattr(space, key), int) or getattr(space, key) < 1:
                raise SpaceError(f"space.{key} must be a positive integer, got {getattr(space, key)!r}")
        if space.max_depths().min() < 1:
            cap = space.blocks_per_depth_cap
            raise SpaceError(
                f"a layer budget of {max_layers} is impossible: each stage needs a block and may have at "
                f"most layers/3/{cap} = {max_layers // 3 // cap}"
            )
        space.check(seed_arch, "space.seed")
        return space

    @cached_property
    def skeleton(self):
        return self.seed.skeleton

    def max_depths(self) -> np.ndarray:
        caps = np.full(self.skeleton.num_stages, self.max_layers // 3 // self.blocks_per_depth_cap)
        caps[0] = self.first_stage_max_depth
        return caps

    def round_channels(self, x: np.ndarray) -> np.ndarray:
        """Nearest multiple of ``channel_multiple``, halves to even (Python's ``round``), at least one."""
        m = self.channel_multiple
        return np.maximum(m, np.round(np.asarray(x, dtype=np.float64) / m).astype(np.int64) * m)

    def bottleneck_grid(self, width: np.ndarray) -> np.ndarray:
        """(..., R) bottlenecks a stage of ``width`` may have: one per ratio."""
        return self.round_channels(np.asarray(width)[..., None] * np.asarray(self.bottleneck_ratios))

    def nearest_ratio(self, width: np.ndarray, bottle: np.ndarray) -> np.ndarray:
        """The listed ratio closest to B / C (first listed on a tie)."""
        ratios = np.asarray(self.bottleneck_ratios)
        return ratios[np.abs((bottle / width)[..., None] - ratios).argmin(axis=-1)]

    def violations(self, batch: ArchBatch) -> list[str]:
        """Every rule of the space that some row of ``batch`` breaks (empty: all rows are members)."""
        out = []
        m = self.channel_multiple
        width, bottle, depth = batch.column("width"), batch.column("bottleneck"), batch.column("depth")
        stem = batch.stem_width
        if np.any(stem > self.stem_max_width) or np.any(stem % m) or np.any(stem < m):
            out.append(f"stem width must be a multiple of {m} in [{m}, {self.stem_max_width}]")
        if np.any(width % m) or np.any((width < m) | (width > self.max_channels)):
            out.append(f"stage widths must be multiples of {m} in [{m}, {self.max_channels}]")
        chain = np.concatenate(
            [stem[:, None], width, np.full((len(batch), 1), self.skeleton.head_width)], axis=1
        )
        if np.any(np.diff(chain, axis=1) < 0):
            out.append("widths must not decrease from the stem through the stages to the head")
        if np.any(depth < 1) or np.any(depth > self.max_depths()):
            out.append(f"stage depths must be within 1..{self.max_depths().tolist()}")
        if np.any(2 + 3 * depth.sum(axis=1) > self.max_layers):
            out.append(f"more than {self.max_layers} layers")
        kernels = np.stack([batch.column("kt"), batch.column("k")], axis=-1)
        if not np.all((kernels[..., None, :] == np.array(self.kernels)).all(-1).any(-1)):
            out.append(f"stage kernels must be one of {[list(k) for k in self.kernels]}")
        if not np.all((bottle[..., None] == self.bottleneck_grid(width)).any(-1)):
            out.append(
                f"bottlenecks must be round({m}-multiple)(width × ratio) for a ratio in "
                f"{list(self.bottleneck_ratios)}"
            )
        return out

    def check(self, arch: Arch, source: str) -> None:
        if arch.skeleton != self.skeleton:
            raise SpaceError(f"{source}: stem kernel/stride, stage strides or head differ from the space's")
        problems = self.violations(ArchBatch.from_archs([arch]))
        if problems:
            raise SpaceError(f"{source}: not in the search space: {'; '.join(problems)}")

    def mutate(self, genes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Children of ``genes`` (N, G): ``mutations_per_child`` moves per row, each retried on a layer
        budget overrun."""
        genes = np.array(genes, dtype=np.int64, copy=True)
        for _ in range(self.mutations_per_child):
            pending = np.arange(len(genes))
            for _ in range(self.layer_retries):
                trial = self._move(genes[pending], rng)
                over = 2 + 3 * ArchBatch(self.skeleton, trial).column("depth").sum(axis=1) > self.max_layers
                genes[pending[~over]] = trial[~over]
                if not over.any():
                    break
                last = trial[over]
                pending = pending[over]
            else:
                genes[pending] = last
        return genes

    def _redraw(self, current: np.ndarray, choices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The authors' change loop: up to len(choices) uniform draws, keep the first that differs
        (``choices`` (N, n) per row, or (n,) shared), else the last draw."""
        n = choices.shape[-1]
        picks = rng.integers(0, n, size=(len(current), n))
        drawn = choices[picks] if choices.ndim == 1 else np.take_along_axis(choices, picks, axis=1)
        differs = drawn != current[:, None]
        first = np.where(differs.any(axis=1), differs.argmax(axis=1), n - 1)
        return drawn[np.arange(len(current)), first]

    def _move(self, genes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One move per row on a copy of ``genes``: a block drawn among stem + stages, then its change."""
        child = ArchBatch(self.skeleton, genes.copy())
        n, stages = len(child), self.skeleton.num_stages
        block = rng.integers(0, 1 + stages, size=n)  # 0: the stem
        move = rng.integers(0, len(STAGE_MOVES), size=n)
        stage = block - 1
        width, bottle = child.column("width"), child.column("bottleneck")
        kt, k, depth = child.column("kt"), child.column("k"), child.column("depth")
        multipliers = np.asarray(self.width_multipliers)

        on = block == 0
        if on.any():
            grown = self.round_channels(child.stem_width[on] * rng.choice(multipliers, on.sum()))
            cap = np.minimum(min(self.max_channels, self.stem_max_width), width[on, 0])
            child.stem_width[on] = np.minimum(grown, cap)

        on = (block > 0) & (move == STAGE_MOVES.index("width"))
        if on.any():
            r, s = np.flatnonzero(on), stage[on]
            chain = np.concatenate(
                [child.stem_width[:, None], width, np.full((n, 1), self.skeleton.head_width)], axis=1
            )
            ratio = self.nearest_ratio(width[r, s], bottle[r, s])
            new = np.minimum(
                self.round_channels(width[r, s] * rng.choice(multipliers, on.sum())), self.max_channels
            )
            new = np.minimum(np.maximum(new, chain[r, s]), chain[r, s + 2])
            width[r, s] = new
            bottle[r, s] = self.round_channels(new * ratio)

        on = (block > 0) & (move == STAGE_MOVES.index("kernel"))
        if on.any():
            r, s = np.flatnonzero(on), stage[on]
            codes = np.array([100 * a + b for a, b in self.kernels])  # (kt, k) as one comparable number
            new = self._redraw(100 * kt[r, s] + k[r, s], codes, rng)
            kt[r, s], k[r, s] = np.divmod(new, 100)

        on = (block > 0) & (move == STAGE_MOVES.index("bottleneck"))
        if on.any():
            r, s = np.flatnonzero(on), stage[on]
            ratio = self._redraw(
                self.nearest_ratio(width[r, s], bottle[r, s]), np.asarray(self.bottleneck_ratios), rng
            )
            bottle[r, s] = self.round_channels(width[r, s] * ratio)

        on = (block > 0) & (move == STAGE_MOVES.index("depth"))
        if on.any():
            r, s = np.flatnonzero(on), stage[on]
            current = depth[r, s]
            stepped = np.maximum(1, current[:, None] + np.asarray(self.depth_steps))
            depth[r, s] = np.minimum(self._redraw(current, stepped, rng), self.max_depths()[s])
        return child.genes


#: The optional integer settings of a space, each defaulting to :class:`SearchSpace`'s value.
KNOBS = tuple(f.name for f in fields(SearchSpace) if f.default is not MISSING)

register_space("e3d", SearchSpace.from_config, doc="The E3D search space: the authors' space and moves.")


def build_space(cfg: Mapping[str, Any], *, frames: int, resolution: int, max_layers: int) -> SearchSpace:
    """The space of a conf/space config at one input size and layer budget.

    ``name`` picks a registered space (:data:`e3dnas.registry.SPACES`); ``_target_`` names a callable of
    one's own, called like :meth:`SearchSpace.from_config` (the other keys, then ``frames``,
    ``resolution`` and ``max_layers``, all as keywords), which must return a :class:`SearchSpace` (a
    subclass overriding the moves, say).
    """
    space = build_plugin(
        cfg, SPACES, "space", SpaceError, frames=frames, resolution=resolution, max_layers=max_layers
    )
    if not isinstance(space, SearchSpace):
        target = cfg.get("_target_")
        raise SpaceError(f"space._target_ {target!r} returned a {type(space).__name__}, not a SearchSpace")
    return space
