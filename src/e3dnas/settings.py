"""Reading a config node that is not typed yet (a subset of keys, a checkpoint's recorded dict) into its
dataclass with :mod:`e3dnas.schema`'s checks and messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from e3dnas.schema import config_errors, read

T = TypeVar("T")


def read_node(schema: type[T], node: DictConfig | Mapping[str, Any], key: str = "") -> T:
    """``node`` merged onto ``schema`` and read (:func:`e3dnas.schema.read`); errors name ``key.<field>``
    (``key`` "" for top-level settings)."""
    with config_errors():
        if not key:
            return read(OmegaConf.merge(OmegaConf.structured(schema), node), key)
        root = OmegaConf.create({key: OmegaConf.structured(schema)})
        root.merge_with({key: node})
    return read(root[key], key)
