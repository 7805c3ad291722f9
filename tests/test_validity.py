"""The validity study's pieces: sampling spans the visited scores, statistics, grouping, resumed trainings."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from e3dnas import cost, scores
from e3dnas.arch import load_arch
from e3dnas.budget import Budget
from e3dnas.configs import read_conf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments" / "validity"))

import analyse  # noqa: E402
import run  # noqa: E402
import sample  # noqa: E402


@pytest.fixture(scope="module")
def visited():
    budget = Budget.from_config(read_conf("budget", "demo"))
    batch = sample.visited_architectures(
        budget.space(read_conf("space", "e3d")), budget, iterations=4000, seed=0
    )
    return budget, batch, scores.spatio_temporal_entropy(batch)


def test_visited_children_are_distinct_and_within_budget(visited):
    budget, batch, _ = visited
    assert len(np.unique(batch.genes, axis=0)) == len(batch.genes) > 100
    assert cost.flops(batch).max() <= budget.flops
    assert cost.layers(batch).max() <= budget.layers


def test_spanning_sample_covers_the_visited_range(visited):
    _, batch, stentr = visited
    chosen = sample.spanning(batch, stentr, 12)
    chosen_scores = [scores.score_arch(a) for a in chosen]
    assert len({repr(a) for a in chosen}) == 12
    assert chosen_scores[0] == pytest.approx(stentr.min())
    assert chosen_scores[-1] == pytest.approx(stentr.max())
    assert np.all(np.diff(chosen_scores) > -1.0)  # nearest to increasing targets


def test_stratified_sample_takes_one_per_stratum(visited):
    _, batch, stentr = visited
    chosen = sample.stratified(batch, stentr, 8, seed=0)
    chosen_scores = np.array([scores.score_arch(a) for a in chosen])
    edges = np.array_split(np.sort(stentr), 8)
    for score, stratum in zip(chosen_scores, edges, strict=True):
        assert stratum[0] - 1e-9 <= score <= stratum[-1] + 1e-9
    assert chosen == sample.stratified(batch, stentr, 8, seed=0)


def test_correlation_of_monotone_and_reversed_data():
    x = np.arange(15.0)
    same = analyse.correlation(x, x**2, resamples=300, seed=0)
    assert same["kendall"] == pytest.approx(1.0) and same["spearman"] == pytest.approx(1.0)
    reversed_ = analyse.correlation(x, -x, resamples=300, seed=0)
    assert reversed_["kendall"] == pytest.approx(-1.0)
    assert reversed_["kendall_high"] <= -0.99
    noisy = analyse.correlation(x, x + np.resize([0.0, 9.0, -9.0], 15), resamples=300, seed=0)
    assert noisy["kendall_low"] < noisy["kendall"] < noisy["kendall_high"] <= 1.0


def test_grouping_by_first_temporal_stage():
    rows = [
        {"first_temporal_stage": stage, "val_top1_mean": acc, "score_stentr": s}
        for stage, acc, s in [(0, 0.8, 10), (0, 0.6, 5), (0, 0.7, 7), (0, 0.9, 12), (0, 0.5, 1), (2, 0.2, 9)]
    ]
    table = analyse.by_first_temporal_stage(rows)
    assert [r["first stage with kt > 1"] for r in table] == ["0", "2"]
    assert table[0]["archs"] == 5 and table[0]["mean val top-1 (%)"] == pytest.approx(70.0)
    assert table[0]["τ(STEntr, top-1) within"] == pytest.approx(1.0)
    assert table[1]["τ(STEntr, top-1) within"] == "n < 5"
    assert table[1]["STEntr range"] == "9.0–9.0"


def test_first_temporal_stage_of_released_network():
    arch = load_arch(ROOT / "conf" / "arch" / "e3d_s.yaml")
    expected = next(i for i, stage in enumerate(arch.stages) if stage.kernel[0] > 1)
    assert run.first_temporal_stage(arch) == expected


def test_finished_training_is_not_redone(tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "00-seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps({"final_val_top1": 0.42}))

    def refuse(*args, **kwargs):
        raise AssertionError("a finished training was started again")

    monkeypatch.setattr(subprocess, "run", refuse)
    assert run.train_run(run_dir, tmp_path / "data", 5, 0, "arch=x.yaml") == {"final_val_top1": 0.42}
