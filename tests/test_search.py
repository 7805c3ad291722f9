"""The search: budgets are respected, results are reproducible and resumable, bad input exits 2."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from e3dnas import cost, scores
from e3dnas.arch import load_arch, read_arch
from e3dnas.budget import Budget
from e3dnas.configs import read_conf
from e3dnas.search import ScorerSpec, SearchProblem, SearchSettings, run_island, run_search
from processes import start, wait_until

ROOT = Path(__file__).resolve().parents[1]
SPACE_CFG = read_conf("space", "e3d")


def search_cli(run_dir: Path, *overrides: str, wait: bool = True):
    cmd = [sys.executable, "-m", "e3dnas.search", f"hydra.run.dir={run_dir}", "progress=false", *overrides]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    if not wait:
        return start(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_a_sweep_of_presets_under_one_extra_cap(tmp_path):
    """``-m +budget=e3d_s,e3d_m budget.params=3e6``: each preset searched under the cap, its outputs named
    by the capped budget's fingerprint (the sweep failed in Hydra before the first job)."""
    cmd = [sys.executable, "-m", "e3dnas.search", "-m", "+budget=e3d_s,e3d_m", "budget.params=3e6"]
    options = ["search.iterations=200", "progress=false", "print_config=false", "wandb.enabled=false"]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    run = subprocess.run(
        [*cmd, *options, f"hydra.sweep.dir={tmp_path}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    for job, preset in enumerate(["e3d_s", "e3d_m"]):
        capped = Budget.from_config(read_conf("budget", preset) | {"params": 3e6}).fingerprinted()
        assert capped.name.startswith(f"{preset}-") and capped.params == 3e6
        summary = json.loads((tmp_path / str(job) / "summary.json").read_text())
        assert summary["budget"] == capped.as_dict()
        doc = read_arch(tmp_path / str(job) / "best.yaml")
        assert doc.name == f"{capped.name}-stentr-seed0" and cost.cost(doc.arch).params <= 3e6


def without_timestamp(path: Path) -> str:
    return "".join(
        line for line in path.read_text().splitlines(True) if not line.lstrip().startswith("created:")
    )


def space_and_budget(name: str):
    budget = Budget.from_config(read_conf("budget", name))
    return budget.space(SPACE_CFG), budget


@pytest.mark.parametrize("name", ["e3d_s", "e3d_m", "e3d_l", "demo"])
def test_budget_is_never_exceeded_and_search_beats_the_seed(tmp_path, name):
    run = search_cli(tmp_path, f"+budget={name}", "search.iterations=20000", "wandb.enabled=false")
    assert run.returncode == 0, run.stderr
    budget = read_conf("budget", name)
    counter = budget["counter"]
    files = [tmp_path / "best.yaml", *sorted((tmp_path / "top").glob("*.yaml"))]
    assert len(files) == 11
    for path in files:
        doc = read_arch(path)
        c = cost.cost(doc.arch)
        assert c.flops_by(counter) <= budget["flops"] and c.layers <= budget["layers"]
        assert (doc.arch.frames, doc.arch.resolution) == (budget["frames"], budget["resolution"])
        assert doc.meta["flops"] == {"conv_macs": c.flops, "authors": c.authors_flops}
    records = [json.loads(line) for line in (tmp_path / "population.jsonl").read_text().splitlines()]
    assert len(records) == 256
    assert all(r["flops"][counter] <= budget["flops"] and r["layers"] <= budget["layers"] for r in records)
    assert [r["score"] for r in records] == sorted((r["score"] for r in records), reverse=True)
    space, _ = space_and_budget(name)
    best = read_arch(tmp_path / "best.yaml")
    assert best.meta["scores"]["stentr"] == pytest.approx(scores.score_arch(best.arch))
    assert best.meta["scores"]["stentr"] > scores.score_arch(space.seed) + 10
    for picture in ("convergence.png", "pareto.png"):
        assert (tmp_path / picture).read_bytes()[:4] == b"\x89PNG"
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0] == "island,evaluated,best_score,median_score,best_flops,accepted_rate"
    assert int(history[-1].split(",")[1]) == 20000


def test_params_budget_is_respected(tmp_path):
    run = search_cli(
        tmp_path, "+budget=e3d_s", "budget.params=1.2e6", "search.iterations=10000", "wandb.enabled=false"
    )
    assert run.returncode == 0, run.stderr
    for path in [tmp_path / "best.yaml", *(tmp_path / "top").glob("*.yaml")]:
        assert cost.cost(load_arch(path)).params <= 1.2e6


def test_same_seed_gives_identical_best_yaml(tmp_path):
    runs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for run_dir, seed in zip(runs, (3, 3, 4), strict=True):
        out = search_cli(
            run_dir, "+budget=e3d_s", f"search.seed={seed}", "search.iterations=30000", "wandb.enabled=false"
        )
        assert out.returncode == 0, out.stderr
    a, b, c = (without_timestamp(r / "best.yaml") for r in runs)
    assert a == b
    assert a != c  # the seed matters
    assert (runs[0] / "history.csv").read_text() == (runs[1] / "history.csv").read_text()


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path):
    args = ["+budget=e3d_s", "search.iterations=150000", "search.checkpoint_every=0.2", "wandb.enabled=false"]
    victim = search_cli(tmp_path / "killed", *args, wait=False)
    checkpoint = tmp_path / "killed" / "checkpoint" / "island0.pkl"
    wait_until(checkpoint.exists, "a checkpoint", victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert checkpoint.exists() and not (tmp_path / "killed" / "best.yaml").exists()
    resumed = search_cli(tmp_path / "killed", *args, "search.resume=true")
    assert resumed.returncode == 0, resumed.stderr
    straight = search_cli(tmp_path / "straight", *args)
    assert straight.returncode == 0, straight.stderr
    assert without_timestamp(tmp_path / "killed" / "best.yaml") == without_timestamp(
        tmp_path / "straight" / "best.yaml"
    )
    assert (tmp_path / "killed" / "history.csv").read_text() == (
        tmp_path / "straight" / "history.csv"
    ).read_text()


def interrupt(run_dir: Path, signum: int, *args: str) -> subprocess.CompletedProcess:
    """Start a search, send ``signum`` once its loop runs (first checkpoint written), wait for its exit."""
    victim = search_cli(run_dir, *args, "search.checkpoint_every=0.3", wait=False)
    wait_until((run_dir / "checkpoint" / "island0.pkl").exists, "a checkpoint", victim)
    victim.send_signal(signum)
    out, err = victim.communicate(timeout=120)
    return subprocess.CompletedProcess(victim.args, victim.returncode, out, err)


@pytest.mark.parametrize(
    ("signum", "workers"),
    [(signal.SIGINT, 1), pytest.param(signal.SIGTERM, 2, marks=pytest.mark.slow)],
)
def test_interrupt_checkpoints_and_the_resume_is_exact(tmp_path, signum, workers):
    args = ["+budget=e3d_s", "search.iterations=300000", f"search.workers={workers}", "wandb.enabled=false"]
    stopped = interrupt(tmp_path / "stopped", signum, *args)
    assert stopped.returncode == 130, stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    assert last.startswith("error: interrupted after ") and "search.resume=true hydra.run.dir=" in last
    assert "Traceback" not in stopped.stderr and not (tmp_path / "stopped" / "best.yaml").exists()
    resumed = search_cli(tmp_path / "stopped", *args, "search.resume=true")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((tmp_path / "stopped" / "summary.json").read_text())
    assert summary["evaluated"] == 300000 and 0 < summary["evaluated_here"] < 300000
    straight = search_cli(tmp_path / "straight", *args)
    assert straight.returncode == 0, straight.stderr
    assert without_timestamp(tmp_path / "stopped" / "best.yaml") == without_timestamp(
        tmp_path / "straight" / "best.yaml"
    )


def test_resume_is_refused_under_other_settings_or_without_a_checkpoint(tmp_path):
    args = ["search.iterations=300000", "wandb.enabled=false"]
    assert interrupt(tmp_path / "run", signal.SIGINT, "+budget=e3d_s", *args).returncode == 130
    other = search_cli(tmp_path / "run", "+budget=e3d_m", *args, "search.resume=true")
    assert other.returncode == 2
    assert "settings differ: budget.flops (checkpoint 2000000000.0, now 5000000000.0)" in other.stderr
    assert "budget.frames (checkpoint 13, now 16)" in other.stderr
    fresh = search_cli(tmp_path / "fresh", "+budget=e3d_s", *args, "search.resume=true")
    assert fresh.returncode == 2 and "there is no checkpoint to resume" in fresh.stderr


def test_an_overridden_budget_is_named_by_its_fields(tmp_path):
    args = ["search.iterations=2000", "wandb.enabled=false"]
    names = []
    # "d" overrides a field with the preset's own value: the same budget, under its own name.
    runs = [
        ("a", ["budget.flops=1.5e9"]),
        ("b", ["budget.flops=1.5e9"]),
        ("c", []),
        ("d", ["budget.flops=2.0e9"]),
    ]
    for run, overrides in runs:
        assert search_cli(tmp_path / run, "+budget=e3d_s", *overrides, *args).returncode == 0
        names.append(read_arch(tmp_path / run / "best.yaml").name)
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        assert names[-1] == f"{summary['budget']['name']}-stentr-seed0"
    fingerprint = Budget.from_config(read_conf("budget", "e3d_s") | {"flops": 1.5e9}).fingerprint()
    assert names == [f"e3d_s-{fingerprint}-stentr-seed0"] * 2 + ["e3d_s-stentr-seed0"] * 2
    # The default run dir is named the same way: outputs/search/<budget>[-<fingerprint>]/<timestamp>/
    cmd = [
        sys.executable,
        "-m",
        "e3dnas.search",
        "+budget=e3d_s",
        "budget.flops=1.5e9",
        "progress=false",
        *args,
    ]
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True, timeout=300)
    (run_dir,) = (tmp_path / "outputs" / "search").glob("*/*/best.yaml")
    assert run_dir.parent.parent.name == f"e3d_s-{fingerprint}"


def test_islands_in_processes_are_deterministic_and_merge():
    space, budget = space_and_budget("e3d_s")
    settings = SearchSettings(iterations=20000, workers=2, seed=5)
    problem = SearchProblem(space, ScorerSpec("stentr"), budget, settings)
    first = run_search(problem, progress=False)
    second = run_search(problem, progress=False)
    np.testing.assert_array_equal(first.population.genes, second.population.genes)
    assert first.evaluated == 20000
    assert {row[0] for row in first.history} == {0, 1}
    island0 = run_island(0, problem, 10000)
    assert first.population.scores[0] >= island0.population.scores[0]


@pytest.mark.parametrize(("name", "iterations"), [("e3d_s", 500000), ("e3d_l", 100000)])
def test_authors_presets_reproduce_their_released_search(tmp_path, name, iterations):
    """``+budget=<b>_authors``: the paper budget in the authors' count, their objective, their iterations."""
    run = search_cli(tmp_path, f"+budget={name}_authors", "--cfg", "job")
    assert run.returncode == 0, run.stderr
    cfg = yaml.safe_load(run.stdout)
    assert cfg["scorer"]["name"] == "stentr_authors" and cfg["search"]["iterations"] == iterations
    assert cfg["budget"] == read_conf("budget", name) | {"name": f"{name}_authors"}
    run = search_cli(tmp_path, f"+budget={name}_authors", "search.iterations=3000", "wandb.enabled=false")
    assert run.returncode == 0, run.stderr
    best = read_arch(tmp_path / "best.yaml")
    assert best.name == f"{name}_authors-stentr_authors-seed0"
    assert best.meta["scores"]["stentr_authors"] == pytest.approx(
        scores.score_arch(best.arch, "stentr_authors")
    )
    assert best.meta["source"]["budget"]["counter"] == "authors"


def test_scorer_choice_changes_the_winner():
    space, budget = space_and_budget("e3d_s")
    settings = SearchSettings(iterations=10000)
    by_flops = run_search(
        SearchProblem(space, ScorerSpec("flops"), budget, settings), progress=False
    ).population
    by_random = run_search(
        SearchProblem(space, ScorerSpec("random", {"seed": 1}), budget, settings), progress=False
    ).population
    assert by_flops.flops[0] > 0.95 * budget.flops
    assert not np.array_equal(by_flops.genes[0], by_random.genes[0])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["+budget=e3d_s", "budget.flops=1e8"],
            "is impossible: the seed network already needs 0.566 > 0.100 GFLOPs (authors)",
        ),
        (
            ["+budget=e3d_s", "budget.flops=0"],
            "budget.flops must be a positive number, got 0.0 (budget e3d_s)",
        ),
        (["+budget=e3d_s", "budget.layers=10"], "a layer budget of 10 is impossible"),
        (
            ["+budget=demo", "budget.resolution=16"],
            "input 8×16² is too small: the network strides by 32, so the last stage's feature map would be",
        ),
        (["+budget=e3d_xl"], "unknown budget 'e3d_xl' (available: demo, e3d_l, e3d_l_authors, e3d_m,"),
        (
            ["+budget=e3d_s", "budget.counter=fvcore"],
            "budget.counter must be one of conv_macs, authors, got 'fvcore' (budget e3d_s)",
        ),
        (
            ["+budget=e3d_s", "scorer.rounding=round"],
            "scorer.rounding must be ceil or floor, got 'round'",
        ),
        (["+budget=e3d_s,e3d_xl"], "unknown budget 'e3d_xl'"),
        (
            ["+budget=e3d_s", "scorer=nope"],
            "unknown scorer 'nope' (available: entropy, flops, grad_norm, naswot, params, random, snip,",
        ),
        (["+budget=e3d_s", "search.seed=abc"], "search.seed must be an integer >= 0, got 'abc'"),
        (["+budget=e3d_s", "search.iterations=0"], "search.iterations must be an integer >= 1, got 0"),
        (["+budget=e3d_s", "search.population=1.5"], "search.population must be an integer >= 1, got 1.5"),
        (["+budget=e3d_s", "search.seed=1.5"], "search.seed must be an integer >= 0, got 1.5"),
        (["+budget=e3d_s", "search.population=0"], "search.population must be an integer >= 1, got 0"),
        (["+budget=e3d_s", "budget.flops=abc"], "budget.flops must be a positive number, got 'abc'"),
        (["+budget=e3d_s", "+search.speed=2"], "search.speed: unknown key (known: iterations, population,"),
        (
            [],
            "no budget given: add +budget=NAME (available: demo, e3d_l, e3d_l_authors, e3d_m, e3d_m_authors",
        ),
    ],
)
def test_bad_requests_exit_2_with_one_line(tmp_path, overrides, message):
    run = search_cli(tmp_path, *overrides, "wandb.enabled=false")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], run.stderr


def _snapshot(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_a_refused_resume_writes_nothing_into_the_run(tmp_path):
    """Refused before Hydra runs: no rewritten .hydra/config.yaml, no reopened wandb run."""
    args = ["+budget=demo", "search.iterations=2000"]
    assert search_cli(tmp_path / "run", *args).returncode == 0
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    before = _snapshot(tmp_path / "run")
    refused = search_cli(tmp_path / "run", *args, "search.seed=1", "search.resume=true")
    assert refused.returncode == 2, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "settings differ: search.seed (checkpoint 0, now 1)" in errors[0]
    assert _snapshot(tmp_path / "run") == before


def _checkpointed(tmp_path: Path, **settings) -> tuple[Path, SearchSettings]:
    space, budget = space_and_budget("demo")
    done = SearchSettings(iterations=2000, **settings)
    run_search(SearchProblem(space, ScorerSpec(name="stentr"), budget, done), tmp_path, progress=False)
    return tmp_path, done


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"workers": 2}, "settings differ: search.workers (checkpoint 1, now 2)"),
        ({"iterations": 3000}, "settings differ: search.iterations (checkpoint 2000, now 3000)"),
    ],
)
def test_resume_refusals_name_each_difference_once(tmp_path, change, message):
    from dataclasses import replace

    from e3dnas.search.islands import check_checkpoints
    from e3dnas.signature import ResumeError

    checkpoints, done = _checkpointed(tmp_path)
    space, budget = space_and_budget("demo")
    with pytest.raises(ResumeError) as refused:
        check_checkpoints(
            checkpoints, SearchProblem(space, ScorerSpec("stentr"), budget, replace(done, **change))
        )
    assert message in str(refused.value)


def test_resume_under_another_scorer_names_the_scorer(tmp_path):
    from e3dnas.search.islands import check_checkpoints
    from e3dnas.signature import ResumeError

    checkpoints, done = _checkpointed(tmp_path)
    space, budget = space_and_budget("demo")
    authors = ScorerSpec.from_config(read_conf("scorer", "stentr_authors"))
    with pytest.raises(ResumeError) as refused:
        check_checkpoints(checkpoints, SearchProblem(space, authors, budget, done))
    assert "settings differ: scorer.name (checkpoint 'stentr', now 'stentr_authors'). " in str(refused.value)


def test_resuming_a_completed_search_keeps_its_time(tmp_path):
    """A resume with nothing left to do adds nothing to the search's seconds or its rate."""
    from dataclasses import replace

    space, budget = space_and_budget("demo")
    done = SearchSettings(iterations=20000)
    first = run_search(SearchProblem(space, ScorerSpec("stentr"), budget, done), tmp_path, progress=False)
    resumed = SearchProblem(space, ScorerSpec("stentr"), budget, replace(done, resume=True))
    again = run_search(resumed, tmp_path, progress=False)
    assert again.evaluated_here == 0 and again.total_seconds >= first.total_seconds
    assert again.overall_rate <= first.overall_rate and again.overall_rate > 0.5 * first.overall_rate


@pytest.mark.parametrize(
    ("sinfo", "message"),
    [
        (None, "no Slurm client here (sinfo is not on PATH)"),
        (
            "echo 'slurm_load_partitions: Unable to contact slurm controller (connect failure)' >&2; exit 1",
            "the Slurm controller does not answer (sinfo: slurm_load_partitions: Unable to contact slurm "
            "controller (connect failure))",
        ),
    ],
    ids=["no-client", "no-controller"],
)
def test_a_slurm_sweep_without_a_controller_fails_in_one_line(tmp_path, sinfo, message):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if sinfo is not None:
        (bin_dir / "sinfo").write_text(f"#!/bin/sh\n{sinfo}\n")
        (bin_dir / "sinfo").chmod(0o755)
    cmd = [sys.executable, "-m", "e3dnas.search", "-m", "+budget=demo", "hydra/launcher=slurm"]
    env = {**os.environ, "PATH": str(bin_dir), "WANDB_MODE": "offline"}
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"error: hydra/launcher=slurm: {message}")
    assert not (tmp_path / "multirun").exists()


@pytest.mark.slow
def test_the_printed_resume_line_runs_in_a_shell(tmp_path):
    """The resume command of an interrupted search is quoted for the shell: pasted as it is (a value with
    brackets, parentheses and a space), it continues the search to its end."""
    args = ["+budget=e3d_s", "search.iterations=300000", "wandb.enabled=false", 'wandb.tags=["a (b)"]']
    stopped = interrupt(tmp_path / "run", signal.SIGINT, *args)
    assert stopped.returncode == 130, stopped.stderr
    line = stopped.stderr.strip().splitlines()[-1].split("Resume: ", 1)[1]
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    resumed = subprocess.run(
        ["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["evaluated"] == 300000
