"""Training recipes: the learning rate follows the global batch, and every preset composes to the recipe
docs/method.md sources (X3D's for Kinetics, PySlowFast's fine-tuning schedule for Something-Something)."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from e3dnas.configs import CONF_DIR
from e3dnas.data.config import DatasetConfig
from e3dnas.data.demo import build_demo
from e3dnas.schema import ConfigValueError, read_node
from e3dnas.train.optim import ScaledRate, global_batch, warmup_cosine
from e3dnas.train.settings import run_settings

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("e3d_*.yaml"))


def compose_train(*overrides: str):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


# X3D-S/M/L (PySlowFast configs/Kinetics/X3D_{S,M,L}.yaml): per-GPU batch (TRAIN.BATCH_SIZE / 8 GPUs),
# SOLVER.BASE_LR at TRAIN.BATCH_SIZE, MAX_EPOCH, TRAIN_CROP_SIZE, TRAIN_JITTER_SCALES, TEST_CROP_SIZE.
X3D = {
    "e3d_s_k400": dict(batch=16, lr=0.1, reference=128, epochs=300, crop=160, jitter=[182, 228], test=182),
    "e3d_m_k400": dict(batch=16, lr=0.1, reference=128, epochs=300, crop=224, jitter=[256, 320], test=256),
    "e3d_l_k400": dict(batch=8, lr=0.05, reference=64, epochs=256, crop=312, jitter=[356, 446], test=356),
}


@pytest.mark.parametrize("preset", list(X3D))
def test_kinetics_presets_compose_to_the_x3d_recipe_of_their_size(preset):
    x3d = X3D[preset]
    cfg = compose_train(f"+experiment={preset}", "dataset.root=/data/k400")
    assert (cfg.optim.lr, cfg.optim.reference_batch, cfg.dataset.batch_size) == (
        x3d["lr"],
        x3d["reference"],
        x3d["batch"],
    )
    assert cfg.optim.weight_decay == 5e-5 and not cfg.train.decay_norm_and_bias  # BN.WEIGHT_DECAY 0
    assert cfg.trainer.max_epochs == x3d["epochs"]
    # WARMUP_EPOCHS 35 from WARMUP_START_LR 0.01, one cosine over the run (COSINE_AFTER_WARMUP false)
    assert cfg.scheduler.warmup_epochs == 35 and not cfg.scheduler.cosine_after_warmup
    assert cfg.scheduler.warmup_start_factor * cfg.optim.lr == pytest.approx(0.01)
    assert cfg.callbacks.precise_bn.batches == 200
    assert cfg.model.dropout == 0.5 and cfg.model.zero_init_residual
    assert cfg.loss.label_smoothing == 0.0 and cfg.trainer.gradient_clip_val is None
    data = read_node(DatasetConfig, cfg.dataset, "dataset")
    assert (data.resolution, data.train_scale) == (x3d["crop"], x3d["jitter"])
    # 10 clips × 3 crops, each crop the whole short side
    assert data.test_protocol() == {
        "name": "full_short_side",
        "clips": 10,
        "crops": 3,
        "short_side": x3d["test"],
        "crop": x3d["test"],
    }


@pytest.mark.parametrize("preset", PRESETS)
def test_every_e3d_preset_composes_and_reads(preset):
    cfg = compose_train(f"+experiment={preset}", "train.init_from=/some/k400.ckpt", "dataset.root=/data")
    read_node(DatasetConfig, cfg.dataset, "dataset")
    settings = run_settings(cfg)
    assert cfg.optim.reference_batch is not None  # every paper preset scales its rate with the batch
    size = preset.split("_")[1]
    assert cfg.arch.name == f"E3D-{size.upper()}"
    assert settings.train.pretrained_on == ("k400" if preset.endswith("_from_k400") else None)


@pytest.mark.parametrize("version", ["sthv1", "sthv2"])
def test_something_presets_exist_from_scratch_and_from_kinetics(version):
    scratch = compose_train(f"+experiment=e3d_s_{version}")
    tuned = compose_train(f"+experiment=e3d_s_{version}_from_k400", "train.init_from=/runs/k400/best.ckpt")
    assert scratch.dataset.name == tuned.dataset.name == version
    assert scratch.train.pretrained_on is None and scratch.trainer.max_epochs == 100
    # PySlowFast configs/SSv2/SLOWFAST_16x8_R50.yaml: 22 epochs, 0.03 at batch 16, weight decay 1e-6
    assert (tuned.trainer.max_epochs, tuned.optim.lr, tuned.optim.reference_batch) == (22, 0.03, 16)
    assert tuned.optim.weight_decay == 1e-6
    assert run_settings(tuned).train.init_from == "/runs/k400/best.ckpt"


def test_a_fine_tuning_preset_without_its_checkpoint_is_refused_in_one_line():
    cfg = compose_train("+experiment=e3d_m_sthv2_from_k400")
    with pytest.raises(
        ConfigValueError, match=r"^train.init_from is required: this recipe fine-tunes a k400"
    ):
        run_settings(cfg)


def test_test_resolution_larger_than_the_test_short_side_is_refused():
    with pytest.raises(ConfigValueError, match=r"dataset.test_resolution \(200\) must not exceed"):
        DatasetConfig(root="x", resolution=160, test_scale=182, test_resolution=200)
    inner = DatasetConfig(root="x", resolution=224, test_crops=3, test_clips=10)
    assert inner.test_protocol()["name"] == "inner_crop" and inner.test_protocol()["short_side"] == 256


def test_linear_scaling_rule():
    assert global_batch(per_device=16, world_size=8, accumulate=1) == 128
    assert global_batch(per_device=8, world_size=2, accumulate=4) == 64
    rate = ScaledRate(base=0.1, reference_batch=128, global_batch=16)
    assert rate.lr == pytest.approx(0.0125)
    assert rate.describe() == "lr 0.0125 = base 0.1 × global batch 16 / reference 128"
    assert ScaledRate(base=0.1, reference_batch=None, global_batch=16).lr == 0.1


def test_warmup_from_a_start_rate_with_one_cosine_over_the_run_follows_x3d():
    """X3D's schedule (PySlowFast lr_policy): cosine over the whole run; the warm-up ramps linearly from the
    start rate to the value the cosine has at the end of the warm-up."""
    total, per_epoch, warmup_epochs, lr, start = 300, 4, 35, 0.1, 0.1

    def x3d(step: int) -> float:
        cosine = lambda s: lr * 0.5 * (1 + math.cos(math.pi * s / total))  # noqa: E731
        warmup = warmup_epochs * per_epoch
        if step >= warmup:
            return cosine(step)
        return start * lr + (cosine(warmup) - start * lr) * step / (warmup - 1)

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = warmup_cosine(
        optimizer,
        total_steps=total,
        steps_per_epoch=per_epoch,
        warmup_epochs=warmup_epochs,
        warmup_start_factor=start,
        cosine_after_warmup=False,
    )
    for step in range(total):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(x3d(step), abs=1e-12), step
        optimizer.step()
        scheduler.step()
    assert x3d(0) == pytest.approx(0.01)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo") / "demo")


def train_cli(run_dir: Path, demo_root: Path, devices: int, accumulate: int) -> subprocess.CompletedProcess:
    args = [
        "arch=e3d_s",
        f"dataset.root={demo_root}",
        "dataset.num_workers=0",
        "dataset.persistent_workers=false",
        "dataset.batch_size=4",
        "optim=sgd",  # lr 0.1 at reference_batch 128
        "scheduler=null",  # the optimiser's rate is then the scaled rate at every step
        "logger=csv",
        "callbacks.progress_bar=none",
        "train.test=false",
        "print_config=false",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        f"trainer.devices={devices}",
        f"+trainer.accumulate_grad_batches={accumulate}",
        f"+trainer.limit_train_batches={2 * accumulate}",
        "+trainer.limit_val_batches=1",
        f"hydra.run.dir={run_dir}",
        *(["+trainer.strategy=ddp"] if devices > 1 else []),
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "e3dnas.train", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_learning_rate_follows_the_world_size_under_cpu_ddp(tmp_path, demo_root):
    """1 rank × batch 4 and 2 ranks (gloo) × batch 4 × 2 accumulated batches: the documented rates, in the
    log line, in results.json and in the rate the optimiser stepped with."""
    expected = {1: (1, 4, 0.003125), 2: (2, 16, 0.0125)}  # devices: (accumulate, global batch, lr)
    for devices, (accumulate, batch, lr) in expected.items():
        run_dir = tmp_path / f"ranks{devices}"
        done = train_cli(run_dir, demo_root, devices, accumulate)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        line = f"lr {lr:g} = base 0.1 × global batch {batch} / reference 128"
        assert (done.stdout + done.stderr).count(line) == 1  # once, by rank 0
        recorded = json.loads((run_dir / "results.json").read_text())["lr_scaling"]
        assert recorded == {
            "lr": pytest.approx(lr),
            "base_lr": 0.1,
            "reference_batch": 128,
            "global_batch": batch,
        }
        with open(run_dir / "csv" / "metrics.csv") as f:
            stepped = [
                float(v) for row in csv.DictReader(f) for k, v in row.items() if k.startswith("lr-") and v
            ]
        assert stepped and all(value == pytest.approx(lr) for value in stepped), stepped
