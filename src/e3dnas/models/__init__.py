"""Models by name or by ``_target_``: ``model=<name>`` picks conf/model/<name>.yaml, whose ``_target_`` is the
builder (a function or class, from e3dnas or from any importable package).

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
from e3dnas.schema import ConfigValueError, import_target, read_node

#: The built-in models: name → (builder, fixed options). A checkpoint's model config that predates
#: ``_target_`` names one of these.
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "e3d": ("e3dnas.models.e3d.build_e3d", {}),
    **{f"x3d_{size}": ("e3dnas.models.x3d.build_x3d", {"size": size}) for size in X3D_SIZES},
}


@dataclass
class ModelSettings:
    """The keys of every model config that e3dnas handles itself (the rest goes to the builder)."""

    name: str = MISSING  # in run names and results
    compile: bool = False  # torch.compile the model
    channels_last_3d: bool = False  # NDHWC memory format


#: Keys of a model config that are neither the builder nor its options.
MODEL_KEYS = tuple(f.name for f in fields(ModelSettings))


def model_settings(cfg: Mapping[str, Any]) -> ModelSettings:
    """The common keys of model config ``cfg``, type-checked; ConfigError naming the key."""
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
    ``options`` are the rest of the model config."""
    if _target_ is None:
        if name not in MODELS:
            known = ", ".join(MODELS)
            raise ModelError(f"unknown model {name!r} (known: {known}; or give model._target_)")
        _target_, fixed = MODELS[name]
        options = {**fixed, **options}
    return import_target(_target_, "model._target_", ModelError)(
        arch=arch, num_classes=num_classes, frames=frames, resolution=resolution, **options
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
