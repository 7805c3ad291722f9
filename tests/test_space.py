"""Every child of the mutation is a valid member of the space (property-based)."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from e3dnas.arch import ArchBatch, load_arch
from e3dnas.space import SearchSpace, SpaceError

CONF = Path(__file__).resolve().parents[1] / "conf"
SPACE_CFG = yaml.safe_load((CONF / "space" / "e3d.yaml").read_text())


def make_space(max_layers=83, **changes) -> SearchSpace:
    return SearchSpace.from_config({**SPACE_CFG, **changes}, frames=13, resolution=160, max_layers=max_layers)


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
        assert space.violations(batch) == []
        ratio = batch.column("bottleneck") / batch.column("width")
        assert (ratio >= 1.5 - 4 / 8).all() and (ratio <= 4.0 + 4 / 8).all()


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


def test_released_e3d_s_is_in_the_space():
    space = make_space()
    space.check(load_arch(CONF / "arch" / "e3d_s.yaml"), "e3d_s")
