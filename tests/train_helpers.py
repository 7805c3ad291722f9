"""What the training tests share: quick config overrides, composing a config, running a command."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

from e3dnas.configs import CONF_DIR
from e3dnas.train.module import ClipClassifier
from processes import start

ROOT = Path(__file__).resolve().parents[1]


QUICK = [
    "dataset.num_workers=0",
    "dataset.persistent_workers=false",
    "logger=csv",
    "callbacks.progress_bar=none",
    "+experiment=demo",
]


SMALL = [*QUICK, "arch=e3d_s", "+trainer.limit_val_batches=1"]

#: The grouped folder-layout set (conftest ``grouped_folder``) as a user's own videos, batches of 2 clips.
FOLDER = [
    "dataset=folder",
    "dataset.num_workers=0",
    "dataset.persistent_workers=false",
    "dataset.batch_size=2",
    'dataset.group_pattern="_g(\\d+)_"',
    "optim=adamw",
    "logger=csv",
    "callbacks.progress_bar=none",
]


def small_arch(folder: Path, frames: int = 4, resolution: int = 32) -> Path:
    """E3D-S's structure searched for ``frames`` × ``resolution``² clips: an architecture file."""
    text = (ROOT / "conf" / "arch" / "e3d_s.yaml").read_text()
    path = folder / "small.yaml"
    path.write_text(
        text.replace("frames: 13", f"frames: {frames}").replace(
            "resolution: 160", f"resolution: {resolution}"
        )
    )
    return path


def compose_cfg(name: str, *overrides: str):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides))


def cli_env() -> dict[str, str]:
    """A command's environment: wandb offline, this folder importable (``SigtermAt`` as a callback) and
    this interpreter first on PATH (a printed ``python -m …`` line runs it)."""
    path = [p for p in (os.environ.get("PYTHONPATH"), str(Path(__file__).parent)) if p]
    return {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "PYTHONPATH": os.pathsep.join(path),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def error_lines(run: subprocess.CompletedProcess) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.startswith("error: ")]


class SigtermAt(Callback):
    """Sends its own process SIGTERM (a scheduler's preemption) once a fresh training reaches ``step``, so
    that a test knows where it stops; a resumed run (from a checkpoint) goes on."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.ckpt_path is None and trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def cli(module: str, *args: str, wait: bool = True):
    cmd = [sys.executable, "-m", module, *args]
    env = cli_env()
    if not wait:
        return start(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
