"""Which checkpoint a training continues from, and whether it may: a checkpoint records the settings
signature of its run (what is optimised, on which data), and a resume that changes any of it is refused
before anything of the run is written, as the search refuses its own.

A resume may change what only watches or feeds the run: ``trainer.max_epochs`` (to train longer),
logging, progress bars, worker counts, where the data lives (``dataset.root``, e.g. its prepared copy),
the test pass's views, precision and devices.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from e3dnas.arch import arch_to_dict
from e3dnas.data.config import DatasetConfig
from e3dnas.schema import read_node
from e3dnas.train.errors import ConfigError
from e3dnas.train.settings import resolve_arch, run_settings, sized_dataset

log = logging.getLogger("e3dnas.train")

#: Where a checkpoint holds its run's signature.
SIGNATURE_KEY = "e3dnas_settings_signature"
LAST_VALIDATION_KEY = "e3dnas_last_validation"

#: Dataset fields that say where the data is and how it is fed, not which clips the network sees.
UNSIGNED_DATASET = (
    "name",
    "root",
    "media_dir",
    "annotation_dir",
    "test_scale",
    "test_clips",
    "test_crops",
    "test_batch_size",
    "num_workers",
    "pin_memory",
    "persistent_workers",
    "decode_threads",
    "gpu_transforms",
    "max_failure_rate",
    "min_failure_samples",
)
#: Model options that change how it runs, not what it computes.
UNSIGNED_MODEL = ("compile", "channels_last_3d")
#: Trainer arguments that change the optimisation (the others: length, devices, logging).
SIGNED_TRAINER = ("gradient_clip_val", "gradient_clip_algorithm", "accumulate_grad_batches")


class ResumeError(ConfigError):
    """A checkpoint was written under other settings than the resume's; the message names them."""


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _flatten(tree: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat |= _flatten(value, f"{prefix}.{key}")
    return flat


def settings_signature(cfg: DictConfig) -> dict[str, Any]:
    """What a training's checkpoint depends on, as dotted keys: network, optimiser, schedule, loss, seed,
    the clips it sees (sampling, size, augmentation, batch, layout and labels) and gradient handling."""
    doc = resolve_arch(cfg)
    arch = None
    if doc is not None:
        text = json.dumps(arch_to_dict(doc.arch), sort_keys=True)
        arch = f"{doc.name or 'unnamed'} ({hashlib.sha256(text.encode()).hexdigest()[:8]})"
    settings = run_settings(cfg)
    dataset = asdict(read_node(DatasetConfig, sized_dataset(cfg.dataset, doc), "dataset"))
    model = {k: v for k, v in _plain(cfg.model).items() if k not in UNSIGNED_MODEL}
    trainer = {k: _plain(cfg.trainer.get(k)) for k in SIGNED_TRAINER}
    return {
        "arch": arch,
        "seed": settings.seed,
        "train.init_from": settings.train.init_from,
        "train.decay_norm_and_bias": settings.train.decay_norm_and_bias,
        **_flatten(_plain(cfg.loss), "loss"),
        **_flatten(model, "model"),
        **_flatten(_plain(cfg.optim), "optim"),
        **_flatten(_plain(cfg.get("scheduler")), "scheduler"),
        **_flatten({k: v for k, v in dataset.items() if k not in UNSIGNED_DATASET}, "dataset"),
        **_flatten(trainer, "trainer"),
    }


def resume_checkpoint(mode: str, checkpoint_dir: Path) -> Path | None:
    """``auto``: last.ckpt of the run dir when a previous attempt left one; ``never``; or a path."""
    if mode == "never":
        return None
    if mode == "auto":
        last = checkpoint_dir / "last.ckpt"
        return last if last.exists() else None
    if not Path(mode).exists():
        raise ConfigError(f"train.resume: checkpoint {mode} does not exist")
    return Path(mode)


def check_resume(cfg: DictConfig, run_dir: Path | None) -> Path | None:
    """The checkpoint a training in ``run_dir`` continues from (None: a new run); ResumeError naming each
    setting whose value differs from the checkpoint's. ``run_dir`` None: a new run dir, nothing to check."""
    if run_dir is None:
        return None
    path = resume_checkpoint(run_settings(cfg).train.resume, Path(run_dir) / "checkpoints")
    if path is None:
        return None
    saved = torch.load(path, map_location="cpu", weights_only=False, mmap=True).get(SIGNATURE_KEY)
    if saved is None:
        log.warning("%s records no settings signature (an older e3dnas): resuming unchecked", path)
        return path
    now = settings_signature(cfg)
    differing = sorted(k for k in now.keys() | saved.keys() if now.get(k) != saved.get(k))
    if differing:
        shown = "; ".join(f"{k} (checkpoint {saved.get(k)!r}, now {now.get(k)!r})" for k in differing)
        raise ResumeError(
            f"cannot resume {path}: settings differ: {shown}. Train them in a new run dir "
            "(without hydra.run.dir=), or resume with the checkpoint's settings"
        )
    return path


class RecordSignature(Callback):
    """Writes the run's settings signature into every checkpoint it saves."""

    def __init__(self, signature: dict[str, Any]):
        self.signature = signature

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[SIGNATURE_KEY] = self.signature


class RecordLastValidation(Callback):
    """Keeps the last validation's metrics in every checkpoint and brings them back on resume.

    Why: Lightning restores neither the logged metrics nor the checkpoint callback's current score, so a
    run resumed after its last epoch (rerun in its finished dir) validates nothing and would report no
    final accuracy.
    """

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}

    def on_validation_end(self, trainer, pl_module) -> None:  # metrics final, checkpoints not yet saved
        if not trainer.sanity_checking:
            logged = trainer.callback_metrics
            self.metrics = {k: float(v) for k, v in logged.items() if k.startswith("val/")}

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[LAST_VALIDATION_KEY] = self.metrics

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        self.metrics = dict(checkpoint.get(LAST_VALIDATION_KEY, {}))
