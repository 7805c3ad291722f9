"""The mutation is the authors': every child lies on their grid and within their caps (property-based)."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from e3dnas.arch import ArchBatch, load_arch
from e3dnas.space import SearchSpace, SpaceError, build_space

CONF = Path(__file__).resolve().parents[1] / "conf"
SPACE_CFG = yaml.safe_load((CONF / "space" / "e3d.yaml").read_text())


def make_space(max_layers=83, **changes) -> SearchSpace:
    return build_space({**SPACE_CFG, **changes}, frames=13, resolution=160, max_layers=max_layers)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_layers=st.sampled_from([35, 83, 167]), rounds=st.integers(1, 60))
def test_children_stay_in_the_space(seed, max_layers, rounds):
    """60 examples × up to 60 rounds × 64 rows: tens of thousands of mutations, each checked."""
    space = make_space(max_layers)
    rng = np.random.default_rng(seed)
    genes = np.repeat(ArchBatch.from_archs([space.seed]).genes, 64, axis=0)
    for _ in range(rounds):
        genes = space.mutate(genes, rng)
        batch = ArchBatch(space.skeleton, genes)
        assert space.violations(batch) == []  # B on the ratio grid, widths ordered up to the head, caps
        width, bottle = batch.column("width"), batch.column("bottleneck")
        ratios = space.nearest_ratio(width, bottle).ravel()
        on_grid = [round(c * r / 8) * 8 for c, r in zip(width.ravel(), ratios, strict=True)]  # Python's round
        assert (np.maximum(8, on_grid) == bottle.ravel()).all()
        assert (width[:, -1] <= 512).all() and (width <= 640).all() and (batch.stem_width <= 32).all()


def test_mutation_changes_at_most_two_sites_and_explores():
    space = make_space()
    rng = np.random.default_rng(0)
    parents = np.repeat(ArchBatch.from_archs([space.seed]).genes, 2000, axis=0)
    children = space.mutate(parents, rng)
    changed = (children != parents).sum(axis=1)
    # One site may touch two genes (a kernel is kt and k; a width change can clamp the bottleneck).
    assert changed.max() <= 4
    assert (changed > 0).mean() > 0.5
    batch = ArchBatch(space.skeleton, children)
    assert len(np.unique(batch.column("depth"))) > 1 and len(np.unique(batch.column("kt"))) > 1


def test_depth_caps_follow_the_layer_budget():
    assert make_space(83).max_depths().tolist() == [3, 6, 6, 6, 6]
    assert make_space(167).max_depths().tolist() == [3, 13, 13, 13, 13]
    assert make_space(35).max_depths().tolist() == [3, 2, 2, 2, 2]  # the first stage's cap is its own


def test_rounding_is_half_to_even_like_pythons_round():
    space = make_space()
    # 24 × 1.5 = 36 → 32 (4.5 → 4), 120 × 1.5 = 180 → 176 (22.5 → 22), 184 × 2.5 = 460 → 464 (57.5 → 58)
    assert space.round_channels(np.array([36, 180, 460, 3])).tolist() == [32, 176, 464, 8]
    assert space.bottleneck_grid(np.array([120])).tolist() == [[176, 240, 304, 360, 416, 480]]


def test_changed_choices_differ_except_for_the_authors_retry_odds():
    """A kernel/ratio/depth move redraws up to n times until it differs: it stays put with odds 1/n^n."""
    space = make_space()
    rng = np.random.default_rng(0)
    current = np.zeros(200_000, dtype=np.int64)
    same = (space._redraw(current, np.arange(3), rng) == current).mean()
    assert same == pytest.approx(1 / 27, abs=0.003)


def test_walk_reaches_the_released_widths_and_bottlenecks():
    """The released nets' (C, B) pairs lie on the authors' grid, so their moves reach them."""
    space = make_space()
    rng = np.random.default_rng(0)
    genes = np.repeat(ArchBatch.from_archs([space.seed]).genes, 256, axis=0)
    pairs = set()
    for _ in range(100):
        genes = space.mutate(genes, rng)
        batch = ArchBatch(space.skeleton, genes)
        pairs |= set(zip(batch.column("width").ravel(), batch.column("bottleneck").ravel(), strict=True))
    assert {(24, 32), (48, 96), (120, 176), (256, 384)} <= {(int(c), int(b)) for c, b in pairs}


def test_space_is_config_driven():
    space = make_space(
        kernels=[[1, 5], [3, 3], [3, 5]], width_multipliers=[2.0], bottleneck_ratios=[2.0, 3.0]
    )
    rng = np.random.default_rng(1)
    genes = np.repeat(ArchBatch.from_archs([space.seed]).genes, 256, axis=0)
    for _ in range(20):
        genes = space.mutate(genes, rng)
    batch = ArchBatch(space.skeleton, genes)
    kernels = set(zip(batch.column("kt").ravel().tolist(), batch.column("k").ravel().tolist(), strict=True))
    assert kernels == {(1, 5), (3, 3), (3, 5)}
    widths = batch.column("width")
    ratio = batch.column("bottleneck") / widths
    assert (ratio >= 2.0 - 4 / widths).all() and (ratio <= 3.0 + 4 / widths).all()


def test_seed_outside_the_space_is_rejected():
    bad_seed = {**SPACE_CFG["seed"], "stem": {"width": 20, "kernel": [1, 3], "stride": 2}}
    with pytest.raises(SpaceError, match=r"space.seed: not in the search space: stem width"):
        make_space(seed=bad_seed)


@pytest.mark.parametrize(("name", "layers"), [("e3d_s", 83), ("e3d_m", 83), ("e3d_l", 167)])
def test_released_nets_are_members(name, layers):
    arch = load_arch(CONF / "arch" / f"{name}.yaml")
    build_space(SPACE_CFG, frames=arch.frames, resolution=arch.resolution, max_layers=layers).check(
        arch, name
    )


def test_membership_checks_the_bottleneck():
    arch = load_arch(CONF / "arch" / "e3d_s.yaml")
    stages = list(arch.stages)
    stages[2] = replace(stages[2], bottleneck=184)  # 184 / 120 is no listed ratio's rounding
    with pytest.raises(SpaceError, match="bottlenecks must be round"):
        make_space().check(replace(arch, stages=tuple(stages)), "off-grid")


def test_last_stage_is_capped_by_the_head():
    arch = load_arch(CONF / "arch" / "e3d_s.yaml")
    stages = list(arch.stages)
    stages[4] = replace(stages[4], width=640, bottleneck=960)
    with pytest.raises(SpaceError, match="widths must not decrease"):
        make_space().check(replace(arch, stages=tuple(stages)), "wide")
