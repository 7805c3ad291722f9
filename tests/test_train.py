"""Training and evaluation on the real-footage demo set: runs, agrees with itself, resumes, fails clearly."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from e3dnas.cli import CONF_DIR
from e3dnas.data.demo import build_demo
from e3dnas.evaluate.run import evaluate
from e3dnas.train.run import train

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "dataset.num_workers=0",
    "dataset.persistent_workers=false",
    "logger=csv",
    "callbacks.progress_bar=none",
    "+experiment=demo",
]


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo") / "demo")


def compose_cfg(name: str, *overrides: str):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides))


def cli(module: str, *args: str, wait: bool = True):
    cmd = [sys.executable, "-m", module, *args]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    if not wait:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(("model", "arch"), [("e3d", "arch=e3d_s"), ("x3d_xs", None)])
def test_fit_validate_test_on_demo(tmp_path, demo_root, model, arch):
    overrides = [
        *QUICK,
        f"dataset.root={demo_root}",
        f"model={model}",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3",
        "+trainer.limit_val_batches=2",
        "+trainer.limit_test_batches=2",
    ]
    results = train(compose_cfg("train", *overrides, *([arch] if arch else [])), tmp_path)
    assert results["global_step"] == 3 and results["epochs"] == 1
    assert 0.0 <= results["val_top1"] <= 1.0 and 0.0 <= results["test_top1"] <= 1.0
    assert Path(results["best_checkpoint"]).is_file() and Path(results["last_checkpoint"]).is_file()
    assert json.loads((tmp_path / "results.json").read_text())["val_top1"] == results["val_top1"]
    metrics = (tmp_path / "csv" / "metrics.csv").read_text()
    assert "val/top1" in metrics and "train/top1" in metrics
    if model == "e3d":
        assert yaml.safe_load((tmp_path / "arch.yaml").read_text())["name"] == "E3D-S"


@pytest.mark.slow
def test_ema_and_precise_bn_options_train(tmp_path, demo_root):
    """EMA weights and recomputed BN statistics both change what validation sees, and both run."""
    common = [
        *QUICK,
        f"dataset.root={demo_root}",
        "arch=e3d_s",
        "trainer.max_epochs=1",
        "train.test=false",
        "+trainer.limit_train_batches=3",
        "+trainer.limit_val_batches=2",
    ]
    plain = train(compose_cfg("train", *common), tmp_path / "plain")
    ema = train(compose_cfg("train", *common, "callbacks.ema={decay: 0.5}"), tmp_path / "ema")
    precise = train(compose_cfg("train", *common, "callbacks.precise_bn={batches: 2}"), tmp_path / "bn")
    for results in (ema, precise):
        assert results["global_step"] == 3 and Path(results["best_checkpoint"]).is_file()
    assert plain["global_step"] == 3
    val_losses = []
    for run in ("plain", "ema", "bn"):
        rows = csv.DictReader((tmp_path / run / "csv" / "metrics.csv").open())
        val_losses.append([float(row["val/loss"]) for row in rows if row["val/loss"]])
    assert all(len(losses) == 1 for losses in val_losses)
    assert len({losses[0] for losses in val_losses}) == 3, val_losses


def test_evaluate_reproduces_the_trainers_val_accuracy(tmp_path, demo_root):
    trained = train(
        compose_cfg(
            "train",
            *QUICK,
            f"dataset.root={demo_root}",
            "arch=e3d_s",
            "trainer.max_epochs=2",
            "+trainer.limit_train_batches=4",
            "train.test=false",
        ),
        tmp_path / "train",
    )
    cfg = compose_cfg(
        "eval",
        f"ckpt={trained['best_checkpoint']}",
        f"dataset.root={demo_root}",
        "dataset.num_workers=0",
        "dataset.persistent_workers=false",
        "views=single",
    )
    evaluated = evaluate(cfg, tmp_path / "eval")
    assert evaluated["top1"] == pytest.approx(trained["val_top1"], abs=1e-6)
    videos = len(json.loads((demo_root / "validation.json").read_text()))
    assert evaluated["videos"] == videos
    rows = (tmp_path / "eval" / "per_class.csv").read_text().splitlines()
    assert rows[0] == "class_index,class_name,support,correct,top1" and len(rows) == 6
    assert sum(int(r.split(",")[2]) for r in rows[1:]) == videos
    assert (tmp_path / "eval" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_resume_after_kill_continues_at_the_right_step(tmp_path, demo_root):
    run_dir = tmp_path / "run"
    args = [
        "arch=e3d_s",
        "+experiment=demo",
        f"dataset.root={demo_root}",
        "logger=csv",
        "callbacks.progress_bar=none",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=6",
        "+trainer.limit_val_batches=1",
        "callbacks.checkpoint.every_n_train_steps=2",
        "train.test=false",
        f"hydra.run.dir={run_dir}",
    ]
    victim = cli("e3dnas.train", *args, wait=False)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.exists() and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert last.exists(), victim.stdout.read()
    assert not (run_dir / "results.json").exists()
    resumed = cli("e3dnas.train", *args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Restoring states from the checkpoint path at" in resumed.stdout + resumed.stderr
    results = json.loads((run_dir / "results.json").read_text())
    assert results["global_step"] == 12 and results["epochs"] == 2
    assert (run_dir / ".hydra" / "config.yaml").exists() and (run_dir / "arch.yaml").exists()


def _write_bad_arch(tmp_path: Path) -> Path:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "conf" / "arch" / "e3d_s.yaml").read_text().replace("depth: 3", "depth: -3"))
    return bad


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["arch=/nonexistent/best.yaml"], "/nonexistent/best.yaml: no such architecture file"),
        (["arch=BAD"], "stages[0].depth: must be positive, got -3"),
        (["arch=e3d_s", "dataset.root=/nonexistent/demo"], "/nonexistent/demo"),
        ([], "model=e3d needs an architecture"),
        (["arch=e3d_x"], "unknown arch 'e3d_x' (available: e3d_l, e3d_m, e3d_s"),
        (["arch=e3d_s", "dataset.flip=plain"], "dataset: flip='plain' changes labels on sthv2"),
        (
            ["arch=e3d_s", "optim.name=adam"],
            "model: optim.name: unknown optimiser 'adam' (known: sgd, adamw)",
        ),
        (
            ["arch=e3d_s", "+trainer.epochs=3"],
            "trainer: Trainer.__init__() got an unexpected keyword argument",
        ),
    ],
)
def test_bad_training_config_fails_with_one_line(tmp_path, demo_root, args, message):
    args = [a.replace("BAD", str(_write_bad_arch(tmp_path))) for a in args]
    if not any(a.startswith("dataset.root") for a in args):
        args.append(f"dataset.root={demo_root}")
    run = cli("e3dnas.train", *args, f"hydra.run.dir={tmp_path / 'run'}", "logger=csv")
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and message in lines[0], run.stderr


def test_evaluate_refuses_a_dataset_with_other_classes(tmp_path, demo_root):
    trained = train(
        compose_cfg(
            "train",
            *QUICK,
            f"dataset.root={demo_root}",
            "arch=e3d_s",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1",
            "train.test=false",
        ),
        tmp_path / "train",
    )
    other = build_demo(tmp_path / "playback", task="playback")
    run = cli(
        "e3dnas.evaluate",
        f"ckpt={trained['best_checkpoint']}",
        f"dataset.root={other}",
        f"hydra.run.dir={tmp_path}/e",
    )
    assert run.returncode == 2
    assert "was trained for 5 classes, but dataset demo" in run.stderr and "has 4" in run.stderr
    missing = cli(
        "e3dnas.evaluate",
        f"ckpt={tmp_path}/none.ckpt",
        f"dataset.root={demo_root}",
        f"hydra.run.dir={tmp_path}/e",
    )
    assert missing.returncode == 2 and "ckpt: no checkpoint at" in missing.stderr


@pytest.mark.slow
def test_local_sweep_groups_training_runs_in_wandb(tmp_path, footage_dataset):
    """Two trainings of one multirun (joblib): one wandb group, job_type train, the budget in the config."""
    from wandb_records import wandb_run_record

    search = tmp_path / "search"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "e3dnas.search",
            "+budget=demo",
            "search.iterations=5000",
            "wandb.enabled=false",
            "progress=false",
            f"hydra.run.dir={search}",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    run = cli(
        "e3dnas.train",
        "-m",
        f"arch={search / 'best.yaml'}",
        "seed=0,1",
        "hydra/launcher=local",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"dataset.root={footage_dataset()}",
        "+experiment=demo",
        "dataset.num_workers=0",
        "dataset.persistent_workers=false",
        "trainer.max_epochs=1",
        "train.test=false",
        "callbacks.progress_bar=none",
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    records = [
        wandb_run_record(p) for p in sorted((tmp_path / "sweep").glob("*/wandb/offline-run-*/run-*.wandb"))
    ]
    assert len(records) == 2
    assert {(r.run_group, r.job_type) for r in records} == {("sweep", "train")}
    for record in records:
        config = {item.key: yaml.safe_load(item.value_json) for item in record.config.update}
        assert config["arch_summary"]["budget"] == "demo" and config["dataset"]["name"] == "demo"
