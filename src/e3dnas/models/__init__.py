"""Models by name or by ``_target_``, the plug-in rule of :func:`e3dnas.schema.build_plugin`:
``model=<name>`` picks conf/model/<name>.yaml, whose ``_target_`` is the builder (a function or class, from
e3dnas or from any importable package) and whose other keys are its flat options. ``name`` always labels
the run; without ``_target_`` it also picks the builder registered under that name (``@register_model``
beside each built-in, :data:`e3dnas.registry.MODELS`).

Every builder takes ``arch, num_classes, frames, resolution`` (keywords) plus its own options and returns a
module mapping (B, 3, T, H, W) clips to (B, num_classes) logits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from omegaconf import MISSING
from torch import nn

from e3dnas.arch import Arch
from e3dnas.models.e3d import E3DNet, build_e3d
from e3dnas.models.x3d import X3D_SIZES, build_x3d
from e3dnas.registry import MODELS
from e3dnas.schema import ConfigValueError, build_plugin, read_node


@dataclass
class ModelSettings:
    """The keys of every model config that e3dnas handles itself (the rest goes to the builder)."""

    name: str = MISSING  # in run names and results
    compile: bool = False  # torch.compile the model
    channels_last_3d: bool = False  # NDHWC memory format


#: Keys of a model config that are neither the builder nor its options.
MODEL_KEYS = tuple(f.name for f in fields(ModelSettings))


def model_settings(cfg: Mapping[str, Any]) -> ModelSettings:
    """The common keys of model config ``cfg``, type-checked; ConfigValueError naming the key."""
    return read_node(ModelSettings, {key: cfg[key] for key in MODEL_KEYS if key in cfg}, "model")


class ModelError(ConfigValueError):
    """An unknown model name or a ``_target_`` that cannot be imported."""


def build_model(
    name: str,
    *,
    num_classes: int,
    arch: Arch | None = None,
    frames: int | None = None,
    resolution: int | None = None,
    _target_: str | None = None,
    **options: Any,
) -> nn.Module:
    """Build model ``name`` with the builder ``_target_`` (a config's), else the built-in model of that name;
    ``options`` are the rest of the model config, checked against the builder's signature."""
    node = {"name": name, **options} | ({} if _target_ is None else {"_target_": _target_})
    return build_plugin(
        node,
        MODELS,
        "model",
        ModelError,
        arch=arch,
        num_classes=num_classes,
        frames=frames,
        resolution=resolution,
    )


def prepare_model(model: nn.Module, *, channels_last_3d: bool = False, compile: bool = False) -> nn.Module:
    """Memory-format and compilation switches shared by every model (off by default: CPU-friendly)."""
    if channels_last_3d:
        model = model.to(memory_format=torch.channels_last_3d)
    if compile:
        model = torch.compile(model)
    return model


def model_options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The builder's own options from a model config (drops the keys that are not)."""
    return {k: v for k, v in cfg.items() if k not in MODEL_KEYS}


__all__ = [
    "MODELS",
    "X3D_SIZES",
    "E3DNet",
    "ModelError",
    "ModelSettings",
    "build_e3d",
    "build_model",
    "build_x3d",
    "model_options",
    "model_settings",
    "prepare_model",
]
