"""What the training tests share: quick config overrides, composing a config, running a command."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from e3dnas.configs import CONF_DIR
from e3dnas.train.module import ClipClassifier

ROOT = Path(__file__).resolve().parents[1]


QUICK = [
    "dataset.num_workers=0",
    "dataset.persistent_workers=false",
    "logger=csv",
    "callbacks.progress_bar=none",
    "+experiment=demo",
]


SMALL = [*QUICK, "arch=e3d_s", "+trainer.limit_val_batches=1"]


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


def one_batch_cfg(demo_root: Path, *extra: str, logger: str = "csv"):
    """E3D-S for one training and one validation batch on the demo set, no test pass."""
    quick = [o for o in QUICK if not o.startswith("logger=")]
    limits = ["+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1", "train.test=false"]
    return compose_cfg(
        "train", *quick, f"logger={logger}", f"dataset.root={demo_root}", "arch=e3d_s", *limits, *extra
    )


def small_module(num_classes: int, arch: str = "e3d_s") -> ClipClassifier:
    cfg = compose_cfg("train", f"arch={arch}")
    return ClipClassifier(
        model=OmegaConf.to_container(cfg.model, resolve=True),
        num_classes=num_classes,
        frames=8,
        resolution=56,
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
        arch=OmegaConf.to_container(cfg.arch, resolve=True),
    )


def checkpoint_weights(path: Path) -> dict:
    """The learnable tensors of a checkpoint (BatchNorm running statistics left out)."""
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    return {name: value for name, value in state.items() if not name.endswith(buffers)}
