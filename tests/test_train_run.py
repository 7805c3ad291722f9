"""Training on the real-footage demo set: fits, validates, tests, logs, writes its results."""

import csv
import json
import logging
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from e3dnas import cost
from e3dnas.arch import read_arch
from e3dnas.train.run import train
from train_helpers import FOLDER, QUICK, ROOT, SMALL, cli, compose_cfg, one_batch_cfg, small_arch


@pytest.mark.parametrize(("model", "arch"), [("e3d", "arch=e3d_s"), ("x3d_xs", None)])
def test_fit_validate_test_on_demo(tmp_path, demo_root, model, arch, caplog, capsys):
    overrides = [
        *QUICK,
        f"dataset.root={demo_root}",
        f"model={model}",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3",
        "+trainer.limit_val_batches=2",
        "+trainer.limit_test_batches=2",
    ]
    caplog.set_level(logging.INFO, "e3dnas.train")
    results = train(compose_cfg("train", *overrides, *([arch] if arch else [])), tmp_path)
    assert results["global_step"] == 3 and results["epochs"] == 1
    # the last pass is named by the split it read, not Lightning's "test/top1" table
    assert "test protocol on the val split, best checkpoint" in caplog.text
    assert "test/top1" not in capsys.readouterr().out
    assert 0.0 <= results["val_top1"] <= 1.0 and 0.0 <= results["test_top1"] <= 1.0
    assert results["test_split"] == "val"  # the demo's layout (sthv2) has no labelled test split
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


def test_results_count_the_samples_skipped_by_the_final_test_pass(tmp_path, copied_dataset):
    """A corrupt video that only the test pass reaches (validation sees the first batch) is counted."""
    root = copied_dataset("sthv2")
    last = json.loads((root / "validation.json").read_text())[-1]["id"]
    (root / f"{last}.webm").write_bytes(b"\x1a\x45\xdf\xa3 not really a webm" * 20)
    overrides = [*SMALL, f"dataset.root={root}", "dataset.batch_size=4", "trainer.max_epochs=1"]
    results = train(compose_cfg("train", *overrides, "+trainer.limit_train_batches=1"), tmp_path)
    assert "test_top1" in results
    assert results["skipped_samples"] == 1
    assert json.loads((tmp_path / "results.json").read_text())["skipped_samples"] == 1


def gflops(arch: Path, frames: int, resolution: int) -> float:
    return cost.cost(read_arch(arch).arch.with_input(frames, resolution)).flops / 1e9


def test_training_at_another_size_than_searched_says_so_once(tmp_path, demo_root, caplog):
    """The demo's dataset config sets 8×56: honoured, and said in one line with the FLOPs at both sizes."""
    with caplog.at_level(logging.WARNING, logger="e3dnas.train"):
        results = train(one_batch_cfg(demo_root, "trainer.max_epochs=1"), tmp_path / "run")
    notes = [r.message for r in caplog.records if "was searched for" in r.message]
    released = ROOT / "conf" / "arch" / "e3d_s.yaml"
    assert notes == [
        f"architecture E3D-S was searched for 13×160² clips ({gflops(released, 13, 160):.3g} GFLOPs), trains "
        f"at 8×56² here as the dataset config says ({gflops(released, 8, 56):.3g} GFLOPs)"
    ]
    assert (results["frames"], results["resolution"]) == (8, 56)


@pytest.mark.slow
def test_a_dataset_config_without_a_size_trains_at_the_searched_one(tmp_path, grouped_folder, caplog):
    """conf/dataset/folder.yaml sets no frames/resolution: a network searched for 4×32² trains at 4×32²
    (it trained at 16×224² before), and says so; a size given on the command line is honoured."""
    arch = small_arch(tmp_path)
    common = [
        *FOLDER,
        f"dataset.root={grouped_folder}",
        f"arch_file={arch}",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=1",
        "+trainer.limit_val_batches=1",
        "train.test=false",
    ]
    with caplog.at_level(logging.INFO, logger="e3dnas.train"):
        searched = train(compose_cfg("train", *common), tmp_path / "searched")
    assert (searched["frames"], searched["resolution"]) == (4, 32)
    lines = [r.message for r in caplog.records if r.message.startswith("input ")]
    assert lines == ["input 4×32²: architecture E3D-S's own (dataset.frames/resolution not set)"]
    assert not any("was searched for" in r.message for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="e3dnas.train"):
        given = train(compose_cfg("train", *common, "dataset.frames=8"), tmp_path / "given")
    assert (given["frames"], given["resolution"]) == (8, 32)
    notes = [r.message for r in caplog.records if r.message.startswith(("input ", "architecture "))]
    assert notes == [
        "input 8×32²: architecture E3D-S's own (dataset.resolution not set)",
        f"architecture E3D-S was searched for 4×32² clips ({gflops(arch, 4, 32):.3g} GFLOPs), trains at "
        f"8×32² here as the dataset config says ({gflops(arch, 8, 32):.3g} GFLOPs)",
    ]


def test_the_split_is_logged_and_written_one_row_per_video(tmp_path, grouped_folder, caplog):
    """split.csv: each video once, with its class, side and group; a group stays on one side of its class;
    the log line counts both sides and names the val groups."""
    run_dir = tmp_path / "run"
    cfg = compose_cfg(
        "train",
        *FOLDER,
        f"dataset.root={grouped_folder}",
        "arch=e3d_s",
        "dataset.frames=4",
        "dataset.resolution=32",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=1",
        "+trainer.limit_val_batches=1",
        "train.test=false",
    )
    with caplog.at_level(logging.INFO, logger="e3dnas.train"):
        train(cfg, run_dir)
    rows = list(csv.DictReader((run_dir / "split.csv").open()))
    assert sorted(row["path"] for row in rows) == sorted(str(p) for p in grouped_folder.rglob("*.webm"))
    sides: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        path = Path(row["path"])
        assert row["class"] == path.parent.name and row["split"] in ("train", "val")
        assert row["group"] == re.search(r"_g(\d+)_", path.name).group(1)
        sides.setdefault((row["class"], row["group"]), set()).add(row["split"])
    assert all(len(side) == 1 for side in sides.values())  # no group on both sides of its class
    counts = {split: sum(row["split"] == split for row in rows) for split in ("train", "val")}
    val_groups = sorted({row["group"] for row in rows if row["split"] == "val"})
    assert counts["val"] > 0 and counts["train"] > counts["val"]
    said = [r.message for r in caplog.records if r.message.startswith("split: ")]
    assert said == [
        f"split: {counts['train']} train, {counts['val']} val videos; val groups: {', '.join(val_groups)} "
        f"(one row per video in {run_dir / 'split.csv'})"
    ]


def test_training_without_any_logger(tmp_path, demo_root):
    """``logger=none`` trains and writes its results (no learning-rate monitor without a logger)."""
    cfg = one_batch_cfg(demo_root, "trainer.max_epochs=1", logger="none")
    assert cfg.logger == {} and cfg.callbacks.lr_monitor is not None
    results = train(cfg, tmp_path / "run")
    assert results["global_step"] == 1 and (tmp_path / "run" / "results.json").exists()
    assert not (tmp_path / "run" / "csv").exists() and not (tmp_path / "run" / "wandb").exists()


def test_logger_and_callback_options_pass_through(tmp_path, demo_root):
    """Every option of a logger or callback config reaches its class (CSVLogger's name and flush interval,
    ModelCheckpoint's file name, the LR monitor's interval)."""
    extra = [
        "logger.csv.name=metrics_here",
        "+logger.csv.flush_logs_every_n_steps=1",
        "callbacks.checkpoint.filename='top-{epoch}'",
        "callbacks.lr_monitor.logging_interval=epoch",
        "trainer.max_epochs=1",
    ]
    results = train(one_batch_cfg(demo_root, *extra), tmp_path / "run")
    assert Path(results["best_checkpoint"]).name == "top-0.ckpt"
    rows = list(csv.DictReader((tmp_path / "run" / "metrics_here" / "metrics.csv").open()))
    assert any(value for row in rows for key, value in row.items() if key.startswith("lr-AdamW"))


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


def test_warmup_cosine_follows_the_closed_form():
    """SequentialLR(LinearLR, CosineAnnealingLR) gives the LR of the closed form: linear from lr/W to lr over
    W warm-up steps, then half a cosine down to min_lr at the last step."""
    from e3dnas.train.optim import warmup_cosine

    def closed_form(step: int, total: int, warmup: int, lr: float, min_lr: float) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))

    for total, per_epoch, warmup_epochs, min_lr in [(100, 10, 1, 0.0), (60, 4, 2.5, 1e-3), (30, 5, 0, 0.0)]:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        scheduler = warmup_cosine(
            optimizer,
            total_steps=total,
            steps_per_epoch=per_epoch,
            warmup_epochs=warmup_epochs,
            min_lr=min_lr,
        )
        warmup = int(warmup_epochs * per_epoch)
        for step in range(total):
            expected = closed_form(step, total, warmup, 0.1, min_lr)
            assert optimizer.param_groups[0]["lr"] == pytest.approx(expected, abs=1e-12), (total, step)
            optimizer.step()
            scheduler.step()
