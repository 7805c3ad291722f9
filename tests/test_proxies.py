"""The zero-cost proxies on networks small enough to check by hand, and as search scorers."""

import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from e3dnas.arch import Arch, ArchBatch, Stage, Stem, read_arch
from e3dnas.errors import E3DError
from e3dnas.proxies.grad_norm import grad_norm
from e3dnas.proxies.naswot import activation_kernel, naswot
from e3dnas.proxies.scorer import PROXY_SCORERS, STAND_IN_CLASSES
from e3dnas.proxies.snip import snip
from e3dnas.proxies.synflow import synflow
from e3dnas.proxies.zen import zen
from e3dnas.scores import build_scorer

ROOT = Path(__file__).resolve().parents[1]
#: The shared real clips: ../shared/data/arid6 from the repository root (or from its worktrees' folder).
ARID6 = next(
    (p / "shared/data/arid6" for p in ROOT.parents[:2] if (p / "shared/data/arid6").is_dir()), Path()
)

#: Two stages, 2 frames of 16 px: a network every proxy scores in a fraction of a second.
TINY = Arch(
    frames=2,
    resolution=16,
    stem=Stem(width=8),
    stages=(Stage(8, 16, (3, 3), 2, 2), Stage(16, 24, (1, 3), 1, 2)),
    head_width=32,
)
TINY_WIDER = Arch(
    frames=2,
    resolution=16,
    stem=Stem(width=8),
    stages=(Stage(8, 16, (3, 3), 2, 2), Stage(24, 32, (1, 3), 1, 2)),
    head_width=32,
)


def seeded_linear(*sizes: int, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(*(nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(sizes)))


# --- synflow ----------------------------------------------------------------------------------------------


def test_synflow_of_a_linear_chain_is_its_closed_form():
    """Without biases R = 1ᵀ|W₃||W₂||W₁|1 is linear in each layer's weights, so each layer's
    Σ θ·∂R/∂θ is R itself (Euler) and synflow = (number of layers) · R."""
    model = seeded_linear(5, 4, 3, 2)
    weights = [layer.weight.detach().double().abs().numpy() for layer in model]
    flow = np.ones(5)
    for w in weights:
        flow = w @ flow
    assert synflow(model, (1, 5)) == pytest.approx(3 * flow.sum(), rel=1e-12)
    assert (model[0].weight < 0).any(), "synflow must leave the network's own (signed) weights alone"


def test_synflow_of_pointwise_3d_convs_sums_over_every_position():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(3, 4, 1, bias=False), nn.ReLU(), nn.Conv3d(4, 2, 1, bias=False))
    w1, w2 = (m.weight.detach().double().abs().flatten(1).numpy() for m in (model[0], model[2]))
    positions = 2 * 3 * 3
    assert synflow(model, (1, 3, 2, 3, 3)) == pytest.approx(2 * positions * (w2 @ w1 @ np.ones(3)).sum())


# --- naswot -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", [nn.ReLU, nn.SiLU])
def test_naswot_kernel_counts_agreeing_units(activation):
    """Codes 101 and 110 agree on one unit of three: K = [[3, 1], [1, 3]], log det = log 8, for ReLU and
    for SiLU alike (the code is the sign of the pre-activation)."""
    inputs = torch.tensor([[1.0, -1.0, 2.0], [0.5, 3.0, -2.0]])
    model = nn.Sequential(nn.Identity(), activation())
    np.testing.assert_array_equal(activation_kernel(model, inputs), [[3, 1], [1, 3]])
    assert naswot(model, inputs) == pytest.approx(math.log(8))


def test_naswot_of_identical_inputs_is_minus_infinity():
    """Every input codes alike: K is N_A everywhere (rank 1, singular), reported as −inf."""
    model = seeded_linear(6, 7)
    model.append(nn.ReLU())
    inputs = torch.randn(1, 6).repeat(4, 1)
    np.testing.assert_array_equal(activation_kernel(model, inputs), np.full((4, 4), 7.0))
    assert naswot(model, inputs) == -math.inf


def test_naswot_reads_an_in_place_activation_before_it_overwrites_its_input():
    inputs = torch.tensor([[1.0, -1.0], [-1.0, -1.0]])
    assert naswot(nn.Sequential(nn.Identity(), nn.ReLU(inplace=True)), inputs) == pytest.approx(math.log(3))


# --- snip and grad_norm -------------------------------------------------------------------------------------


def test_snip_and_grad_norm_of_one_linear_layer_match_the_hand_gradient():
    """L = CE(Wx, y): ∂L/∂W = (softmax(Wx) − onehot(y)) xᵀ."""
    model = seeded_linear(3, 4)
    x, y = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([2])
    w = model[0].weight.detach().double().numpy()
    logits = w @ x[0].double().numpy()
    grad = np.outer(np.exp(logits) / np.exp(logits).sum() - np.eye(4)[2], x[0].double().numpy())
    assert snip(model, x, y) == pytest.approx(np.abs(w * grad).sum(), rel=1e-5)
    assert grad_norm(model, x, y) == pytest.approx(np.linalg.norm(grad), rel=1e-5)


def test_grad_norm_sums_the_norms_of_each_layer():
    model = seeded_linear(3, 5, 4)
    x, y = torch.randn(2, 3), torch.tensor([0, 3])
    nn.functional.cross_entropy(model(x), y).backward()
    expected = sum(float(layer.weight.grad.norm()) for layer in model)
    assert grad_norm(model, x, y) == pytest.approx(expected, rel=1e-6)


# --- zen -------------------------------------------------------------------------------------------------


def test_zen_of_a_tiny_net_is_finite_deterministic_and_leaves_the_weights_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(), nn.Conv3d(4, 4, 1))
    before = [p.detach().clone() for p in net.parameters()]
    x, eps = torch.randn(2, 3, 2, 5, 5), torch.randn(2, 3, 2, 5, 5)
    scores = []
    for _ in range(2):
        torch.manual_seed(1)
        scores.append(zen(net, x, eps))
    assert math.isfinite(scores[0]) and scores[0] == scores[1]
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_zen_of_a_linear_map_is_its_response_to_the_nudge():
    """f(x) = Wx without BatchNorm: Δ/α = Σ|Wε|, whatever α (the weights are N(0, 1), drawn in zen)."""
    net = nn.Sequential(nn.Linear(3, 2, bias=False))
    x, eps = torch.randn(1, 3), torch.randn(1, 3)
    torch.manual_seed(5)
    score = zen(net, x, eps, alpha=0.5)
    torch.manual_seed(5)
    w = torch.randn(2, 3)
    assert score == pytest.approx(math.log(float((w @ eps[0]).abs().sum())), rel=1e-5)


# --- the scorers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROXY_SCORERS))
def test_every_proxy_scorer_is_seeded_and_tells_networks_apart(name):
    options = {} if name == "synflow" else {"batch_size": 3}
    first = build_scorer(name, seed=0, **options)(ArchBatch.from_archs([TINY, TINY_WIDER]))
    assert first.dtype == np.float64 and np.isfinite(first).all() and first[0] != first[1]
    tiny = ArchBatch.from_archs([TINY])
    assert build_scorer(name, seed=0, **options)(tiny)[0] == first[0]
    assert build_scorer(name, seed=1, **options)(tiny)[0] != first[0]


def test_a_proxy_scorer_scores_an_architecture_alike_wherever_it_meets_it():
    alone = build_scorer("naswot", batch_size=3)(ArchBatch.from_archs([TINY_WIDER]))
    fresh = build_scorer("naswot", batch_size=3)(ArchBatch.from_archs([TINY, TINY_WIDER, TINY]))
    assert fresh[1] == alone[0] and fresh[0] == fresh[2]


@pytest.mark.skipif(not ARID6.is_dir(), reason="needs the shared arid6 clips (../shared/data/arid6)")
def test_data_dependent_proxies_read_real_clips_with_their_labels():
    from e3dnas.proxies.clips import load_batch

    clips, labels, classes = load_batch(ARID6, 3, 2, 16, seed=0)
    assert clips.shape == (3, 3, 2, 16, 16) and clips.dtype == torch.float32 and classes == 6
    assert labels.min() >= 0 and labels.max() < 6
    again, again_labels, _ = load_batch(ARID6, 3, 2, 16, seed=0)
    assert torch.equal(clips, again) and torch.equal(labels, again_labels)
    real = build_scorer("snip", batch_size=3, data_root=str(ARID6))(ArchBatch.from_archs([TINY]))
    noise = build_scorer("snip", batch_size=3)(ArchBatch.from_archs([TINY]))
    assert np.isfinite(real).all() and real[0] != noise[0]


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("naswot", {"batch_size": 0}, "scorer.batch_size must be an integer >= 1, got 0"),
        ("snip", {"batch_size": "eight"}, "scorer.batch_size: Value 'eight' of type 'str' could not be"),
        ("zen", {"device": "tpu"}, "scorer.device must be one of cpu, cuda, got 'tpu'"),
        ("zen", {"alpha": 0}, "scorer.alpha must be a number in (0, 1], got 0"),
        ("synflow", {"seed": -1}, "scorer.seed must be an integer >= 0, got -1"),
        ("synflow", {"batch_size": 4}, "scorer.batch_size: unknown option of scorer 'synflow'"),
        ("grad_norm", {"data_root": "/no/such/dir"}, "scorer.data_root (grad_norm): /no/such/dir holds no"),
    ],
)
def test_bad_options_are_one_e3d_error_naming_the_option(name, options, message):
    with pytest.raises(E3DError) as err:
        build_scorer(name, **options)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_stand_in_labels_cover_the_stand_in_classes():
    scorer = build_scorer("grad_norm", batch_size=64)
    _, labels = scorer.labelled_batch(TINY)
    assert labels.max() < STAND_IN_CLASSES and len(labels.unique()) > 1


# --- the search -------------------------------------------------------------------------------------------


def search_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "e3dnas.search", "progress=false", "wandb.enabled=false", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_search_side_does_not_import_torch():
    code = "import e3dnas.search.run, e3dnas.scores, sys; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("scorer.batch_size=0", "error: scorer.batch_size must be an integer >= 1, got 0"),
        ("scorer.device=tpu", "error: scorer.device must be one of cpu, cuda, got 'tpu'"),
        ("+scorer.frames=4", "error: scorer.frames: unknown option of scorer 'naswot'"),
    ],
)
def test_bad_proxy_options_on_the_command_line_exit_2_in_one_line(tmp_path, override, message):
    run = search_cli(tmp_path, "+budget=demo", "scorer=naswot", override)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith(message), run.stderr


@pytest.mark.slow
def test_a_short_search_by_synflow_warns_and_its_best_yaml_shows_its_score(tmp_path, capsys):
    """Fewer candidates than the population (256) keep the first networks drawn: said; the file's proxy
    score, which the inspector cannot recompute, is printed from its meta.scores."""
    best_yaml = tmp_path / "run" / "best.yaml"
    run = search_cli(
        tmp_path,
        "+budget=demo",
        "scorer=synflow",
        "search.iterations=8",
        "search.batch=4",
        f"hydra.run.dir={best_yaml.parent}",
    )
    assert run.returncode == 0, run.stderr
    assert "search.iterations=8 (8 per island) is below search.population=256" in run.stdout
    doc = read_arch(best_yaml)
    assert doc.meta["source"]["scorer"] == "synflow" and doc.meta["scores"]["synflow"] > 0
    assert "best synflow" in run.stdout

    from e3dnas.describe import main as arch_main

    assert arch_main([str(best_yaml)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"synflow {doc.meta['scores']['synflow']:.4f} (searched)" in out


def test_a_proxy_search_reports_progress_per_scored_candidate():
    """A proxy takes seconds per network: progress comes per candidate scored, not per batch of children,
    and still adds up to the candidates evaluated."""
    from e3dnas.budget import Budget
    from e3dnas.configs import read_conf
    from e3dnas.scores import ScorerSpec
    from e3dnas.search import SearchProblem, SearchSettings, run_island

    budget = Budget.from_config(read_conf("budget", "demo"))
    settings = SearchSettings(iterations=8, batch=4, population=4)
    problem = SearchProblem(budget.space(read_conf("space", "e3d")), ScorerSpec("synflow"), budget, settings)
    reported: list[int] = []
    run_island(0, problem, 8, on_progress=lambda n, best: reported.append(n))
    assert sum(reported) == 8 and reported.count(1) >= 2, reported


def test_a_scorer_config_takes_flat_options_beside_name():
    from e3dnas.scores import ScorerSpec

    spec = ScorerSpec.from_config({"name": "zen", "_target_": None, "batch_size": 2, "seed": 3})
    assert (spec.name, spec.options, spec._target_) == ("zen", {"batch_size": 2, "seed": 3}, None)
    with pytest.raises(E3DError, match=r"scorer\.name must be a scorer's name, got None"):
        ScorerSpec.from_config({"batch_size": 2})
