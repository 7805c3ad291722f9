"""Model registry: ``model=<name>`` in the config picks a builder.

Every builder takes ``arch, num_classes, frames, resolution`` plus its own options and returns a module
mapping (B, 3, T, H, W) clips to (B, num_classes) logits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch
from torch import nn

from e3dnas.arch import Arch
from e3dnas.models.e3d import E3DNet, build_e3d
from e3dnas.models.x3d import X3D_SIZES, build_x3d

MODELS: dict[str, Callable[..., nn.Module]] = {
    "e3d": build_e3d,
    **{f"x3d_{size}": partial(build_x3d, size=size) for size in X3D_SIZES},
}


def build_model(
    name: str,
    *,
    num_classes: int,
    arch: Arch | None = None,
    frames: int | None = None,
    resolution: int | None = None,
    **options: Any,
) -> nn.Module:
    """Build the registered model ``name``; ``options`` are the rest of conf/model/<name>.yaml."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    if name == "e3d" and arch is None:
        raise ValueError("model 'e3d' needs an architecture (arch=<path/to/arch.yaml>)")
    return MODELS[name](arch=arch, num_classes=num_classes, frames=frames, resolution=resolution, **options)


def prepare_model(model: nn.Module, *, channels_last_3d: bool = False, compile: bool = False) -> nn.Module:
    """Memory-format and compilation switches shared by every model (off by default: CPU-friendly)."""
    if channels_last_3d:
        model = model.to(memory_format=torch.channels_last_3d)
    if compile:
        model = torch.compile(model)
    return model


def model_options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The builder's own options from a model config (drops the registry keys)."""
    return {k: v for k, v in cfg.items() if k not in ("name", "compile", "channels_last_3d")}


__all__ = [
    "MODELS",
    "X3D_SIZES",
    "E3DNet",
    "build_e3d",
    "build_model",
    "build_x3d",
    "model_options",
    "prepare_model",
]
