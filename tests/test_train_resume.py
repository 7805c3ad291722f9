"""A stopped training resumes where its checkpoint is, keeps its records, refuses other settings."""

import csv
import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from e3dnas.schema import ConfigValueError
from e3dnas.train.run import train
from processes import wait_until
from train_helpers import FOLDER, QUICK, ROOT, cli, cli_env, compose_cfg, error_lines, one_batch_cfg


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
    wait_until(last.exists, "a last.ckpt", victim)  # written whole (fsspec writes a temporary, then moves it)
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


@pytest.mark.slow
def test_ctrl_c_stops_training_with_its_resume_command(tmp_path, demo_root):
    run_dir = tmp_path / "run"
    args = [
        *QUICK,
        "arch=e3d_s",
        f"dataset.root={demo_root}",
        "trainer.max_epochs=100",
        "+trainer.limit_train_batches=4",
        f"hydra.run.dir={run_dir}",
    ]
    victim = cli("e3dnas.train", *args, wait=False)
    last = run_dir / "checkpoints" / "last.ckpt"
    wait_until(last.exists, "a last.ckpt", victim)
    # Like a user, press Ctrl-C again if the first one did not stop it within a minute (seen once in ~5
    # runs: the interrupt was lost and training went on); Lightning ignores the ones after its first.
    for _ in range(3):
        victim.send_signal(signal.SIGINT)
        try:
            output = victim.communicate(timeout=60)[0]
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        victim.kill()
        pytest.fail("training did not stop on three Ctrl-C")
    assert victim.returncode == 130, output
    error = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and f"last checkpoint {last}" in error[0], output
    assert error[0].endswith(f"Resume: python -m e3dnas.train {' '.join(args[:-1])} hydra.run.dir={run_dir}")


def test_resumed_training_keeps_the_earlier_epochs_metrics(tmp_path, demo_root):
    """A run stopped after epoch 0's last.ckpt and resumed in its dir: metrics.csv holds both epochs, the
    steps continuing."""
    run_dir = tmp_path / "run"
    train(one_batch_cfg(demo_root, "trainer.max_epochs=1"), run_dir)
    results = train(one_batch_cfg(demo_root, "trainer.max_epochs=2"), run_dir)
    assert results["global_step"] == 2
    rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
    validated = [(row["epoch"], row["step"]) for row in rows if row["val/top1"]]
    assert validated == [("0", "0"), ("1", "1")]


def test_a_finished_training_rerun_in_its_dir_reports_its_last_validation(tmp_path, demo_root):
    """Resumed after its last epoch, a run validates nothing; its results.json still has the final top-1."""
    run_dir = tmp_path / "run"
    first = train(one_batch_cfg(demo_root, "trainer.max_epochs=1"), run_dir)
    assert first["final_val_top1"] is not None
    again = train(one_batch_cfg(demo_root, "trainer.max_epochs=1"), run_dir)
    assert again["final_val_top1"] == first["final_val_top1"] and again["global_step"] == first["global_step"]


def _snapshot(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_refused_resume_leaves_the_runs_records_as_they_were(tmp_path, demo_root):
    """Rerunning a finished training dir with another network stops in one line naming the difference,
    before Hydra or the run write anything there (no size-mismatch page, arch.yaml unchanged)."""
    run_dir = tmp_path / "run"
    quick = [o for o in QUICK if not o.startswith("logger=")]
    limits = ["+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1", "train.test=false"]
    args = [*quick, "logger=csv", f"dataset.root={demo_root}", *limits, "trainer.max_epochs=1"]
    train(compose_cfg("train", *args, "arch=e3d_s"), run_dir)
    before = _snapshot(run_dir)
    run = cli("e3dnas.train", *args, "arch=e3d_m", f"hydra.run.dir={run_dir}")
    assert run.returncode == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: cannot resume "), run.stderr
    assert "settings differ: arch (checkpoint 'E3D-S (" in errors[0] and "now 'E3D-M (" in errors[0]
    assert _snapshot(run_dir) == before


def test_resume_with_changed_settings_is_refused_naming_them(tmp_path, demo_root):
    """What is optimised cannot change on resume (the optimiser state would come back regardless);
    training longer and how the run is fed or watched can."""
    run_dir = tmp_path / "run"
    train(one_batch_cfg(demo_root, "trainer.max_epochs=1"), run_dir)
    changed = ["optim.lr=0.5", "dataset.frames=4", "trainer.max_epochs=2"]
    with pytest.raises(ConfigValueError) as refused:
        train(one_batch_cfg(demo_root, *changed), run_dir)
    message = str(refused.value)
    assert "dataset.frames (checkpoint 8, now 4), optim.lr (checkpoint 0.003, now 0.5)" in message
    assert "max_epochs" not in message
    fed_otherwise = ["trainer.max_epochs=2", "dataset.test_clips=2", "trainer.log_every_n_steps=1"]
    assert train(one_batch_cfg(demo_root, *fed_otherwise), run_dir)["epochs"] == 2


@pytest.mark.slow
def test_a_preempted_training_resumes_from_the_line_it_prints(tmp_path, grouped_folder):
    """SIGTERM at step 3 (epoch 1; last checkpoint at the end of epoch 0, step 2): the printed resume line,
    pasted into a shell as it is (the group pattern's parentheses and backslash quoted), continues the run;
    the run says where it resumes, and metrics.csv holds each step once (the rows of step 2 that the
    interrupted attempt logged past its checkpoint are gone)."""
    run_dir = tmp_path / "run"
    args = [
        *FOLDER,
        f"dataset.root={grouped_folder}",
        "arch=e3d_s",
        "dataset.frames=4",
        "dataset.resolution=32",
        "trainer.max_epochs=3",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "trainer.log_every_n_steps=1",
        "+callbacks.preempt={_target_: train_helpers.SigtermAt, step: 3}",
        "train.test=false",
        f"hydra.run.dir={run_dir}",
    ]
    stopped = cli("e3dnas.train", *args)
    assert stopped.returncode == 130, stopped.stderr
    last = run_dir / "checkpoints" / "last.ckpt"
    (error,) = error_lines(stopped)
    assert re.match(
        rf"error: interrupted at epoch 1, step 3; last checkpoint {re.escape(str(last))}\. Resume: ", error
    )
    line = error.split("Resume: ", 1)[1]
    resumed = subprocess.run(
        ["bash", "-c", line], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=1800
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(
        rf"resuming from {re.escape(str(last))}: epoch \d, step 2; what the earlier attempt did after step 2 "
        r"is redone \(\d+ metrics\.csv rows past it dropped\)",
        resumed.stdout,
    ), resumed.stdout[-3000:]
    assert json.loads((run_dir / "results.json").read_text())["global_step"] == 6
    rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
    assert [int(row["step"]) for row in rows if row["train/loss"]] == list(range(6))
