"""Structured configs: a Hydra config node read into its dataclass, every bad value one ConfigError line.

Each setting has one default: in its dataclass where the YAML files list only what they change (dataset,
model), else in the YAML with the field ``MISSING`` (the run's own keys). ``__post_init__`` checks ranges;
OmegaConf checks types when the node is merged onto the dataclass.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from e3dnas.errors import ConfigError

T = TypeVar("T")


def read_settings(schema: type[T], node: DictConfig | Mapping[str, Any], key: str) -> T:
    """``node`` (config key ``key``; "" for the root) as a ``schema`` instance; ConfigError naming the key at
    fault."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
        return OmegaConf.to_object(merged)
    except MissingMandatoryValue as err:
        where = dotted(key, err.full_key)
        raise ConfigError(f"{where}: must be set ({where}=...)") from None
    except OmegaConfBaseException as err:
        reason = str(err.msg if hasattr(err, "msg") else err).strip().splitlines()[0]
        raise ConfigError(f"{dotted(key, err.full_key)}: {reason}") from None


def dotted(*parts: str | None) -> str:
    return ".".join(part for part in parts if part)


def at_least(key: str, value: float | None, minimum: float) -> None:
    """Range check of one setting (None passes: it means "the default")."""
    if value is not None and value < minimum:
        raise ConfigError(f"{key}: must be ≥ {minimum}, got {value}")


def one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: must be one of {', '.join(allowed)}, got {value!r}")


def locate(path: str, key: str, error: type[ConfigError] = ConfigError) -> Any:
    """The object a ``_target_``-style dotted path names (``package.module.name``), imported as Hydra would;
    ``error`` (naming config key ``key``) when it cannot be."""
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise error(f"{key}: cannot import {path!r} ({err})") from None
