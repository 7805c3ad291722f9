"""The analytic cost model against fvcore, a hook count on the built module, and the authors' figures."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fvcore.nn import FlopCountAnalysis

from e3dnas import cost
from e3dnas.arch import ArchBatch, load_arch
from e3dnas.models import build_model
from e3dnas.space import build_space

CONF = Path(__file__).resolve().parents[1] / "conf"


def fvcore_conv_flops(model: torch.nn.Module, frames: int, resolution: int) -> int:
    counter = FlopCountAnalysis(model, torch.zeros(1, 3, frames, resolution, resolution))
    counter.unsupported_ops_warnings(False)
    counter.uncalled_modules_warnings(False)
    return counter.by_operator()["conv"]


def random_archs(n: int, frames: int, resolution: int, max_layers: int, seed: int):
    """``n`` distinct members of the E3D space, reached by many rounds of mutation from the seed."""
    cfg = yaml.safe_load((CONF / "space" / "e3d.yaml").read_text())
    space = build_space(cfg, frames=frames, resolution=resolution, max_layers=max_layers)
    rng = np.random.default_rng(seed)
    genes = np.repeat(ArchBatch.from_archs([space.seed]).genes, n, axis=0)
    for _ in range(40):
        genes = space.mutate(genes, rng)
    batch = ArchBatch(space.skeleton, np.unique(genes, axis=0))
    return [batch.arch(i) for i in range(len(batch))]


@pytest.mark.parametrize(
    ("name", "conv_macs", "authors", "layers"),
    [
        ("e3d_s", 1.8637, 1.9528, 83),
        ("e3d_m", 4.6429, 4.8634, 83),
        ("e3d_l", 18.3403, 18.4926, 167),
    ],
)
def test_released_costs_match_both_counters(name, conv_macs, authors, layers):
    """conv MACs as fvcore counts them; the authors' figures as their get_flops reports them."""
    c = cost.cost(load_arch(CONF / "arch" / f"{name}.yaml"))
    assert c.flops / 1e9 == pytest.approx(conv_macs, abs=1e-4)
    assert c.authors_flops / 1e9 == pytest.approx(authors, abs=1e-4)
    assert c.layers == layers


def hook_count(model: torch.nn.Module, frames: int, resolution: int) -> float:
    """What the authors' counter counts, measured on the module: conv MACs, 2·C per BatchNorm output
    position, C per ReLU output position and C per average-pool input position."""
    total = 0.0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv3d):
            total += output.numel() * module.weight[0].numel()
        elif isinstance(module, torch.nn.BatchNorm3d):
            total += 2 * output.numel()
        elif isinstance(module, torch.nn.ReLU):
            total += output.numel()
        elif isinstance(module, torch.nn.AvgPool3d):
            total += inputs[0].numel()

    handles = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, 3, frames, resolution, resolution))
    for handle in handles:
        handle.remove()
    return total


@pytest.mark.parametrize(("frames", "resolution"), [(4, 64), (3, 96), (2, 160)])
def test_authors_counter_agrees_with_a_hook_count(frames, resolution):
    """At sides that stay whole through every stride (64 → 32 → … → 2) the fractional sides of the
    authors' count are the built network's, so the two must agree exactly on ≥ 50 random archs."""
    archs = random_archs(24, frames, resolution, max_layers=83, seed=resolution + 7)
    assert len(archs) >= 17
    for arch in archs:
        model = build_model("e3d", arch=arch, num_classes=10).eval()
        assert cost.cost(arch).authors_flops == pytest.approx(hook_count(model.backbone, frames, resolution))


def test_authors_counter_keeps_fractional_sides():
    """At 312 the authors count stage 4 at 19.5 px where the network has 20: their sides are R/2^i."""
    arch = load_arch(CONF / "arch" / "e3d_l.yaml")
    assert arch.skeleton.sides("exact") == (156.0, (78.0, 39.0, 19.5, 19.5, 9.75))
    assert arch.skeleton.sides("floor") == (156, (78, 39, 19, 19, 9))


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
    for counter in cost.FLOPS_COUNTERS:
        parts = cost.flops_by_part(batch, counter)
        np.testing.assert_allclose(np.sum(parts, axis=0), cost.flops(batch, counter))
        assert len(parts) == 2 + len(archs[0].stages)
    np.testing.assert_allclose(cost.flops(batch, "authors"), [cost.cost(a).authors_flops for a in archs])
    # At 160 px every side is whole, so BatchNorm, ReLU and pooling only add to the conv MACs.
    assert (cost.flops(batch, "authors") > cost.flops(batch)).all()


def test_spatial_sides_use_ceil():
    arch = load_arch(CONF / "arch" / "e3d_l.yaml")
    assert arch.skeleton.sides() == (156, (78, 39, 20, 20, 10))
    assert load_arch(CONF / "arch" / "e3d_s.yaml").skeleton.sides() == (80, (40, 20, 10, 10, 5))
