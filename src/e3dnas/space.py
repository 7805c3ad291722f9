"""The mutation space of the evolution (DESIGN §3), driven by conf/space/*.yaml.

Mutations act on whole batches of :class:`~e3dnas.arch.ArchBatch` gene rows at once. Each single mutation
is clamped to the constraints given the rest of the row (widths between their neighbours, bottleneck ratio
in range, depth capped and within the layer budget), so every child of a valid parent is valid: the repair
is part of the move, and no candidate is thrown away for breaking a structural rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from e3dnas.arch import Arch, ArchBatch, arch_from_dict
from e3dnas.arch.document import FORMAT_VERSION

#: Mutation sites per stage, in gene order after the stem site.
STAGE_SITES = ("width", "kernel", "bottleneck", "depth")


class SpaceError(ValueError):
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
    min_channels: int = 8
    max_channels: int = 640
    stem_max_width: int = 32
    first_stage_max_depth: int = 3
    blocks_per_depth_cap: int = 4
    mutations_per_child: int = 2

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, frames: int, resolution: int, max_layers: int):
        """Build from conf/space/<name>.yaml for one input size and layer budget."""
        cfg = dict(cfg)
        seed_tree = {"format": FORMAT_VERSION, "input": {"frames": frames, "resolution": resolution}}
        seed_tree.update(cfg.pop("seed"))
        seed = arch_from_dict(seed_tree, source="space.seed").arch
        space = cls(
            seed=seed,
            kernels=tuple(tuple(k) for k in cfg.pop("kernels")),
            width_multipliers=tuple(cfg.pop("width_multipliers")),
            bottleneck_ratios=tuple(cfg.pop("bottleneck_ratios")),
            depth_steps=tuple(cfg.pop("depth_steps")),
            max_layers=max_layers,
            **cfg,
        )
        smallest = 2 + 3 * seed.skeleton.num_stages
        if space.max_depths().min() < 1:
            raise SpaceError(
                f"a layer budget of {max_layers} is impossible: even one block per stage needs "
                f"{smallest} layers "
                f"and each stage may use at most layers/3/{space.blocks_per_depth_cap} blocks"
            )
        space.check(seed, "space.seed")
        return space

    @property
    def skeleton(self):
        return self.seed.skeleton

    def max_depths(self) -> np.ndarray:
        cap = self.max_layers // 3 // self.blocks_per_depth_cap
        caps = np.full(self.skeleton.num_stages, cap, dtype=np.int64)
        caps[0] = min(cap, self.first_stage_max_depth)
        return caps

    def round_channels(self, x: np.ndarray, upper: int | None = None) -> np.ndarray:
        """Nearest multiple of ``channel_multiple`` (halves up), in [min_channels, upper or max_channels]."""
        m = self.channel_multiple
        rounded = np.floor(np.asarray(x) / m + 0.5).astype(np.int64) * m
        return np.clip(rounded, self.min_channels, upper or self.max_channels)

    @property
    def max_bottleneck(self) -> int:
        return int(self.max_channels * max(self.bottleneck_ratios))

    def violations(self, batch: ArchBatch) -> list[str]:
        """Every rule of the space that some row of ``batch`` breaks (empty: all rows are members)."""
        out = []
        width, bottle, depth = batch.column("width"), batch.column("bottleneck"), batch.column("depth")
        stem = batch.stem_width
        if np.any(stem > self.stem_max_width) or np.any(stem % self.channel_multiple):
            out.append(
                f"stem width must be a multiple of {self.channel_multiple} and <= {self.stem_max_width}"
            )
        if np.any(width % self.channel_multiple) or np.any(
            (width < self.min_channels) | (width > self.max_channels)
        ):
            out.append(
                f"stage widths must be multiples of {self.channel_multiple} "
                f"in [{self.min_channels}, {self.max_channels}]"
            )
        inputs = np.concatenate([stem[:, None], width[:, :-1]], axis=1)
        if np.any(width < inputs):
            out.append("a stage is narrower than its input (C_out < C_in)")
        if np.any(depth < 1) or np.any(depth > self.max_depths()):
            out.append(f"stage depths must be within 1..{self.max_depths().tolist()}")
        if np.any(2 + 3 * depth.sum(axis=1) > self.max_layers):
            out.append(f"more than {self.max_layers} layers")
        kernels = np.stack([batch.column("kt"), batch.column("k")], axis=-1)
        allowed = np.array(self.kernels)
        if not np.all((kernels[..., None, :] == allowed).all(-1).any(-1)):
            out.append(f"stage kernels must be one of {list(self.kernels)}")
        if np.any(bottle < self.min_channels):
            out.append(f"bottlenecks must be >= {self.min_channels}")
        return out

    def check(self, arch: Arch, source: str) -> None:
        if arch.skeleton != self.skeleton:
            raise SpaceError(f"{source}: stem kernel/stride, stage strides or head differ from the space's")
        problems = self.violations(ArchBatch.from_archs([arch]))
        if problems:
            raise SpaceError(f"{source}: not in the search space: {'; '.join(problems)}")

    def mutate(self, genes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Children of ``genes`` (N, G): ``mutations_per_child`` clamped mutations per row."""
        child = ArchBatch(self.skeleton, np.array(genes, dtype=np.int64, copy=True))
        for _ in range(self.mutations_per_child):
            self._mutate_once(child, rng)
        return child.genes

    def _mutate_once(self, child: ArchBatch, rng: np.random.Generator) -> None:
        n, stages = len(child), self.skeleton.num_stages
        site = rng.integers(0, 1 + len(STAGE_SITES) * stages, size=n)
        stage, kind = np.divmod(site - 1, len(STAGE_SITES))
        rows = np.arange(n)
        width, bottle = child.column("width"), child.column("bottleneck")
        kt, k, depth = child.column("kt"), child.column("k"), child.column("depth")

        on = site == 0
        if on.any():
            grown = self.round_channels(child.stem_width[on] * rng.choice(self.width_multipliers, on.sum()))
            child.stem_width[on] = np.minimum(grown, np.minimum(self.stem_max_width, width[on, 0]))

        on = (site > 0) & (kind == STAGE_SITES.index("width"))
        if on.any():
            r, s = rows[on], stage[on]
            widths = np.concatenate(
                [child.stem_width[:, None], width, np.full((n, 1), self.max_channels)], axis=1
            )
            new = self.round_channels(width[r, s] * rng.choice(self.width_multipliers, on.sum()))
            width[r, s] = np.clip(new, widths[r, s], widths[r, s + 2])
            self._clamp_bottleneck(bottle, width, r, s)

        on = (site > 0) & (kind == STAGE_SITES.index("kernel"))
        if on.any():
            r, s = rows[on], stage[on]
            pick = np.array(self.kernels)[rng.integers(0, len(self.kernels), on.sum())]
            kt[r, s], k[r, s] = pick[:, 0], pick[:, 1]

        on = (site > 0) & (kind == STAGE_SITES.index("bottleneck"))
        if on.any():
            r, s = rows[on], stage[on]
            ratio = rng.choice(self.bottleneck_ratios, on.sum())
            bottle[r, s] = self.round_channels(width[r, s] * ratio, self.max_bottleneck)

        on = (site > 0) & (kind == STAGE_SITES.index("depth"))
        if on.any():
            r, s = rows[on], stage[on]
            spare_blocks = (self.max_layers - 2 - 3 * depth[r].sum(axis=1)) // 3
            upper = np.minimum(self.max_depths()[s], depth[r, s] + spare_blocks)
            depth[r, s] = np.clip(depth[r, s] + rng.choice(self.depth_steps, on.sum()), 1, upper)

    def _clamp_bottleneck(self, bottle: np.ndarray, width: np.ndarray, r: np.ndarray, s: np.ndarray) -> None:
        """Keep B / C_out within the ratio range after C_out changed."""
        lo = self.round_channels(width[r, s] * min(self.bottleneck_ratios), self.max_bottleneck)
        hi = self.round_channels(width[r, s] * max(self.bottleneck_ratios), self.max_bottleneck)
        bottle[r, s] = np.clip(bottle[r, s], lo, hi)
