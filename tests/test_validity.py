"""The validity study's pieces: sampling, statistics, ledgers that make it resumable, arid6's split, the
proxies' job, the report, and (slow) a whole small study run twice on real clips."""

import csv
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from experiments.validity import (
    analyse,
    decision,
    jobs,
    ledger,
    noise,
    report,
    routes,
    run,
    sample,
    tasks,
    winners,
)
from scipy import stats

from e3dnas import cost, scores
from e3dnas.arch import load_arch, save_arch
from e3dnas.budget import Budget
from e3dnas.configs import read_conf
from e3dnas.data.decode import VideoFile
from e3dnas.data.layouts.folder import FolderLayout
from e3dnas.models import build_model
from e3dnas.train.tracking import conv_flops

ROOT = Path(__file__).resolve().parents[1]

CORRELATION_COLUMNS = [
    *("sample", "scorer", "tau", "tau_lo", "tau_hi", "rho", "rho_lo", "rho_hi", "n_archs"),
    *("seed_tau", "ceiling", "run_sd", "network_sd"),
]


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
    assert same["tau"] == pytest.approx(1.0) and same["rho"] == pytest.approx(1.0)
    reversed_ = analyse.correlation(x, -x, resamples=300, seed=0)
    assert reversed_["tau"] == pytest.approx(-1.0)
    assert reversed_["tau_hi"] <= -0.99
    noisy = analyse.correlation(x, x + np.resize([0.0, 9.0, -9.0], 15), resamples=300, seed=0)
    assert noisy["tau_lo"] < noisy["tau"] < noisy["tau_hi"] <= 1.0


def test_counted_tau_and_rho_are_scipys_on_the_resampled_arrays():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, size=30).astype(float)  # many ties, as rounded accuracies have
    y = np.round(x + rng.normal(size=30), 0)
    assert analyse.kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)
    assert analyse.spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    counts = rng.multinomial(30, np.full(30, 1 / 30), size=4)  # 4 bootstrap resamples at once
    taus, rhos = analyse.kendall_tau(x, y, counts), analyse.spearman_rho(x, y, counts)
    for count, tau, rho in zip(counts, taus, rhos, strict=True):
        xs, ys = np.repeat(x, count), np.repeat(y, count)
        assert tau == pytest.approx(stats.kendalltau(xs, ys).statistic)
        assert rho == pytest.approx(stats.spearmanr(xs, ys).statistic)
    assert np.isnan(analyse.kendall_tau(np.ones(5), np.arange(5.0)))  # constant: undefined, as scipy


def test_bootstrap_interval_is_scipys_per_resample_one():
    rng = np.random.default_rng(4)
    x = rng.normal(size=25)
    y = np.round(x + rng.normal(size=25), 1)
    ours = analyse.paired_bootstrap((x, y), analyse.kendall_tau, 400, seed=2).confidence_interval
    per_resample = stats.bootstrap(
        (x, y),
        lambda a, b: stats.kendalltau(a, b).statistic,
        paired=True,
        vectorized=False,
        n_resamples=400,
        method="percentile",
        random_state=2,
    ).confidence_interval
    assert (ours.low, ours.high) == pytest.approx((per_resample.low, per_resample.high))


def fake_table(n: int = 12) -> list[dict]:
    """Architectures whose accuracy rises with ``stentr``, falls with ``params``; ``zen`` is missing for
    the first two."""
    rows = []
    for i in range(n):
        row = {"arch": f"a{i}", "sample": "range" if i % 2 else "near_budget", "val_top1_mean": i / n}
        row |= {f"score_{s}": float((i * 7) % n) for s in analyse.SCORERS}
        row |= {
            "score_stentr": float(i),
            "score_params": float(-i),
            "score_zen": float(i) if i > 1 else np.nan,
        }
        seeds = {"val_top1_seed0": i / n - 0.005 * (i % 3), "val_top1_seed1": i / n + 0.005 * (i % 3)}
        rows.append(row | seeds | {"val_top1_range": 0.01, "flops": 1e8 * (i + 1) / n, "params": 1000 - i})
    return rows


def test_correlation_rows_have_the_promised_columns_per_sample_and_scorer():
    rows = analyse.correlation_rows(fake_table(), resamples=200)
    assert all(list(row) == CORRELATION_COLUMNS for row in rows)
    by = {(r["sample"], r["scorer"]): r for r in rows}
    assert {s for s, _ in by} == {"all", "range", "near_budget"}  # no decision-region network in the table
    assert by["all", "stentr"]["tau"] == pytest.approx(1.0) and by["all", "stentr"]["n_archs"] == 12
    assert by["all", "params"]["rho"] == pytest.approx(-1.0)
    assert by["range", "stentr"]["n_archs"] == 6
    assert by["all", "stentr"]["seed_tau"] == by["all", "zen"]["seed_tau"] > 0.8  # the sample's, per scorer
    assert by["all", "zen"]["n_archs"] == 10  # measured on the architectures that have its score
    assert ("near_budget", "zen") not in by or by["near_budget", "zen"]["n_archs"] == 5


def test_differences_against_params_are_paired():
    rows = {(r["sample"], r["scorer"]): r for r in analyse.difference_rows(fake_table(), resamples=200)}
    assert ("all", "params") not in rows
    stentr = rows["all", "stentr"]
    assert stentr["dtau"] == pytest.approx(2.0) and stentr["dtau_lo"] == pytest.approx(2.0)
    assert stentr["baseline"] == "params" and stentr["n_archs"] == 12
    assert rows["all", "zen"]["n_archs"] == 10


def test_top_k_overlap_and_top_pick():
    rows = {(r["sample"], r["scorer"]): r for r in analyse.top_k_rows(fake_table(), k=5)}
    assert rows["all", "stentr"]["overlap"] == 5
    assert rows["all", "stentr"]["top_pick_val_top1"] == rows["all", "stentr"]["best_val_top1"]
    assert rows["all", "params"]["overlap"] == 0
    assert rows["all", "params"]["top_pick_val_top1"] == 0.0
    assert ("range", "stentr") not in rows  # 6 architectures cannot hold two disjoint top 5s


def test_noise_ceiling_is_what_a_perfect_score_reaches_with_the_mean_of_noisy_seeds():
    rng = np.random.default_rng(0)
    true = rng.normal(size=3000)
    seeds = true + rng.normal(scale=0.7, size=(2, 3000))
    seed_tau = float(stats.kendalltau(seeds[0], seeds[1]).statistic)
    reached = float(stats.kendalltau(true, seeds.mean(axis=0)).statistic)
    assert noise.noise_ceiling(seed_tau, seeds=2) == pytest.approx(reached, abs=0.02)
    assert noise.noise_ceiling(1.0, 2) == pytest.approx(1.0)
    assert noise.noise_ceiling(-0.05, 2) == noise.noise_ceiling(0.0, 2) == 0.0
    assert seed_tau < noise.noise_ceiling(seed_tau, 2) < noise.noise_ceiling(seed_tau, 3)


def test_seed_reliability_compares_seed_0_with_seed_1():
    table = fake_table()
    assert noise.seed_reliability(table)["seed_tau"] == pytest.approx(
        stats.kendalltau([r["val_top1_seed0"] for r in table], [r["val_top1_seed1"] for r in table]).statistic
    )
    for row in table:
        row["val_top1_seed1"] = -row["val_top1_seed0"]
    assert noise.seed_reliability(table) | {"run_sd": 0, "network_sd": 0} == {
        "seed_tau": pytest.approx(-1.0),
        "ceiling": 0.0,
        "run_sd": 0,
        "network_sd": 0,
    }
    assert np.isnan(noise.seed_reliability(table[:4])["seed_tau"])  # too few networks


def test_one_runs_noise_and_the_networks_spread_are_told_apart():
    """12 networks 10 points apart: a seed that adds the same 3 points to every network is no noise (it
    changes no ranking); ±3 points whose sign changes from network to network are."""
    true = np.arange(12) * 0.10
    rows = [{"val_top1_seed0": t + 0.03, "val_top1_seed1": t - 0.03} for t in true]
    found = noise.seed_reliability(rows)
    assert found["run_sd"] == pytest.approx(0.0)  # every network's seeds differ by the same 6 points
    rows = [
        {"val_top1_seed0": t + e, "val_top1_seed1": t - e}
        for t, e in zip(true, [0.03, -0.03] * 6, strict=True)
    ]
    found = noise.seed_reliability(rows)
    assert found["run_sd"] == pytest.approx(np.std([0.06, -0.06] * 6, ddof=1) / np.sqrt(2))
    assert found["network_sd"] ** 2 == pytest.approx(np.var(true, ddof=1) - found["run_sd"] ** 2 / 2)


def test_partial_tau_holds_params_fixed():
    rng = np.random.default_rng(1)
    z = rng.normal(size=400)
    size_only = z + rng.normal(scale=0.1, size=400)  # a score that is #params in disguise
    assert abs(decision.partial_tau(size_only, z, z + 1e-3 * rng.normal(size=400))) < 0.15
    x = rng.normal(size=400)  # a score independent of size that explains the rest of accuracy
    assert decision.partial_tau(x, x + z, z) > stats.kendalltau(x, x + z).statistic > 0.2


def test_random_pick_of_k_is_exact():
    y = np.array([0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.8])
    for k in (1, 3, 5):
        picks = [max(c) for c in itertools.combinations(y, k)]
        assert decision.random_pick_best(y, k) == pytest.approx(np.mean(picks))
        assert decision.random_at_least(y, k, 0.8) == pytest.approx(np.mean([p >= 0.8 for p in picks]))


def test_regret_of_a_scorer_that_ranks_by_accuracy_is_zero():
    rows = {(r["sample"], r["scorer"], r["k"]): r for r in decision.regret_rows(fake_table(24))}
    perfect, reversed_ = rows["all", "stentr", 3], rows["all", "params", 3]
    assert perfect["regret"] == 0 and perfect["p_random_as_good"] == pytest.approx(3 / 24)
    assert reversed_["regret"] == pytest.approx(100 * 21 / 24) and reversed_["p_random_as_good"] == 1.0
    assert 0 < perfect["random_regret"] < reversed_["regret"]
    assert ("all", "stentr", 10) in rows and ("range", "stentr", 10) not in rows  # 12 < 2k networks


def test_bands_hold_the_networks_of_their_cost():
    rows = decision.band_rows(fake_table(20), budget_flops=1e8, resamples=100)
    count = {r["band"]: r["n_archs"] for r in rows if r["scorer"] == "stentr"}
    assert count == {"0%-50%": 10, "50%-90%": 8}  # 90-100 % holds 2 networks: too few for a τ


def test_smallest_detectable_difference_is_2_8_standard_errors():
    rows = {(r["sample"], r["scorer"]): r for r in analyse.difference_rows(fake_table(), resamples=300)}
    assert all(r["detectable"] == pytest.approx(2.8 * r["dtau_se"]) for r in rows.values())
    assert rows["all", "entropy"]["dtau_se"] > 0.1  # its gap to #params varies over resamples
    assert rows["all", "stentr"]["dtau_se"] == pytest.approx(0.0)  # τ +1 against −1 in every resample


def test_ledger_keeps_rows_across_instances_and_refuses_other_columns(tmp_path):
    path = tmp_path / "t" / "trainings.csv"
    first = ledger.Ledger(path, ["arch", "seed", "val_top1"], ["arch", "seed"])
    first.add({"arch": "b", "seed": 1, "val_top1": 0.5, "extra": "dropped"})
    first.add({"arch": "a", "seed": 0, "val_top1": 0.25})
    again = ledger.Ledger(path, ["arch", "seed", "val_top1"], ["arch", "seed"])
    assert again.has("a", 0) and again.has("b", 1) and not again.has("a", 1)
    assert [r["arch"] for r in again.rows] == ["a", "b"]
    with pytest.raises(SystemExit, match=r"trainings\.csv: columns"):
        ledger.Ledger(path, ["arch", "seed", "score"], ["arch"])


def test_a_ledger_from_before_a_column_was_added_reads_it_empty_and_gains_it(tmp_path):
    path = tmp_path / "trainings.csv"
    ledger.Ledger(path, ["arch", "seed", "val_top1"], ["arch", "seed"]).add(
        {"arch": "a", "seed": 0, "val_top1": 1}
    )
    wider = ledger.Ledger(path, ["arch", "seed", "val_top1", "val_curve"], ["arch", "seed"])
    assert wider.rows == [{"arch": "a", "seed": "0", "val_top1": "1", "val_curve": ""}]
    wider.add({"arch": "b", "seed": 0, "val_top1": 0.5, "val_curve": "0.2 0.5"})
    assert path.read_text().splitlines() == ["arch,seed,val_top1,val_curve", "a,0,1,", "b,0,0.5,0.2 0.5"]
    with pytest.raises(SystemExit, match="columns"):  # a column dropped or moved is still refused
        ledger.Ledger(path, ["arch", "val_top1", "seed", "val_curve"], ["arch", "seed"])


def test_the_learning_curve_is_read_from_the_runs_csv_log_in_epoch_order(tmp_path):
    """The rows Lightning's CSVLogger writes: learning rates, losses, then one row per validation."""
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text(
        "epoch,lr-AdamW/pg1,step,train/loss,val/loss,val/top1\n"
        ",0.001,9,,,\n0,,9,2.1,,\n0,,9,,1.9,0.2\n1,,19,1.7,,\n1,,19,,1.2,0.53125\n"
        "2,,29,0.9,,\n2,,29,,0.8,0.6875\n"
    )
    assert jobs.val_curve(tmp_path) == "0.2000 0.5312 0.6875"


def test_rung_fidelity_compares_an_early_epoch_with_the_end_within_a_run_and_across_seeds(tmp_path):
    """12 networks whose epoch 1 is the warm-up (all at chance: τ undefined), whose epoch 2 ranks them as
    their run's end does, and whose seeds end in the same order except two neighbours swapped in seed 1."""
    trainings = ledger.Ledger(tmp_path / "trainings.csv", run.TRAINING_COLUMNS, ("arch", "seed"))
    table = [{"arch": f"range-{i:02d}", "sample": "range"} for i in range(12)]
    for i in range(12):
        for seed in (0, 1):
            end = {10: 11, 11: 10}.get(i, i) if seed else i
            curve = f"0.2 {0.3 + end / 100:.4f} {0.4 + end / 100:.4f}"
            row = {"arch": f"range-{i:02d}", "seed": seed, "val_top1": 0.4 + end / 100, "seconds": 1.0}
            row |= {"device": "cpu", "commit": "c", "val_curve": curve}
            trainings.add(row)
    trainings.add(row | {"arch": "range-12", "seed": 0})  # one seed only: not among the networks
    trainings.add(row | {"arch": "range-13", "seed": 0})
    trainings.add(row | {"arch": "range-13", "seed": 1, "val_curve": "0.3 0.5"})  # resumed: not either
    table += [{"arch": f"range-{i}", "sample": "range"} for i in (12, 13)]
    rows = routes.rung_rows(trainings, table, resamples=100)
    assert [(r["sample"], r["epoch"], r["of_epochs"], r["n_archs"]) for r in rows] == [
        ("range", 1, 3, 12),
        ("range", 2, 3, 12),
        ("all", 1, 3, 12),
        ("all", 2, 3, 12),
    ]
    assert np.isnan(rows[0]["tau_same_run"]) and np.isnan(rows[0]["tau_across_seeds"])
    seed_tau = 1 - 2 * 2 / (12 * 11)  # one discordant pair of 66
    assert rows[1]["seed_tau"] == pytest.approx(seed_tau)
    assert rows[1]["tau_same_run"] == 1
    assert rows[1]["tau_across_seeds"] == pytest.approx(seed_tau)
    assert rows[1]["tau_across_seeds_lo"] <= rows[1]["tau_across_seeds"] <= rows[1]["tau_across_seeds_hi"]


def test_jobs_run_in_parallel_and_a_failure_is_reported_not_collected(tmp_path, capsys):
    collected = []
    jobs = [
        ledger.Job(
            f"job {i}", [sys.executable, "-c", code], lambda s, i=i: collected.append((i, s)), tmp_path
        )
        for i, code in enumerate(
            ["import os; print(os.environ['OMP_NUM_THREADS'])", "raise SystemExit(3)", ""]
        )
    ]
    assert ledger.run_jobs(jobs, slots=2, threads=1) == 1
    assert sorted(i for i, _ in collected) == [0, 2]
    jobs[1].partial = True  # a sweep: what its finished trainings left is collected all the same
    assert ledger.run_jobs(jobs[1:2], slots=1, threads=1) == 1
    assert sorted(i for i, _ in collected) == [0, 1, 2]
    assert all(seconds > 0 for _, seconds in collected)
    assert "FAILED job 1 (exit 3)" in capsys.readouterr().out


def unbuilt(task: str, settings) -> tuple[Path, Path]:
    return settings.work / task / "videos", settings.work / task / "prepared"


@pytest.fixture
def study(tmp_path, monkeypatch):
    """Two study architectures, ledgers in tmp_path, data folders that are not built."""
    archs = {
        "range-00": ROOT / "conf" / "arch" / "e3d_s.yaml",
        "near_budget-00": ROOT / "conf/arch/e3d_m.yaml",
    }
    ledgers = (
        ledger.Ledger(tmp_path / "trainings.csv", run.TRAINING_COLUMNS, ("arch", "seed")),
        ledger.Ledger(tmp_path / "proxy_scores.csv", run.PROXY_COLUMNS, ("arch", "scorer")),
    )
    settings = jobs.Settings(work=tmp_path / "work", device="cpu", commit="c0ffee")
    return archs, ledgers, settings


def test_a_study_redoes_nothing_its_ledgers_hold(study):
    archs, (trainings, proxies), settings = study
    every = run.study_jobs("arid6", unbuilt("arid6", settings), archs, 2, (trainings, proxies), settings)
    assert len(every) == len(run.PROXIES) + 4
    assert every[len(run.PROXIES)].label == "arid6 train near_budget-00 seed 0"  # samples alternate
    for arch in archs:
        for seed in range(2):
            if (arch, seed) != ("range-00", 1):
                row = {"arch": arch, "seed": seed, "val_top1": 0.5, "seconds": 1}
                trainings.add(row | {"device": "cpu", "commit": "c0ffee", "val_curve": ""})
        for proxy in run.PROXIES:
            row = {"arch": arch, "scorer": proxy, "score": 1.0, "seconds": 0.1}
            proxies.add(row | {"device": "cpu", "commit": "c0ffee"})
    left = run.study_jobs("arid6", unbuilt("arid6", settings), archs, 2, (trainings, proxies), settings)
    assert [job.label for job in left] == ["arid6 train range-00 seed 1"]
    command = left[0].command
    assert f"arch={archs['range-00']}" in command and "seed=1" in command
    assert "trainer.max_epochs=12" in command and "dataset.flip=plain" in command


def test_a_slurm_study_sweeps_the_missing_architectures_once_per_seed(study):
    archs, ledgers, settings = study
    slurm = dataclasses.replace(settings, launcher="slurm", epochs=3)
    sweeps = [
        job
        for job in run.study_jobs("camera", unbuilt("camera", settings), archs, 2, ledgers, slurm)
        if "sweep" in job.label
    ]
    assert len(sweeps) == 2
    command = sweeps[1].command
    assert command[3:5] == ["-m", "hydra/launcher=slurm"] and "seed=1" in command
    assert f"arch={archs['near_budget-00']},{archs['range-00']}" in command
    assert "trainer.max_epochs=3" in command and "dataset.flip=label_pairs" in command


@pytest.fixture(scope="session")
def ucf9() -> Path:
    """The 873 real UCF101 clips ``<Class>/v_<Class>_g<NN>_c<MM>.mp4``; missing is a failure, not a skip."""
    if not (tasks.UCF9 / "Archery").is_dir():
        pytest.fail(f"{tasks.UCF9}: the ucf9 clips are missing (set E3DNAS_UCF9 to their folder)")
    return tasks.UCF9


def test_routes_b_and_b2_run_select_on_the_search_with_the_study_recipe(study, tmp_path):
    _, _, settings = study
    task = tasks.TASKS["camera"]
    search, data, out = tmp_path / "search", tmp_path / "data", tmp_path / "sel"
    command = routes.select_command(search, task, data, "b", out, settings)
    assert command[1:4] == ["-m", "e3dnas.select", f"run={search}"]
    assert f"dataset.root={data}" in command and "trainer.max_epochs=5" in command
    assert f"select.finalists={routes.FINALISTS}" in command and f"hydra.run.dir={out}" in command
    assert not any(c.startswith("select.min_epochs") for c in command)  # select's default first rung
    later = routes.select_command(search, task, data, "b2", out, settings)
    assert later == [*command[:-1], "select.min_epochs=2", command[-1]]  # the first rung after the warm-up
    assert routes.selection_dir(task, "b", 0, settings) != routes.selection_dir(task, "b2", 0, settings)


def test_route_c_draws_a_network_near_the_budget(visited):
    budget, _, _ = visited
    space = budget.space(read_conf("space", "e3d"))
    picks = [routes.random_near_budget(space, budget, seed, iterations=4000) for seed in (0, 1)]
    assert all(0.9 * budget.flops <= cost.cost(a).flops <= budget.flops for a in picks)
    assert repr(picks[0]) != repr(picks[1])
    assert repr(routes.random_near_budget(space, budget, 0, iterations=4000)) == repr(picks[0])


def test_route_d_trains_x3d_at_route_a_pick_flops_under_the_winners_label(study, tmp_path, monkeypatch):
    _, (trainings, _), settings = study
    task, budget = tasks.TASKS["camera"], Budget.from_config(read_conf("budget", "demo"))
    results = tmp_path / "results"
    with pytest.raises(SystemExit, match=r"a-s0\.yaml: route \(d\) is X3D"):
        routes.x3d_jobs(task, Path("data"), 5, budget, 3, results, trainings, settings)
    e3d_s = load_arch(ROOT / "conf" / "arch" / "e3d_s.yaml")
    save_arch(results / "routes" / "a-s0.yaml", e3d_s)
    asked = []
    monkeypatch.setattr(winners, "x3d_width", lambda *given: asked.append(given) or 1.45)  # slow test below
    row = {"arch": "x3d-w1.45", "seed": 0, "val_top1": 0.5, "seconds": 1, "device": "cpu", "commit": "c"}
    trainings.add(row | {"val_curve": ""})
    made = routes.x3d_jobs(task, Path("data"), 5, budget, 3, results, trainings, settings)
    assert asked == [(cost.cost(e3d_s).flops, budget, 5)]
    assert [job.label for job in made] == [f"camera train x3d-w1.45 seed {s}" for s in (1, 2)]
    assert all("model=x3d_xs" in job.command and "model.width_factor=1.45" in job.command for job in made)


@pytest.mark.slow
def test_x3d_width_is_the_one_whose_conv_flops_are_nearest():
    budget = Budget.from_config(read_conf("budget", "demo"))
    model = build_model("x3d_xs", num_classes=5, frames=8, resolution=56, width_factor=1.45)
    flops = conv_flops(model, budget.frames, budget.resolution)[0]
    assert winners.x3d_width(flops * 1.001, budget, 5) == 1.45


def test_routes_table_averages_picks_over_search_seeds_with_each_routes_cost(tmp_path):
    trainings = ledger.Ledger(tmp_path / "trainings.csv", run.TRAINING_COLUMNS, ("arch", "seed"))
    for label, accuracies in {
        "route-a-s0": (0.8, 0.9),
        "route-a-s1": (0.6, 0.7),
        "route-b-s0": (0.9, 0.9),
        "x3d-w1.45": (0.5, 0.6),
    }.items():
        for seed, top1 in enumerate(accuracies):
            row = {"arch": label, "seed": seed, "val_top1": top1, "seconds": 1}
            trainings.add(row | {"device": "cpu", "commit": "c", "val_curve": ""})
    e3d_s = load_arch(ROOT / "conf" / "arch" / "e3d_s.yaml")
    spent = {
        "route-a-s0": {"search_s": 20.0, "selection_epochs": 0},
        "route-a-s1": {"search_s": 40.0, "selection_epochs": 0},
        "route-b-s0": {"search_s": 30.0, "selection_epochs": 38},
        "route-c-s0": {"search_s": 0.0, "selection_epochs": 0},
    }
    chosen = {
        label: save_arch(tmp_path / f"{label}.yaml", e3d_s, meta={routes.ROUTE_COST: cost})
        for label, cost in spent.items()
    }
    rows = {r["route"]: r for r in routes.route_rows(trainings, chosen, seeds=2, recipe_epochs=5)}
    assert set(rows) == {"a", "b", "d"}  # route (c)'s pick is not trained yet
    assert rows["a"]["val_top1_mean"] == pytest.approx(75.0) and rows["a"]["picks"] == 2
    assert rows["a"]["val_top1_sd"] == pytest.approx(np.std([85.0, 65.0], ddof=1))
    assert rows["a"]["search_s"] == pytest.approx(30.0) and rows["a"]["epochs_to_network"] == 5
    assert rows["b"]["epochs_to_network"] == 38 and rows["b"]["search_s"] == pytest.approx(30.0)
    assert rows["d"]["val_top1_mean"] == pytest.approx(55.0) and rows["d"]["over"] == "training seeds"
    assert rows["d"]["search_s"] == 0.0 and rows["d"]["epochs_to_network"] == 5


def test_paired_routes_compare_the_picks_of_one_search_seed(tmp_path):
    trainings = ledger.Ledger(tmp_path / "trainings.csv", run.TRAINING_COLUMNS, ("arch", "seed"))
    picks = {"a": (0.70, 0.80, 0.60), "b": (0.75, 0.80, 0.66), "c": (0.50, 0.80, 0.40)}  # per search seed
    for route, by_seed in picks.items():
        for search_seed, top1 in enumerate(by_seed):
            for seed in (0, 1):
                row = {"arch": f"route-{route}-s{search_seed}", "seed": seed, "val_top1": top1 + 0.02 * seed}
                trainings.add(row | {"seconds": 1, "device": "cpu", "commit": "c", "val_curve": ""})
    e3d_s, e3d_m = (load_arch(ROOT / "conf" / "arch" / f"{n}.yaml") for n in ("e3d_s", "e3d_m"))
    chosen = {
        f"route-{route}-s{s}": save_arch(
            tmp_path / f"{route}-s{s}.yaml", e3d_m if route != "a" and s != 1 else e3d_s
        )
        for route in picks
        for s in range(3)
    }
    rows = {(r["route"], r["baseline"]): r for r in routes.paired_route_rows(trainings, chosen, seeds=2)}
    b_a = rows["b", "a"]
    gaps = np.array([5.0, 0.0, 6.0])
    assert b_a["diff_mean"] == pytest.approx(gaps.mean()) and b_a["search_seeds"] == 3
    half = stats.t.ppf(0.975, 2) * gaps.std(ddof=1) / np.sqrt(3)
    assert (b_a["diff_lo"], b_a["diff_hi"]) == pytest.approx((gaps.mean() - half, gaps.mean() + half))
    assert b_a["detectable"] > half  # 80 % power needs more than the interval's half-width
    assert b_a["same_pick"] == 1  # search seed 1: both routes picked E3D-S
    assert rows["a", "c"]["diff_mean"] == pytest.approx(40 / 3) and rows["b", "c"]["same_pick"] == 3


def test_ucf9_split_keeps_each_source_video_on_one_side(ucf9, tmp_path):
    out = tasks.split_folder(ucf9, tmp_path / "videos", tasks.UCF9_SPLIT)
    sides = {side: list(out.glob(f"{side}/*/*.mp4")) for side in ("train", "val")}
    groups = {side: {(p.parent.name, p.name.split("_")[-2]) for p in paths} for side, paths in sides.items()}
    assert len(sides["train"]) + len(sides["val"]) == 873
    assert not groups["train"] & groups["val"]
    assert 0.2 <= len(sides["val"]) / 873 <= 0.3
    assert (
        {c for c, _ in groups["train"]}
        == {c for c, _ in groups["val"]}
        == {p.name for p in ucf9.iterdir() if p.is_dir()}
    )
    assert len(groups["train"]) + len(groups["val"]) == 9 * 18


@pytest.fixture
def two_actions(ucf9, tmp_path) -> Path:
    """Two of ucf9's actions, four source videos (groups) each."""
    source = tmp_path / "source"
    for action in ("Archery", "BabyCrawling"):
        (source / action).mkdir(parents=True)
        for clip in sorted((ucf9 / action).glob("*_g0[89]_*.mp4")) + sorted(
            (ucf9 / action).glob("*_g1[01]_*")
        ):
            (source / action / clip.name).symlink_to(clip)
    return source


def dealt(source: Path, out: Path, classes: tuple[str, ...]) -> dict[str, list[Path]]:
    """The derived task's clips by side, checked: every source clip once, the groups apart, and each action's
    clips dealt evenly over the classes."""
    written = {side: sorted(out.glob(f"{side}/*/*.mp4")) for side in ("train", "val")}
    names = [p.name for paths in written.values() for p in paths]
    assert sorted(names) == sorted(p.name for p in source.glob("*/*.mp4"))  # every clip once
    groups = {side: {p.name.rsplit("_", 1)[0] for p in paths} for side, paths in written.items()}
    assert groups["val"] and not groups["train"] & groups["val"]
    for paths in written.values():
        for action in ("Archery", "BabyCrawling"):
            counts = [sum(f"_{action}_" in p.name for p in paths if p.parent.name == c) for c in classes]
            assert max(counts) - min(counts) <= 1, counts
    return written


def test_speed_task_plays_each_real_clip_at_one_speed_dealt_evenly_and_groups_kept_apart(
    two_actions, tmp_path
):
    source = two_actions
    out = tasks.derived_folder(source, tmp_path / "videos", tasks.UCF9_SPLIT, "speed")
    written = dealt(source, out, tasks.DERIVED["speed"][0])
    fast = written["train"][-1]  # a 4x clip: every 4th source frame, each one a key frame
    assert fast.parent.name == "4x"
    original = VideoFile(source / fast.name.split("_")[1] / fast.name)
    played = VideoFile(fast)
    assert played.num_frames == -(-original.num_frames // 4)
    shared = played.num_frames - 1  # the frames every start below has
    decoded = played.read(np.arange(shared)).float()
    errors = [  # decoded against every 4th source frame from `start`: start 0 matches (codec error only)
        (decoded - original.read(np.arange(start, original.num_frames, 4)[:shared]).float()).abs().mean()
        for start in (0, 1, 2)
    ]
    assert errors[0] < min(errors[1:]), errors
    with av.open(str(fast)) as container:
        assert all(frame.key_frame for frame in container.decode(video=0))
    stamps = [p.stat().st_mtime_ns for paths in written.values() for p in paths]
    tasks.derived_folder(source, out, tasks.UCF9_SPLIT, "speed")  # resumed: nothing rewritten
    assert [p.stat().st_mtime_ns for paths in written.values() for p in paths] == stamps
    # another task never mixes into the folder
    with pytest.raises(SystemExit, match=r"classes.*move it away"):
        tasks.derived_folder(source, out, tasks.UCF9_SPLIT, "pan")


def window_position(window: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """(y, x) where ``window`` (grey) best matches inside ``frame`` (grey), by exhaustive search."""
    candidates = np.lib.stride_tricks.sliding_window_view(frame, window.shape)
    errors = np.abs(candidates - window).mean(axis=(-2, -1))
    return np.array(np.unravel_index(errors.argmin(), errors.shape))


def test_pan_task_slides_the_camera_tasks_window_over_real_scenes_in_each_class_direction(
    two_actions, tmp_path
):
    out = tasks.derived_folder(two_actions, tmp_path / "videos", tasks.UCF9_SPLIT, "pan")
    written = dealt(two_actions, out, tuple(tasks.PAN_MOTIONS))
    assert VideoFile(written["val"][0]).num_frames == tasks.PAN.frames
    last = tasks.PAN.frames - 1
    for source in sorted(two_actions.glob("*/*.mp4"))[::5]:
        video = VideoFile(source, max_short=tasks.PAN.source_side)
        start = np.random.default_rng(0).integers(0, video.num_frames - last)  # pan_clip's first draw
        scene = video.read(np.array([start, start + last])).numpy().astype(np.float64).mean(-1)
        for label, (dx, dy, _) in tasks.PAN_MOTIONS.items():
            clip = tasks.pan_clip(source, label, np.random.default_rng(0)).astype(np.float64).mean(-1)
            assert clip.shape == (tasks.PAN.frames, tasks.PAN.size, tasks.PAN.size)
            # where the window sits in the scene's own frames, first and last: it has moved step px a frame
            # in the label's direction (turning left moves the view left), whatever the scene does
            travel = window_position(clip[last], scene[1]) - window_position(clip[0], scene[0])
            expected = np.array([dy, dx]) * tasks.CAMERA_STEP * last
            assert np.abs(travel - expected).max() <= 1, (source.name, label, travel)


def test_arid6_split_is_the_folder_datasets_own_and_idempotent(arid6, tmp_path):
    out = tasks.split_folder(arid6, tmp_path / "videos", tasks.ARID6_SPLIT)
    layout = FolderLayout(
        arid6, arid6, val_fraction=tasks.ARID6_SPLIT.val_fraction, split_seed=tasks.ARID6_SPLIT.seed
    )
    for split in ("train", "val"):
        linked = sorted(str(p.relative_to(out / split)) for p in (out / split).glob("*/*.mp4"))
        assert linked == sorted(r.video_id for r in layout.split(split).records)
    val, train = list(out.glob("val/*/*.mp4")), list(out.glob("train/*/*.mp4"))
    assert len(val) + len(train) == 150 and len(val) == 6 * 8
    assert not {p.name for p in val} & {p.name for p in train}
    assert (
        tasks.split_folder(arid6, out, tasks.ARID6_SPLIT) == out and len(list(out.glob("*/*/*.mp4"))) == 150
    )


def test_proxy_job_scores_study_architectures_on_real_clips(arid6, tmp_path):
    archs = [ROOT / "conf" / "arch" / "e3d_s.yaml", ROOT / "conf" / "arch" / "e3d_m.yaml"]
    small = []
    for path in archs:  # the released nets at the demo budget's input: seconds, not minutes
        arch = load_arch(path).with_input(8, 56)
        small.append(save_arch(tmp_path / path.name, arch, name=path.stem))
    out = tmp_path / "naswot.json"
    command = [
        sys.executable,
        "-m",
        "experiments.validity.proxy_scores",
        "naswot",
        *map(str, small),
        "--out",
        str(out),
    ]
    subprocess.run([*command, "--data-root", str(arid6)], check=True, cwd=ROOT)
    scored = json.loads(out.read_text())
    assert set(scored) == {"e3d_s", "e3d_m"}
    assert all(np.isfinite(v["score"]) and v["seconds"] > 0 for v in scored.values())


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_task_repeats_only_on_enough_networks_with_a_seed_to_seed_tau_of_one_half(tmp_path):
    rows = [
        {"sample": sample, "scorer": "stentr", "n_archs": n, "seed_tau": tau, "ceiling": 0.5}
        | {"run_sd": noise_sd, "network_sd": spread}
        for sample, n, tau, noise_sd, spread in (
            ("all", 48, 0.64, 0.03, 0.065),
            ("near_budget", 24, -0.05, 0.053, 0.027),
            ("range", 10, 0.9, "", ""),
        )
    ]
    write_rows(tmp_path / "camera" / "correlations.csv", rows)
    table = report.repeat_table(["camera"], tmp_path)
    assert "| camera | all | 48 | +0.64 | 0.50 | 3.0 | 6.5 | repeats |" in table
    assert (
        "| camera | near_budget | 24 | -0.05 | 0.50 | 5.3 | 2.7 | **does not repeat: no headline** |" in table
    )
    too_few = "too few networks to judge (fewer than 20): no headline"
    assert f"| camera | range | 10 | +0.90 | 0.50 | – | – | {too_few} |" in table  # a ledger without the sds


def test_results_md_is_written_from_the_numbers(tmp_path):
    results = tmp_path / "results"
    write_rows(results / "arid6" / "correlations.csv", analyse.correlation_rows(fake_table(), resamples=200))
    write_rows(results / "arid6" / "topk.csv", analyse.top_k_rows(fake_table(), k=5))
    write_rows(results / "arid6" / "differences.csv", analyse.difference_rows(fake_table(), resamples=200))
    write_rows(results / "arid6" / "bands.csv", decision.band_rows(fake_table(), 1e8, resamples=100))
    write_rows(results / "arid6" / "partial.csv", decision.partial_rows(fake_table(), resamples=100))
    write_rows(
        results / "arid6" / "winners.csv",
        [
            {
                "contender": "search-stentr",
                "conv_gflops": 0.0998,
                "params": 870144,
                "val_top1_mean": 0.8,
                "val_top1_std": 0.05,
            }
        ],
    )
    write_rows(
        results / "arid6" / "trainings.csv",
        [{"arch": "a0", "seed": 0, "val_top1": 0.5, "seconds": 30.0, "device": "cpu", "commit": "c"}],
    )
    route_b = {"route": "b", "picks": 5, "val_top1_mean": 81.24, "val_top1_sd": 2.5, "over": "search seeds"}
    write_rows(results / "arid6" / "routes.csv", [route_b | {"search_s": 31.2, "epochs_to_network": 37.4}])
    paired = {"route": "b", "baseline": "a", "search_seeds": 5, "diff_mean": 2.7, "diff_lo": -1.4}
    paired |= {"diff_hi": 6.8, "same_pick": 2, "detectable": 5.5}
    same = paired | {"route": "b2", "diff_mean": 0.0, "diff_lo": 0.0, "diff_hi": 0.0, "same_pick": 5}
    write_rows(results / "arid6" / "routes_paired.csv", [paired, same | {"detectable": 0.0}])
    rung = {"sample": "all", "epoch": 1, "of_epochs": 5, "n_archs": 48, "seed_tau": 0.64}
    rung |= {f"tau_{n}{end}": "nan" for n in ("same_run", "across_seeds") for end in ("", "_lo", "_hi")}
    later = rung | {"epoch": 3, "tau_same_run": 0.5, "tau_same_run_lo": 0.3, "tau_same_run_hi": 0.6}
    later |= {"tau_across_seeds": 0.4, "tau_across_seeds_lo": 0.2, "tau_across_seeds_hi": 0.55}
    write_rows(results / "arid6" / "rungs.csv", [rung, later])
    budget = {"frames": 8, "resolution": 56, "flops": 1e8, "layers": 35}
    study = {
        "commit": "c0ffee",
        "machine": "CPU",
        "jobs": 2,
        "threads_per_job": 1,
        "seeds": 2,
        "budget": budget,
        "tasks": {"arid6": {"epochs": 12}},
    }
    (results / "study.json").write_text(json.dumps(study))
    (tmp_path / "plan.md").write_text("## Plan\nplanned")
    (tmp_path / "reading.md").write_text("## Reading\nhand-written")
    text = report.write_results(results, ["arid6"]).read_text()
    assert "| stentr | +1.00 [+1.00, +1.00] (12) |" in text
    assert "| params | -1.00 [-1.00, -1.00] (12) |" in text
    assert "| stentr | +2.00 [+2.00, +2.00] |" in text  # Δτ against params
    assert "| search-stentr | 0.0998 | 870144 | 80.0 ± 5.0 |" in text
    assert "| arid6 | training | 30.00 | 1 | 0.01 |" in text
    assert "| b | 5 | 81.2 ± 2.5 | search seeds | 31 | 37 |" in text  # a route and what it costs
    assert "| (b) − (a) | 5 | +2.7 [-1.4, +6.8] | 2 | 5.5 |" in text
    assert "| (b2) − (a) | 5 | +0.0 (no spread between seeds) | 5 | — |" in text  # the same networks
    tied = "undefined: all networks tied"
    assert f"| all | 48 | 1 of 5 | {tied} | {tied} | +0.64 |" in text  # the warm-up epoch, all at chance
    assert "| all | 48 | 3 of 5 | +0.50 [+0.30, +0.60] | +0.40 [+0.20, +0.55] | +0.64 |" in text
    assert "* **arid6** (12 epochs): 6 real human actions" in text
    assert "![arid6](results/arid6/scatter.png)" in text and text.endswith(
        "planned\n\n## Reading\nhand-written"
    )
    verdict = "too few networks to judge (fewer than 20): no headline"
    found = noise.seed_reliability(fake_table())
    spread = f"{100 * found['run_sd']:.1f} | {100 * found['network_sd']:.1f}"
    assert f"| arid6 | all | 12 | +1.00 | 1.00 | {spread} | {verdict} |" in text  # τ, ceiling, why
    assert "| scorer | 0%-50% of the budget |" in text and "| stentr | +1.00 [+1.00, +1.00] (6) |" in text


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["local", "slurm"])
def test_a_small_study_on_real_clips_runs_then_resumes_with_nothing_to_redo(
    arid6, tmp_path, launcher, request
):
    """6 architectures × 1 seed × 2 epochs on arid6, trained locally or as Slurm sweeps: ledgers, tables,
    figure and results.md; the second run finds every training and proxy score in the ledgers. Started with
    SIGINT at its default, as a user's command is."""
    if launcher == "slurm":
        request.getfixturevalue("slurm_cluster")  # a running Slurm; SLURM_CONF points at it
    results = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "experiments.validity.run",
        "--tasks",
        "arid6",
        "--archs",
        "3",
        "--seeds",
        "1",
    ]
    command += ["--epochs", "2", "--no-winners", "--resamples", "200", "--results", str(results)]
    command += ["--work", str(tmp_path / "work"), "--arid6", str(arid6), "--launcher", launcher]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # for the Slurm jobs
    env = {**os.environ, "WANDB_MODE": "disabled", "PATH": path}

    def study() -> str:
        default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, preexec_fn=default_sigint, timeout=900
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    jobs = "6 jobs" if launcher == "slurm" else "11 jobs"  # 5 proxies + 6 trainings or 1 sweep
    assert f"{jobs} to run" in study()
    trainings = (results / "arid6" / "trainings.csv").read_text()
    assert len(trainings.splitlines()) == 1 + 6
    with (results / "arid6" / "trainings.csv").open() as f:
        for row in csv.DictReader(f):  # validated after each epoch; the curve ends at the row's accuracy
            curve = [float(v) for v in row["val_curve"].split()]
            assert len(curve) == 2 and curve[-1] == pytest.approx(float(row["val_top1"]), abs=1e-4)
    with (results / "arid6" / "correlations.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["scorer"] for r in rows if r["sample"] == "all"} == set(analyse.SCORERS)
    assert all(r["n_archs"] == "6" for r in rows if r["sample"] == "all")
    assert len(list((results / "archs").glob("*.yaml"))) == 6
    assert (results / "arid6" / "scatter.png").stat().st_size > 10_000
    assert "0 jobs to run" in study()
    assert (results / "arid6" / "trainings.csv").read_text() == trainings
    assert "| stentr |" in (tmp_path / "results.md").read_text()


def test_a_training_row_takes_the_last_validation_and_refuses_a_run_without_one(tmp_path):
    """(A run resumed after its last epoch keeps its final top-1: tests/test_train_resume.py covers that.)"""
    (tmp_path / "results.json").write_text(json.dumps({"final_val_top1": 0.625, "val_top1": 0.9}))
    assert jobs.last_val_top1(tmp_path) == 0.625
    (tmp_path / "results.json").write_text(json.dumps({"final_val_top1": None}))
    with pytest.raises(SystemExit, match="no final_val_top1"):
        jobs.last_val_top1(tmp_path)
