"""Latency tables: profiled and resumable, predicted in one vectorised pass, enforced by the search."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from e3dnas.arch import ArchBatch, read_arch
from e3dnas.budget import Budget, BudgetError
from e3dnas.configs import read_conf
from e3dnas.describe import main as arch_main
from e3dnas.latency.calibrate import fit_calibration
from e3dnas.latency.grid import interpolate
from e3dnas.latency.ops import arch_ops
from e3dnas.latency.plan import plan
from e3dnas.latency.predict import LatencyPredictor, ops_ms_by_part
from e3dnas.latency.table import Calibration, LatencyTable, TableEntry, load_table
from e3dnas.latency.timing import DeviceSettings, TimingSettings
from e3dnas.profile import profiler
from e3dnas.profile.profiler import ProfileError, ProfileSettings, profile
from e3dnas.profile.sample import sample_archs
from e3dnas.report.__main__ import main as report_main
from e3dnas.scores import ScorerSpec
from e3dnas.search import SearchProblem, SearchSettings
from e3dnas.search.run import released_references
from processes import start, wait_until

ROOT = Path(__file__).resolve().parents[1]

#: A space small enough to profile for real in a second: two stages, widths 8…32, at 2×16² clips.
TINY_SPACE = {
    "name": "e3d",
    "seed": {
        "stem": {"width": 8, "kernel": [1, 3], "stride": 2},
        "stages": [
            {"width": 8, "bottleneck": 16, "kernel": [1, 3], "depth": 1, "stride": 2},
            {"width": 16, "bottleneck": 32, "kernel": [1, 3], "depth": 1, "stride": 2},
        ],
        "head": {"width": 32},
        "activation": "relu",
    },
    "kernels": [[1, 3], [3, 3]],
    "width_multipliers": [2.0, 0.5],
    "bottleneck_ratios": [2.0, 4.0],
    "depth_steps": [-1, 1],
    "max_channels": 32,
    "stem_max_width": 16,
    "first_stage_max_depth": 2,
    "blocks_per_depth_cap": 2,
}
TINY_BUDGET = {
    "name": "tiny",
    "frames": 2,
    "resolution": 16,
    "flops": 1e9,
    "layers": 20,
    "counter": "conv_macs",
}
FAST_TIMING = TimingSettings(warmup=1, min_run_time=0.001, network_run_time=0.005, guard_load=None, rounds=1)


def tiny() -> tuple[Budget, object]:
    budget = Budget.from_config(TINY_BUDGET)
    return budget, budget.space(TINY_SPACE)


def synthetic_table(
    space, budget: Budget, calibration: Calibration | None = None, ratio: float = 1.5
) -> LatencyTable:
    """A table whose op ms are a known function of the channels, as if profiled: no timing needed."""
    entries = {}
    for p in plan(space, budget.flops, ratio):
        points = np.stack(np.meshgrid(*p.grid, indexing="ij"), axis=-1) if p.grid else np.zeros((0,))
        work = points.prod(axis=-1) * p.entry.side_out**2  # ~ multiply-accumulates per frame
        ms = 0.01 + 1e-8 * work + 1e-4 * points.sum(axis=-1)
        entries[p.entry.name] = TableEntry(p.entry, p.grid, np.where(p.needed, ms, np.nan))
    device = DeviceSettings().describe()
    return LatencyTable(
        device=device,
        timing=FAST_TIMING.describe(),
        skeleton=space.skeleton,
        space={
            "budget": budget.name,
            "flops_cap": budget.flops,
            "grid_ratio": ratio,
            "channel_multiple": space.channel_multiple,
            "kernels": [list(k) for k in space.kernels],
        },
        entries=entries,
        calibration=calibration or Calibration(1.2, 0.05),
    )


# --- the profiler ------------------------------------------------------------------------------------------


def test_profile_writes_a_table_and_resumes_after_an_interrupt(tmp_path, monkeypatch):
    budget, space = tiny()
    cache = tmp_path / "cache.json"
    args = (space, budget, DeviceSettings(threads=1), FAST_TIMING, ProfileSettings(2.0, 3), cache, False)
    real_time_ms, calls = profiler.time_ms, []

    def interrupted(*a, **k):
        if len(calls) == 40:
            raise KeyboardInterrupt
        calls.append(1)
        return real_time_ms(*a, **k)

    monkeypatch.setattr(profiler, "time_ms", interrupted)
    with pytest.raises(KeyboardInterrupt):
        profile(*args)
    saved = json.loads(cache.read_text())
    assert len(saved["timings"]) == 40  # flushed on the way out

    calls.clear()
    monkeypatch.setattr(profiler, "time_ms", lambda *a, **k: calls.append(1) or real_time_ms(*a, **k))
    table = profile(*args)
    points = sum(int(p.needed.sum()) for p in plan(space, budget.flops, 2.0))
    assert len(calls) == points - 40  # only what was missing
    path = table.save(tmp_path / "latency.json")
    again = load_table(path)
    assert again.input_size == (2, 16) and again.skeleton == space.skeleton
    for key in ("device", "device_name", "torch", "threads", "batch", "dtype", "channels_last", "compile"):
        assert key in again.device
    assert again.device["threads"] == 1 and again.timing["statistic"] == "min" and "method" in again.timing
    assert again.space["kernels"] == [[1, 3], [3, 3]] and again.space["flops_cap"] == 1e9
    assert len(again.calibration.networks) == 3
    name, value = next(iter(saved["timings"].items()))
    entry_name, point = name.split(":")
    entry = again.entries[entry_name]
    query = np.array([[int(v) for v in point.split(",")]]) if point else np.zeros((1, 0))
    assert entry.at(query)[0] == pytest.approx(value[0])  # the cached timing made it into the table
    with pytest.raises(ProfileError, match="other settings"):
        profile(space, budget, DeviceSettings(threads=2), *args[3:])


@pytest.mark.slow
def test_profile_cli_continues_after_ctrl_c(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "e3dnas.profile",
        "+budget=demo",
        "budget.frames=2",
        "budget.resolution=32",
        "calibration.networks=3",
        "timing.min_run_time=0.005",
        "timing.network_run_time=0.005",
        "timing.guard_load=null",
        "timing.rounds=1",
        "progress=false",
        f"hydra.run.dir={tmp_path}",
    ]
    victim = start(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until((tmp_path / "cache.json").exists, "the first cache flush", victim)
    victim.send_signal(signal.SIGINT)
    _, err = victim.communicate(timeout=120)
    assert victim.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted; timings so far are in")
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert load_table(tmp_path / "latency.json").input_size == (2, 32)


# --- the predictor -----------------------------------------------------------------------------------------


def test_vectorised_prediction_equals_op_by_op_sums():
    budget = Budget.from_config(read_conf("budget", "demo"))
    space = budget.space(read_conf("space", "e3d"))
    table = synthetic_table(space, budget)
    predictor = LatencyPredictor(table)
    archs = sample_archs(space, budget, 40, seed=3)
    batch = ArchBatch.from_archs(archs)
    one_by_one = [sum(ops_ms_by_part(table, a).values()) for a in archs]
    np.testing.assert_allclose(predictor.ops_ms(batch), one_by_one, rtol=1e-12)
    blocks = batch.column("depth").sum(axis=1)
    np.testing.assert_allclose(predictor.predict(batch), 1.2 * np.array(one_by_one) + 0.05 * blocks)
    assert [predictor.predict_arch(a) for a in archs] == pytest.approx(predictor.predict(batch).tolist())


def test_prediction_is_the_table_sum_on_grid_points_and_exact_for_bilinear_costs():
    budget, space = tiny()
    table = synthetic_table(space, budget, Calibration(), ratio=2.0)
    seed = space.seed  # widths 8/16, bottlenecks 16/32: every op on a grid point (8, 16, 32, …)
    expected = 0.0
    for _, entry, point in arch_ops(seed):
        e = table.entries[entry.name]
        index = tuple(int(np.flatnonzero(axis == v)[0]) for axis, v in zip(e.grid, point, strict=True))
        expected += float(e.ms[index])
    assert LatencyPredictor(table).predict_arch(seed) == pytest.approx(expected, rel=1e-12)
    # Between grid points: a + b·x + c·y + d·x·y is reproduced exactly; outside, NaN (no extrapolation).
    grid = (np.array([8, 16, 40]), np.array([16, 48, 128]))
    x, y = np.meshgrid(*grid, indexing="ij")
    values = 0.3 + 0.01 * x + 0.002 * y + 1e-4 * x * y
    queries = np.array([[8, 16], [24, 100], [40, 128], [13, 17]])
    exact = 0.3 + 0.01 * queries[:, 0] + 0.002 * queries[:, 1] + 1e-4 * queries.prod(axis=1)
    np.testing.assert_allclose(interpolate(grid, values, queries), exact)
    assert np.isnan(interpolate(grid, values, np.array([[48, 16], [8, 8]]))).all()


def test_an_op_the_table_did_not_time_makes_the_network_unknown():
    budget, space = tiny()
    table = synthetic_table(space, Budget.from_config(TINY_BUDGET | {"flops": 1e5}))  # drops big blocks
    big = sample_archs(space, budget, 30, seed=0)
    predicted = LatencyPredictor(table).predict(ArchBatch.from_archs(big))
    assert np.isnan(predicted).any() and np.isfinite(predicted).any()


# --- budgets and the search --------------------------------------------------------------------------------


def write_demo_table(tmp_path: Path, **fields) -> Path:
    budget = Budget.from_config(read_conf("budget", "demo") | fields)
    table = synthetic_table(budget.space(read_conf("space", "e3d")), budget)
    return table.save(tmp_path / "demo_table.json")


def test_budget_validation(tmp_path):
    demo = read_conf("budget", "demo")
    table = write_demo_table(tmp_path)
    other_size = write_demo_table(tmp_path / "other", resolution=64)
    cases = [
        ({"latency_ms": 5.0}, "'latency_ms' needs 'latency_table'"),
        (
            {"latency_ms": 0, "latency_table": str(table)},
            "budget.latency_ms must be null or a positive number, got 0 (budget demo)",
        ),
        ({"latency_ms": 5.0, "latency_table": str(tmp_path / "nope.json")}, "nope.json: no such file"),
        ({"latency_ms": 5.0, "latency_table": str(other_size)}, "was measured at 8×64², the budget is 8×56²"),
        ({"latency_ms": 5.0, "latency_table": str(table), "flops": 2e8}, "times ops up to 1e+08 FLOPs"),
    ]
    for fields, message in cases:
        with pytest.raises(BudgetError, match=None) as err:
            Budget.from_config(demo | fields)
        assert message in str(err.value) and "\n" not in str(err.value)
    plain = Budget.from_config(demo)
    limited = Budget.from_config(demo | {"latency_ms": 5.0, "latency_table": str(table)})
    assert plain.fingerprint() == Budget.from_config(demo | {"latency_table": None}).fingerprint()
    assert limited.fingerprint() != plain.fingerprint()
    assert (
        limited.fingerprint()
        != Budget.from_config(demo | {"latency_ms": 6.0, "latency_table": str(table)}).fingerprint()
    )
    copy = tmp_path / "copy.json"
    copy.write_bytes(table.read_bytes())  # the table counts by its content, not its path
    assert (
        limited.fingerprint()
        == Budget.from_config(demo | {"latency_ms": 5.0, "latency_table": str(copy)}).fingerprint()
    )


def search_cli(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "e3dnas.search", f"hydra.run.dir={run_dir}", "progress=false"]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    return subprocess.run(
        [*cmd, "wandb.enabled=false", *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_search_cli_rejects_a_table_of_another_input_size(tmp_path):
    table = write_demo_table(tmp_path, resolution=64)
    run = search_cli(tmp_path / "run", "+budget=demo", "budget.latency_ms=5", f"budget.latency_table={table}")
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("error: budget demo") and "was measured at 8×64², the budget is 8×56²" in line


def test_search_respects_the_latency_budget_and_records_it(tmp_path, capsys):
    table_path = write_demo_table(tmp_path)
    table = load_table(table_path)
    budget = Budget.from_config(read_conf("budget", "demo"))
    seed_ms = LatencyPredictor(table).predict_arch(budget.space(read_conf("space", "e3d")).seed)
    limit = round(seed_ms * 1.5, 3)
    run = search_cli(
        tmp_path / "run",
        "+budget=demo",
        "search.iterations=4000",
        f"budget.latency_ms={limit}",
        f"budget.latency_table={table_path}",
    )
    assert run.returncode == 0, run.stderr
    run_dir = tmp_path / "run"
    predictor = LatencyPredictor(table)
    for path in [run_dir / "best.yaml", *(run_dir / "top").glob("*.yaml")]:
        doc = read_arch(path)
        assert doc.meta["latency"]["predicted_ms"] <= limit
        assert doc.meta["latency"]["predicted_ms"] == pytest.approx(predictor.predict_arch(doc.arch))
        assert doc.meta["latency"]["table"] == str(table_path) and "8×56²" in doc.meta["latency"]["device"]
    records = [json.loads(line) for line in (run_dir / "population.jsonl").read_text().splitlines()]
    assert max(r["latency_ms"] for r in records) <= limit
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_latency_ms"] <= limit and summary["budget"]["latency_ms"] == limit
    assert summary["budget"]["name"].startswith("demo-")  # an overridden budget is fingerprinted
    assert (run_dir / "pareto_latency.png").read_bytes()[:4] == b"\x89PNG"
    assert "ms predicted (budget" in run.stdout
    # A released net that breaks the latency budget is marked so on the plots, not drawn as a rival.
    timed = Budget.from_config(summary["budget"] | {"name": "demo"})
    problem = SearchProblem(
        timed.space(read_conf("space", "e3d")), ScorerSpec("stentr"), timed, SearchSettings()
    )
    refs = released_references(problem, against="latency")
    assert any(ref.x > limit for ref in refs.values())
    for ref in refs.values():
        assert (f"{ref.x:.1f} > {limit:g} ms predicted" in ref.over) == (ref.x > limit)

    assert arch_main([str(run_dir / "best.yaml"), "--latency-table", str(table_path)]) == 0
    shown = capsys.readouterr().out
    assert "ops ms" in shown and f"predicted latency: {summary['best_latency_ms']:.2f} ms" in shown
    assert arch_main([str(ROOT / "conf/arch/e3d_s.yaml"), "--latency-table", str(table_path)]) == 2
    assert "was measured at 8×56² inputs" in capsys.readouterr().err

    assert report_main([str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "latency (ms, predicted)" in report and "![latency](latency.png)" in report


#: Runs ``python -m e3dnas.search`` with spies on the Budget constructor and on parsing and hashing the
#: latency table's bytes; prints what they counted when the command ends.
COUNTING_SEARCH = """
import atexit, hashlib, json, runpy, sys
from e3dnas.budget import Budget
counts = {"budget": 0, "parse": 0, "hash": 0}
def is_table(data=b"", *_):
    key = b'"entries"' if isinstance(data, bytes) else '"entries"'
    return isinstance(data, str | bytes) and key in data
def spy(counter, real, counted):
    def wrapper(*args, **kwargs):
        counts[counter] += counted(*args)
        return real(*args, **kwargs)
    return wrapper
Budget.__init__ = spy("budget", Budget.__init__, lambda *_: True)
json.loads = spy("parse", json.loads, is_table)
hashlib.sha1 = spy("hash", hashlib.sha1, is_table)
atexit.register(lambda: print("counts", json.dumps(counts)))
runpy.run_module("e3dnas.search", run_name="__main__")
"""


def test_a_search_builds_its_budget_and_reads_its_latency_table_once(tmp_path):
    """The override check, the run dir's name and the run share one Budget; its table is parsed and hashed
    once (it was built 3 times, the table parsed 8 and hashed twice)."""
    table = write_demo_table(tmp_path)
    latency = {"latency_ms": 100.0, "latency_table": str(table)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    options = ["search.iterations=500", "progress=false", "print_config=false", "wandb.enabled=false"]
    run = subprocess.run(
        [sys.executable, "-c", COUNTING_SEARCH, "+budget=demo", *options]
        + [f"budget.{key}={value}" for key, value in latency.items()],
        cwd=tmp_path,  # the run dir is the default one, named by the budget: outputs/search/<budget>/<time>
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    counts = json.loads(run.stdout.rsplit("counts ", 1)[1])
    assert counts == {"budget": 1, "parse": 1, "hash": 1}
    name = Budget.from_config(read_conf("budget", "demo") | latency).fingerprinted().name
    (run_dir,) = (tmp_path / "outputs" / "search" / name).iterdir()
    assert read_arch(run_dir / "best.yaml").meta["latency"]["predicted_ms"] <= 100.0


def test_calibration_fit_recovers_known_costs_and_never_goes_negative():
    ops, blocks = np.array([10.0, 20.0, 35.0, 50.0]), np.array([5, 20, 12, 27])
    fit = fit_calibration(ops, blocks, 1.3 * ops + 0.2 * blocks, ["a", "b", "c", "d"])
    assert (fit.scale, fit.per_block_ms) == (pytest.approx(1.3), pytest.approx(0.2))
    assert [n["genes"] for n in fit.networks] == ["a", "b", "c", "d"]
    shrinking = fit_calibration(ops, blocks, 1.3 * ops - 0.2 * blocks, ["a", "b", "c", "d"])
    assert shrinking.per_block_ms == 0.0 and shrinking.scale > 0
