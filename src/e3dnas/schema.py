"""Structured-config helpers: each setting carries its allowed range beside its one default, so the range
check and every message about a bad value (a range error or a type OmegaConf refused) read the same place.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

from e3dnas.errors import E3DError

Check = Callable[[Any], bool]


class ConfigValueError(E3DError, ValueError):
    """A config key is unknown, missing or of the wrong type; the message names the key."""


def setting(allowed: str, check: Check, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field whose values must pass ``check``; ``allowed`` says which in words."""
    return dataclasses.field(default=default, metadata={"allowed": allowed, "check": check})


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(minimum: int) -> tuple[str, Check]:
    """``(allowed, check)`` of an integer >= ``minimum``."""
    return (
        f"an integer >= {minimum}",
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
    )


def positive_number(optional: bool = False) -> tuple[str, Check]:
    """``(allowed, check)`` of a number > 0 (or null with ``optional``)."""
    allowed = "null or a positive number" if optional else "a positive number"
    return allowed, lambda v: (optional and v is None) or (is_number(v) and v > 0)


def one_of(choices: tuple[str, ...]) -> tuple[str, Check]:
    return f"one of {', '.join(choices)}", lambda v: v in choices


def allowed(schema: type | None, key: str) -> str | None:
    """What ``schema``'s field ``key`` accepts, in words (None when it says nothing)."""
    if schema is None or not dataclasses.is_dataclass(schema):
        return None
    field = {f.name: f for f in dataclasses.fields(schema)}.get(key)
    return None if field is None else field.metadata.get("allowed")


def check_fields(obj: Any, prefix: str, error: type[E3DError], suffix: str = "") -> None:
    """Raise ``error`` naming the first field of ``obj`` outside its range (``prefix.key``; ``key`` for
    top-level settings, ``prefix`` "")."""
    for field in dataclasses.fields(obj):
        check = field.metadata.get("check")
        value = getattr(obj, field.name)
        if check is not None and not check(value):
            key = f"{prefix}.{field.name}" if prefix else field.name
            raise error(f"{key} must be {field.metadata['allowed']}, got {value!r}{suffix}")


def unknown_key(key: str, schema: type) -> str:
    return f"{key}: unknown key (known: {', '.join(f.name for f in dataclasses.fields(schema))})"


def describe(err: OmegaConfBaseException) -> str:
    """One line naming the key at fault and what it accepts, from an OmegaConf error."""
    key = err.full_key or str(err.key)
    schema = err.object_type if isinstance(err.object_type, type) else None
    if isinstance(err, ConfigKeyError) and schema is not None:
        return unknown_key(key, schema)
    if isinstance(err, MissingMandatoryValue):
        return f"{key} is missing"
    words = allowed(schema, str(err.key))
    if words is not None:
        return f"{key} must be {words}, got {err.value!r}"
    return f"{key}: {str(err.msg).splitlines()[0]}"


@contextmanager
def config_errors() -> Iterator[None]:
    """Turn an OmegaConf error (bad type, unknown or missing key) into :class:`ConfigValueError`."""
    try:
        yield
    except OmegaConfBaseException as err:
        raise ConfigValueError(describe(err)) from None


def read(node: DictConfig, key: str) -> Any:
    """``node`` (at ``key``) as its dataclass, refusing keys the dataclass lacks: Hydra's ``+key=value``
    adds them even to a structured node, and ``OmegaConf.to_object`` would drop them silently."""
    schema = OmegaConf.get_type(node)
    names = {f.name for f in dataclasses.fields(schema)}
    unknown = [name for name in node if name not in names]
    if unknown:
        raise ConfigValueError(unknown_key(f"{key}.{unknown[0]}" if key else unknown[0], schema))
    with config_errors():
        return OmegaConf.to_object(node)


def import_target(path: str, key: str, error: type[E3DError]) -> Callable[..., Any]:
    """The callable a config's ``_target_`` names (``package.module.name``, ``package.module.Class.method``),
    or ``error`` naming ``key``: the longest importable prefix is the module, the rest attributes."""
    parts = path.split(".")
    if len(parts) < 2:
        raise error(f"{key}: {path!r} must be package.module.name")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError as err:
            if err.name is None or not ".".join(parts[:split]).startswith(err.name):
                raise  # the module exists and fails on an import of its own: its author's bug
            continue
        try:
            for name in parts[split:]:
                target = getattr(target, name)
        except AttributeError:
            raise error(f"{key}: {'.'.join(parts[:split])} has no {'.'.join(parts[split:])!r}") from None
        if not callable(target):
            raise error(f"{key}: {path!r} is not callable")
        return target
    raise error(f"{key}: cannot import {path!r} (no module {parts[0]!r} on the Python path)")


T = TypeVar("T")


def read_node(schema: type[T], node: DictConfig | Mapping[str, Any], key: str = "") -> T:
    """``node`` merged onto ``schema`` and read (:func:`read`); errors name ``key.<field>``
    (``key`` "" for top-level settings)."""
    with config_errors():
        if not key:
            return read(OmegaConf.merge(OmegaConf.structured(schema), node), key)
        root = OmegaConf.create({key: OmegaConf.structured(schema)})
        root.merge_with({key: node})
    return read(root[key], key)


def read_keys(schema: type[T], cfg: DictConfig) -> T:
    """The top-level keys of ``cfg`` that ``schema`` declares, read as ``schema`` (:func:`read_node`): for a
    command config whose top level holds the settings of several schemas."""
    names = [field.name for field in dataclasses.fields(schema)]
    return read_node(schema, {name: cfg[name] for name in names if name in cfg})
