"""STEntr pinned by hand, the authors' objectives on the released nets, and the ablation scorers."""

import math
from pathlib import Path

import numpy as np
import pytest

from e3dnas import scores
from e3dnas.arch import Arch, ArchBatch, Stage, Stem, load_arch
from e3dnas.proxies.scorer import PROXY_SCORERS

CONF = Path(__file__).resolve().parents[1] / "conf"


def test_alpha_is_one_for_pointwise_kernels():
    assert scores.refinement(13, 80, 1, 1) == 1.0
    assert scores.refinement(16, 7, 3, 1) == 1.0


def test_alpha_hand_computed():
    # T=13, R=80, kt=1, k=3: cos θ = (13 + 480) / (sqrt(169 + 12800) · sqrt(1 + 18)) = 0.99315463…
    assert scores.refinement(13, 80, 1, 3) == pytest.approx(4.984183465704938, rel=1e-12)


def test_alpha_aligned_vectors_hit_the_floor():
    # (T, R, R) = (2, 6, 6) is parallel to (kt, k, k) = (1, 3, 3): cos θ = 1, so 1 − cos θ is floored.
    assert scores.refinement(2, 6, 1, 3) == pytest.approx(-math.log(scores.COS_FLOOR))
    assert scores.refinement(2, 6, 1, 3, floor=1e-6) == pytest.approx(-math.log(1e-6))


def tiny(kernel=(1, 1), stem_kernel=(1, 1), depth=2, frames=4) -> Arch:
    return Arch(
        frames=frames,
        resolution=16,
        stem=Stem(8, stem_kernel, 2),
        stages=(Stage(width=8, bottleneck=16, kernel=kernel, depth=depth, stride=2),),
        head_width=32,
    )


def test_stentr_pointwise_network_by_hand():
    # All kernels 1×1×1, so α = 1 everywhere:
    # stem ½ln(3) + 2 blocks × (½ln 8 + ½ln 16) + head ½ln 8 + ln 32
    expected = (
        0.5 * math.log(3) + 2 * (0.5 * math.log(8) + 0.5 * math.log(16)) + 0.5 * math.log(8) + math.log(32)
    )
    assert scores.score_arch(tiny()) == pytest.approx(expected, rel=1e-12)
    assert scores.score_arch(tiny(), "entropy") == pytest.approx(expected, rel=1e-12)


def test_stentr_with_refinement_by_hand():
    # stem 1×3×3 at R = ⌈16/2⌉ = 8, stage 3×3×3 at R = 4, T = 5.
    arch = tiny(kernel=(3, 3), stem_kernel=(1, 3), depth=3, frames=5)

    def alpha(t, r, kt, k):
        cos = (t * kt + 2 * r * k) / (math.sqrt(t * t + 2 * r * r) * math.sqrt(kt * kt + 2 * k * k))
        return -math.log(1 - cos)

    stem = 0.5 * math.log(3 * 1 * 9 * alpha(5, 8, 1, 3))
    block = 0.5 * math.log(8) + 0.5 * math.log(16) + 0.5 * math.log(3 * 9 * alpha(5, 4, 3, 3))
    expected = stem + 3 * block + 0.5 * math.log(8) + math.log(32)
    assert scores.score_arch(arch) == pytest.approx(expected, rel=1e-12)
    # The ablation drops exactly the ½ln α terms.
    without = expected - 0.5 * math.log(alpha(5, 8, 1, 3)) - 3 * 0.5 * math.log(alpha(5, 4, 3, 3))
    assert scores.score_arch(arch, "entropy") == pytest.approx(without, rel=1e-12)


def test_first_block_reads_stage_input_width():
    arch = Arch(4, 16, Stem(8, (1, 1), 2), (Stage(24, 16, (1, 1), 2, 2),), head_width=32)
    expected = (
        0.5 * math.log(3)
        + (0.5 * math.log(8) + 0.5 * math.log(16))
        + (0.5 * math.log(24) + 0.5 * math.log(16))
    )
    expected += 0.5 * math.log(24) + math.log(32)
    assert scores.score_arch(arch) == pytest.approx(expected, rel=1e-12)


def test_released_e3d_scores_order_with_size():
    s, m, large = (scores.score_arch(load_arch(CONF / "arch" / f"e3d_{n}.yaml")) for n in "sml")
    assert s < m < large


@pytest.mark.parametrize(
    ("name", "stentr", "stentr_floor", "stentr_authors"),
    [
        ("e3d_s", 202.8559, 202.8559, 202.8559),
        ("e3d_m", 204.9404, 204.9404, 201.7017),
        ("e3d_l", 411.3983, 411.8082, 405.0833),
    ],
)
def test_objectives_on_the_released_nets(name, stentr, stentr_floor, stentr_authors):
    """The authors' code floors sides (312 → stage 4 at 19) and, in its released M/L configs, scores at
    160 px whatever the input: their E3D-M and E3D-L figures are 201.7017 and 405.0833."""
    arch = load_arch(CONF / "arch" / f"{name}.yaml")
    assert scores.score_arch(arch, "stentr") == pytest.approx(stentr, abs=1e-4)
    assert scores.score_arch(arch, "stentr_floor") == pytest.approx(stentr_floor, abs=1e-4)
    assert scores.score_arch(arch, "stentr_authors") == pytest.approx(stentr_authors, abs=1e-4)
    assert scores.score_arch(arch, "stentr", rounding="floor", resolution=160) == pytest.approx(
        stentr_authors, abs=1e-4
    )


def test_bad_objective_options_are_named():
    with pytest.raises(scores.ScorerError, match=r"scorer\.rounding must be ceil or floor, got 'round'"):
        scores.build_scorer("stentr", rounding="round")
    with pytest.raises(scores.ScorerError, match=r"scorer\.resolution must be null or a positive integer"):
        scores.build_scorer("stentr", resolution=0)


def test_every_closed_form_scorer_scores_a_batch():
    archs = [load_arch(CONF / "arch" / f"e3d_{n}.yaml").with_input(16, 224) for n in "sml"]
    batch = ArchBatch.from_archs(archs)
    for name in scores.SCORERS.keys() - PROXY_SCORERS.keys():  # proxies: tests/test_proxies.py
        values = scores.build_scorer(name)(batch)
        assert values.shape == (3,) and values.dtype == np.float64 and np.isfinite(values).all()


def test_random_scorer_is_seeded_and_per_arch():
    batch = ArchBatch.from_archs(
        [load_arch(CONF / "arch" / f"e3d_{n}.yaml").with_input(16, 224) for n in "sml"]
    )
    a, b = scores.random_score(batch, seed=0), scores.random_score(batch, seed=0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, scores.random_score(batch, seed=1))
    assert len(set(a.tolist())) == 3 and ((a >= 0) & (a < 1)).all()


def test_unknown_scorer():
    with pytest.raises(scores.ScorerError, match="unknown scorer 'nope'"):
        scores.build_scorer("nope")
