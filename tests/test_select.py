"""python -m e3dnas.select: finalists of a search, successive halving on Optuna, workers, resume, outputs.

Most tests train a stub (tests/select_stub.py: known learning curves, a checkpoint file, a log of the epochs
it trained) so that what is asserted is the selection's own behaviour; one selects on real footage.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir

from e3dnas.arch import read_arch
from e3dnas.configs import CONF_DIR
from e3dnas.select.finalists import read_search
from e3dnas.select.run import run as select
from e3dnas.select.settings import check, read, rung_epochs
from e3dnas.select.study import PARAM, StudyRef, open_shared, run_waiting_trial
from slurm_cluster import SlurmCluster
from wandb_records import wandb_run_record

TESTS = Path(__file__).resolve().parent
STUB = "select.fit._target_=select_stub.fit"

pytestmark = pytest.mark.slow  # each needs a search run dir (a few seconds of search)


def cli_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    venv = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {
        **os.environ,
        "PYTHONPATH": path,
        "PATH": venv,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    } | extra


@pytest.fixture(scope="session")
def search_dir(tmp_path_factory) -> Path:
    """A finished demo-budget search (population 64)."""
    out = tmp_path_factory.mktemp("search") / "run"
    cmd = [
        sys.executable,
        "-m",
        "e3dnas.search",
        "+budget=demo",
        "search.iterations=3000",
        "search.population=64",
    ]
    cmd += ["wandb.enabled=false", "progress=false", "print_config=false", f"hydra.run.dir={out}"]
    done = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def compose_select(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("select", overrides=["print_config=false", *overrides])


def trained_epochs(home: Path) -> dict[str, list[int]]:
    """Each finalist's epochs as the stub trained them, in order (a repeat would show twice)."""
    return {
        p.parent.name: [int(line.split()[0]) for line in p.read_text().splitlines()]
        for p in sorted(home.glob("trials/*/trained.log"))
    }


def trials_by_finalist(home: Path, study: str) -> dict[str, list[optuna.trial.FrozenTrial]]:
    loaded = optuna.load_study(study_name=study, storage=f"sqlite:///{home / 'study.db'}")
    found: dict[str, list] = {}
    for trial in loaded.get_trials():
        found.setdefault(trial.params["finalist"], []).append(trial)
    return found


def test_rungs_grow_by_the_reduction_factor_below_the_full_recipe():
    assert rung_epochs(1, 3, 9) == (1, 3)
    assert rung_epochs(1, 3, 30) == (1, 3, 9, 27)
    assert rung_epochs(2, 2, 9) == (2, 4, 8)
    assert rung_epochs(3, 3, 3) == ()


def test_finalists_are_the_best_distinct_networks_near_the_budget_and_diverse(search_dir: Path):
    job = read(compose_select(f"run={search_dir}", "select.finalists=6", "select.per_pattern=3"))
    search, records = read_search([str(search_dir)])
    limit = search.budget["flops"]
    assert len(job.finalists) == 6
    assert all(f.flops >= 0.9 * limit for f in job.finalists)
    assert len({f.digest for f in job.finalists}) == 6
    patterns = [f.pattern for f in job.finalists]
    assert max(patterns.count(p) for p in patterns) <= 3
    scores = [f.score for f in job.finalists]
    assert scores == sorted(scores, reverse=True)
    # nothing better was passed over but for the rule: a higher-scored network near the budget that is not a
    # finalist repeats one or shares its temporal pattern with three better finalists
    assert max(r["score"] for r in records if r["flops"]["conv_macs"] >= 0.9 * limit) == scores[0]


def test_a_first_rung_inside_the_warm_up_is_warned_about(search_dir: Path, caplog):
    common = [f"run={search_dir}", "trainer.max_epochs=9", "scheduler.warmup_epochs=1"]
    with caplog.at_level("WARNING", logger="e3dnas.select"):
        read(compose_select(*common, "select.min_epochs=1"))
    assert "the first rung (1 epochs) ends within the learning-rate warm-up" in caplog.text
    assert "select.min_epochs=2" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="e3dnas.select"):
        read(compose_select(*common, "select.min_epochs=2"))
    assert "warm-up" not in caplog.text


# Known curves (epochs 1..9). One worker runs the finalists in score order; with reduction factor 3 a trial
# passes a rung when it is in the best third of those that reached it (the best one while fewer than 3 did).
CURVES = {
    "f00": [0.30, 0.35, 0.40, 0.45, 0.50, 0.52, 0.55, 0.58, 0.60],  # first: passes every rung alone
    "f01": [0.50, 0.42, 0.35, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30],  # best at 1 epoch, falls: cut at 3
    "f02": [0.20] * 9,  # cut at 1
    "f03": [0.60, 0.65, 0.70, 0.72, 0.74, 0.76, 0.78, 0.79, 0.80],  # the best: selected
    "f04": [0.55] * 9,  # below the best of 5 at 1 epoch: cut
    "f05": [0.58, 0.54, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50],  # 2nd of 6 at 1 epoch, then cut at 3
}
EXPECTED = {"f00": 9, "f01": 3, "f02": 1, "f03": 9, "f04": 1, "f05": 3}


def test_successive_halving_prunes_known_curves_in_order_and_a_rerun_redoes_nothing(
    search_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("E3DNAS_TEST_CURVES", json.dumps(CURVES))
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_select(
        f"run={search_dir}", STUB, "select.finalists=6", "select.per_pattern=6", "trainer.max_epochs=9"
    )
    job = read(cfg)
    check(job)
    assert job.rungs == (1, 3)
    home = tmp_path / "sel"
    assert select(job, home) == pytest.approx(0.80)

    assert trained_epochs(home) == {name: list(range(1, n + 1)) for name, n in EXPECTED.items()}
    trials = trials_by_finalist(home, f"select-{home.name}")
    states = {name: [t.state.name for t in ts] for name, ts in trials.items()}
    assert states == {n: ["COMPLETE" if e == 9 else "PRUNED"] for n, e in EXPECTED.items()}

    doc = read_arch(home / "selected.yaml")
    assert doc.arch == job.finalists[3].arch
    selection = doc.meta["selection"]
    assert (selection["finalist"], selection["val_top1"]) == ("f03", pytest.approx(0.80))
    assert selection["rung_accuracy"]["f01"] == {"1": 0.50, "3": 0.35}
    assert doc.meta["source"]["rank"] == job.finalists[3].search_rank

    with open(home / "ledger.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(EXPECTED.values())
    assert {(r["finalist"], r["epoch"]) for r in rows if r["rung"] == "1"} == {
        ("f00", "3"),
        ("f01", "3"),
        ("f03", "3"),
        ("f05", "3"),
    }
    summary = json.loads((home / "summary.json").read_text())
    assert (summary["cost"]["trainings"], summary["cost"]["epochs"]) == (6, 26)
    assert (summary["cost"]["pruned"], summary["cost"]["completed"]) == (4, 2)
    assert (home / "curves.png").stat().st_size > 0

    logs = {p: p.read_text() for p in home.glob("trials/*/trained.log")}
    assert select(read(cfg), home) == pytest.approx(0.80)
    assert {p: p.read_text() for p in home.glob("trials/*/trained.log")} == logs
    assert sum(len(ts) for ts in trials_by_finalist(home, f"select-{home.name}").values()) == 6


def wait_until(condition: Callable[[], bool], what: str, proc: subprocess.Popen | None = None, timeout=900):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"{what}: the worker exited first ({proc.returncode}):\n{proc.stderr.read()[-3000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout} s")
        time.sleep(0.1)


def start_worker(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "e3dnas.select", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def at_once(prepare: Callable[[], Callable[[], str]], processes: int = 6) -> list[str]:
    """In each of ``processes`` forked processes, ``prepare()``, then all together (a barrier) what it
    returned; each one's result, or its error as ``Type: message``."""
    fork = multiprocessing.get_context("fork")  # the children only use SQLite; forking is fast
    barrier, outcomes = fork.Barrier(processes), fork.Queue()

    def child() -> None:
        act = prepare()
        barrier.wait()
        try:
            outcomes.put(act())
        except Exception as error:
            outcomes.put(f"{type(error).__name__}: {error}")

    workers = [fork.Process(target=child) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return [outcomes.get(timeout=5) for _ in workers]


def test_workers_that_create_one_study_at_once_all_open_it(tmp_path: Path):
    # Without the lock, 6 processes creating one SQLite storage fail on its schema tables most times
    # (IntegrityError on alembic_version, as two Slurm workers did in CI).
    for attempt in range(5):
        ref, lock = (
            StudyRef(f"sqlite:///{tmp_path / f'{attempt}.db'}", "s", 1, 3),
            tmp_path / f"{attempt}.lock",
        )

        def opening(ref=ref, lock=lock) -> Callable[[], str]:
            def act() -> str:
                open_shared(ref, lock, 1, 3)
                return "opened"

            return act

        assert at_once(opening) == ["opened"] * 6


def test_workers_that_claim_the_last_waiting_trials_at_once_leave_no_empty_trial(tmp_path: Path):
    # 6 workers race for 2 waiting trials: without claiming under the lock, those that saw a waiting trial
    # but lost it to another made a new, empty trial (a failed trial without a finalist, seen in CI).
    def objective(trial) -> float:
        trial.suggest_categorical(PARAM, ["a", "b"])
        time.sleep(0.2)  # still running while the others look for a waiting trial
        return 1.0

    for attempt in range(5):
        ref, lock = (
            StudyRef(f"sqlite:///{tmp_path / f'{attempt}.db'}", "s", 1, 3),
            tmp_path / f"{attempt}.lock",
        )
        study = open_shared(ref, lock, 1, 3)
        for name in ("a", "b"):
            study.enqueue_trial({PARAM: name})

        def claiming(ref=ref, lock=lock) -> Callable[[], str]:
            mine = open_shared(ref, lock, 1, 3)
            return lambda: "ran" if run_waiting_trial(mine, lock, objective) else "none"

        assert sorted(at_once(claiming)) == ["none"] * 4 + ["ran"] * 2
        trials = study.get_trials()
        assert sorted(t.params.get(PARAM) for t in trials) == ["a", "b"], trials
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_two_workers_on_one_study_train_each_trial_once(search_dir: Path, tmp_path: Path):
    gate = tmp_path / "gate"
    gate.mkdir()
    home = tmp_path / "sel"
    env = cli_env(E3DNAS_TEST_GATE=str(gate))
    common = [f"run={search_dir}", STUB, "select.finalists=6", "select.per_pattern=6", "trainer.max_epochs=3"]
    workers = [
        start_worker(
            [*common, f"select.dir={home}", f"select.worker={i}", f"hydra.run.dir={tmp_path / f'w{i}'}"], env
        )
        for i in (0, 1)
    ]

    def pids_waiting() -> set[str]:
        return {p.name.rsplit("-", 1)[1] for p in gate.iterdir() if p.name != "open"}

    # Both workers hold a trial at once before any epoch runs: two processes really share the study.
    wait_until(lambda: len(pids_waiting()) == 2, "two workers in a trial", workers[0])
    (gate / "open").touch()
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()[-3000:]

    epochs = trained_epochs(home)
    assert sorted(epochs) == [f"f{i:02d}" for i in range(6)]
    assert all(e == list(range(1, len(e) + 1)) for e in epochs.values()), epochs  # no epoch twice
    trials = trials_by_finalist(home, f"select-{home.name}")
    assert all(len(ts) == 1 for ts in trials.values()), trials
    pids = {line.split()[1] for p in home.glob("trials/*/trained.log") for line in p.read_text().splitlines()}
    assert pids == {str(w.pid) for w in workers}
    assert read_arch(home / "selected.yaml").meta["selection"]["finalists"] == 6


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_stopped_worker_leaves_a_study_that_resumes(search_dir: Path, tmp_path: Path, stop: signal.Signals):
    gate = tmp_path / "gate"
    gate.mkdir()
    home = tmp_path / "sel"
    args = [f"run={search_dir}", STUB, "select.finalists=3", "select.per_pattern=6", "trainer.max_epochs=3"]
    args += ["select.heartbeat_s=1", "select.grace_s=3", f"hydra.run.dir={home}"]
    worker = start_worker(args, cli_env(E3DNAS_TEST_GATE=str(gate), E3DNAS_TEST_GATE_EPOCH="2"))
    # f00 has trained and reported epoch 1 and waits in epoch 2
    wait_until(lambda: any(gate.glob("f00-2-*")), "f00 in epoch 2", worker)
    worker.send_signal(stop)
    _, err = worker.communicate(timeout=120)
    if stop == signal.SIGINT:
        assert worker.returncode == 130, err[-3000:]
        assert "Resume: python -m e3dnas.select" in err.splitlines()[-1], err[-3000:]
    (gate / "open").touch()
    again = subprocess.run(
        [sys.executable, "-m", "e3dnas.select", *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]

    epochs = trained_epochs(home)
    assert epochs["f00"] == [1, 2, 3]  # resumed from its checkpoint: epoch 1 not trained again
    trials = trials_by_finalist(home, f"select-{home.name}")
    f00 = trials["f00"]
    assert [t.state.name for t in f00] == ["FAIL", "COMPLETE"]
    assert sorted(f00[1].intermediate_values) == [1, 2, 3]  # the retry carries the epoch reported before
    assert all(len(ts) == 1 for name, ts in trials.items() if name != "f00")
    assert (home / "selected.yaml").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("run=/nonexistent/search", "run=/nonexistent/search: no such search run dir"),
        ("select.min_budget_fraction=1.0", "no finalist"),
        ("dataset.frames=16", "dataset demo: 16×56² clips, but the search"),
    ],
    ids=["missing-dir", "empty-population", "other-input-size"],
)
def test_what_cannot_work_is_one_line_and_exit_2(
    search_dir: Path, tmp_path: Path, override: str, message: str
):
    args = [f"run={search_dir}", override, f"hydra.run.dir={tmp_path / 'sel'}"]
    done = subprocess.run(
        [sys.executable, "-m", "e3dnas.select", *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line, line
    assert not (tmp_path / "sel").exists()


def test_a_real_selection_on_footage(search_dir: Path, footage_dataset: Callable[..., Path], tmp_path: Path):
    home = tmp_path / "sel"
    args = [
        f"run={search_dir}",
        "+experiment=demo",
        f"dataset.root={footage_dataset()}",
        "dataset.num_workers=0",
    ]
    args += [
        "dataset.batch_size=4",
        "select.finalists=3",
        "select.reduction_factor=2",
        "trainer.max_epochs=2",
    ]
    args += ["callbacks.progress_bar=null", f"hydra.run.dir={home}"]
    done = subprocess.run(
        [sys.executable, "-m", "e3dnas.select", *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads((home / "summary.json").read_text())
    assert summary["rung_epochs"] == [1] and summary["cost"]["trainings"] == 3
    selected = read_arch(home / "selected.yaml")
    name = selected.meta["selection"]["finalist"]
    results = json.loads((home / "trials" / name / "results.json").read_text())
    assert results["epochs"] == 2 and results["final_val_top1"] == pytest.approx(
        selected.meta["selection"]["val_top1"]
    )
    assert selected.arch == read_arch(home / "finalists" / f"{name}.yaml").arch
    with open(home / "ledger.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["finalist"] for r in rows if r["epoch"] == "1"} == {"f00", "f01", "f02"}
    for run_file in home.glob("trials/*/wandb/offline-run-*/run-*.wandb"):
        record = wandb_run_record(run_file)
        assert (record.run_group, record.job_type) == (f"select-{home.name}", "train"), run_file
    assert len(list(home.glob("trials/*/wandb/offline-run-*/run-*.wandb"))) == 3
    assert f"selected {name}" in done.stdout


def test_workers_of_a_slurm_sweep_share_one_study(
    slurm_cluster: SlurmCluster, search_dir: Path, tmp_path: Path
):
    cmd = [sys.executable, "-m", "e3dnas.select", "-m", f"run={search_dir}", STUB, "select.finalists=4"]
    cmd += ["select.per_pattern=6", "trainer.max_epochs=3", "select.worker=0,1", "hydra/launcher=slurm"]
    done = subprocess.run(cmd, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stderr[-4000:]}\n{slurm_cluster.logs()[-3000:]}"
    (sweep,) = (tmp_path / "multirun" / "select").iterdir()
    jobs = {p.parent.name for p in (sweep / ".submitit").glob("*/*_submitted.pkl")}
    assert len(jobs) == 2
    assert {slurm_cluster.wait_for_job(j)["JobState"] for j in jobs} == {"COMPLETED"}
    assert sorted(p.name for p in sweep.glob("worker*")) == ["worker0", "worker1"]
    epochs = trained_epochs(sweep)
    assert sorted(epochs) == ["f00", "f01", "f02", "f03"]
    assert all(e == list(range(1, len(e) + 1)) for e in epochs.values())
    assert all(len(ts) == 1 for ts in trials_by_finalist(sweep, f"select-{sweep.name}").values())
    assert yaml.safe_load((sweep / "selected.yaml").read_text())["meta"]["selection"]["finalists"] == 4
