"""The analytic cost model against fvcore and the built module (DESIGN §5)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fvcore.nn import FlopCountAnalysis

from e3dnas import cost
from e3dnas.arch import ArchBatch, load_arch
from e3dnas.models import build_model
from e3dnas.space import SearchSpace

CONF = Path(__file__).resolve().parents[1] / "conf"


def fvcore_conv_flops(model: torch.nn.Module, frames: int, resolution: int) -> int:
    counter = FlopCountAnalysis(model, torch.zeros(1, 3, frames, resolution, resolution))
    counter.unsupported_ops_warnings(False)
    counter.uncalled_modules_warnings(False)
    return counter.by_operator()["conv"]


def random_archs(n: int, frames: int, resolution: int, max_layers: int, seed: int):
    """``n`` distinct members of the E3D space, reached by many rounds of mutation from the seed."""
    cfg = yaml.safe_load((CONF / "space" / "e3d.yaml").read_text())
    space = SearchSpace.from_config(cfg, frames=frames, resolution=resolution, max_layers=max_layers)
    rng = np.random.default_rng(seed)
    genes = np.repeat(ArchBatch.from_archs([space.seed]).genes, n, axis=0)
    for _ in range(40):
        genes = space.mutate(genes, rng)
    batch = ArchBatch(space.skeleton, np.unique(genes, axis=0))
    return [batch.arch(i) for i in range(len(batch))]


@pytest.mark.parametrize(
    ("name", "gflops", "layers"), [("e3d_s", 1.86, 83), ("e3d_m", 4.64, 83), ("e3d_l", 18.34, 167)]
)
def test_released_costs_match_the_paper_convention(name, gflops, layers):
    arch = load_arch(CONF / "arch" / f"{name}.yaml")
    c = cost.cost(arch)
    assert c.flops / 1e9 == pytest.approx(gflops, abs=0.005)
    assert c.layers == layers


@pytest.mark.slow
@pytest.mark.parametrize("name", ["e3d_s", "e3d_m", "e3d_l"])
def test_released_costs_agree_with_fvcore_and_module(name):
    arch = load_arch(CONF / "arch" / f"{name}.yaml")
    model = build_model("e3d", arch=arch, num_classes=174).eval()
    measured = fvcore_conv_flops(model.backbone, arch.frames, arch.resolution)
    c = cost.cost(arch)
    assert c.flops == pytest.approx(measured, rel=0.01)
    assert c.params == sum(p.numel() for p in model.backbone.parameters())


@pytest.mark.parametrize(("frames", "resolution"), [(4, 64), (3, 90), (5, 100)])
def test_random_archs_agree_with_fvcore_and_module(frames, resolution):
    """Odd sides (90 → 45 → 23 → 12 …) exercise the ⌈R/s⌉ rule of 'same' padding."""
    archs = random_archs(24, frames, resolution, max_layers=83, seed=resolution)
    assert len(archs) >= 17  # ≥ 50 distinct architectures over the three sizes
    for arch in archs:
        model = build_model("e3d", arch=arch, num_classes=10).eval()
        c = cost.cost(arch)
        assert c.flops == pytest.approx(fvcore_conv_flops(model.backbone, frames, resolution), rel=0.01), arch
        assert c.params == sum(p.numel() for p in model.backbone.parameters()), arch
        assert c.layers == 2 + 3 * sum(s.depth for s in arch.stages)


def test_batch_matches_single_and_parts_sum():
    archs = random_archs(16, 13, 160, 83, seed=1)
    batch = ArchBatch.from_archs(archs)
    np.testing.assert_allclose(cost.flops(batch), [cost.cost(a).flops for a in archs])
    np.testing.assert_array_equal(cost.params(batch), [cost.cost(a).params for a in archs])
    np.testing.assert_allclose(np.sum(cost.flops_by_part(batch), axis=0), cost.flops(batch))
    assert len(cost.flops_by_part(batch)) == 2 + len(archs[0].stages)


def test_spatial_sides_use_ceil():
    arch = load_arch(CONF / "arch" / "e3d_l.yaml")
    assert arch.skeleton.sides() == (156, (78, 39, 20, 20, 10))
    assert load_arch(CONF / "arch" / "e3d_s.yaml").skeleton.sides() == (80, (40, 20, 10, 10, 5))
