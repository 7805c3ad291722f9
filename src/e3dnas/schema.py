"""Structured-config helpers: each setting carries its allowed range beside its one default, so the range
check and every message about a bad value (a range error or a type OmegaConf refused) read the same place.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
)

from e3dnas.errors import E3DError

Check = Callable[[Any], bool]


class ConfigValueError(E3DError, ValueError):
    """A config cannot work (a key unknown, missing or of the wrong type, a value a constructor refuses):
    the one config error of every command; the message names the key or group."""


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


def unknown_key(key: str, known: type | Iterable[str], hint: str = "") -> str:
    """``key`` is not one of ``known`` (a dataclass's fields, or the keys of a config node): one line with
    the known keys, the closest one when the key looks mistyped, and ``hint``."""
    names = [f.name for f in dataclasses.fields(known)] if isinstance(known, type) else list(known)
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], names, n=1)
    guess = f"; did you mean {key.rpartition('.')[0] + '.' if '.' in key else ''}{close[0]}?" if close else ""
    return f"{key}: unknown key (known: {', '.join(names)}){guess}{hint}"


def add_hint(key: str, value: str | None) -> str:
    """How to add a key a config node does not list (Hydra's ``+``): a Trainer, logger or callback takes
    any argument of its Lightning class."""
    what = "a Lightning option" if key.split(".")[0] in LIGHTNING_GROUPS else "a key this config lacks"
    return f"; use +{key}={'<value>' if value is None else value} to add {what}"


#: Config groups whose nodes pass every key on to a Lightning class.
LIGHTNING_GROUPS = ("trainer", "logger", "callbacks")


def describe(err: OmegaConfBaseException, overrides: Iterable[str] = ()) -> str:
    """One line naming the key at fault and what it accepts, from an OmegaConf error; ``overrides`` (the
    command line's) give the value of an unknown key in the line that says how to add it."""
    key = err.full_key or str(err.key)
    schema = err.object_type if isinstance(err.object_type, type) else None
    if isinstance(err, ConfigKeyError | ConfigAttributeError):
        if schema is not None and dataclasses.is_dataclass(schema):
            return unknown_key(key, schema)
        parent = err.parent_node
        known = [str(k) for k in parent if k != "hydra"] if isinstance(parent, DictConfig) else []
        if "." not in key:  # a top-level key: nothing reads one that is not in the config
            return unknown_key(key, known)
        given = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == key and "=" in o]
        return unknown_key(key, known, add_hint(key, given[-1] if given else None))
    if isinstance(err, MissingMandatoryValue):
        return f"{key} is missing"
    words = allowed(schema, str(err.key))
    if words is not None:
        return f"{key} must be {words}, got {err.value!r}"
    return f"{key}: {str(err.msg).splitlines()[0]}"


@contextmanager
def config_errors(group: str | None = None) -> Iterator[None]:
    """Turn an OmegaConf error (bad type, unknown or missing key) into :class:`ConfigValueError`; with
    ``group``, a constructor's rejection of its arguments too, as one line naming the group (for
    ``hydra.utils.instantiate``, the constructor's own error, not Hydra's page around it).

    Only around reading and construction: an error raised while a run runs keeps its traceback.
    """
    try:
        yield
    except OmegaConfBaseException as err:
        raise ConfigValueError(describe(err)) from None
    except E3DError:
        raise
    except Exception as err:
        if group is None or not isinstance(err, _rejections()):
            raise
        if isinstance(err.__cause__, E3DError):  # raised by a constructor that instantiate called
            raise err.__cause__ from None
        raise ConfigValueError(f"{group}: {reason(err)}") from err


def _rejections() -> tuple[type[Exception], ...]:
    """The errors by which a constructor refuses its arguments; Lightning's only once Lightning is loaded
    (nothing else can raise it), so that this module does not load it."""
    from hydra.errors import InstantiationException

    lightning = sys.modules.get("lightning.fabric.utilities.exceptions")
    extra = (lightning.MisconfigurationException,) if lightning is not None else ()
    return (ValueError, TypeError, KeyError, InstantiationException, *extra)


def reason(err: Exception) -> str:
    """One line saying why: the called constructor's own error (of any type: Lightning's
    MisconfigurationException, a missing optional package …) rather than Hydra's wrapper around the call,
    Hydra's own message (without its advice on stack traces) when the target could not even be found."""
    from hydra.errors import InstantiationException

    called = (
        isinstance(err, InstantiationException)
        and err.__cause__ is not None
        and str(err).startswith("Error in call to target")
    )
    text = str(err.__cause__ if called else err).split(", set env var HYDRA_FULL_ERROR")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(err.__cause__ if called else err).__name__


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


# --- plug-ins: one rule for scorers, spaces, models and dataset layouts -------------------------------------

#: Option types OmegaConf checks and converts; other annotations are taken as they come.
_CHECKED_TYPES = (int, float, bool, str)


def build_plugin(
    node: Mapping[str, Any] | str,
    registry: Mapping[str, Callable[..., T]],
    key: str,
    error: type[E3DError],
    **context: Any,
) -> T:
    """Build the component a config node describes, the one way every plug-in is built.

    ``node`` is ``{name: <registry name>, **options}`` or ``{_target_: package.module.callable, **options}``
    (``name`` is then a label for outputs and is not passed on); a plain string is a registry name or, when
    dotted, a ``_target_`` without options. The builder is called with the options and ``context`` (what
    the caller supplies: the input size, the class count...) as keyword arguments. Before it runs, each
    option is checked against the builder's signature: an unknown, missing or mistyped one is ``error``
    naming ``<key>.<option>``. What the builder raises itself passes through with its traceback.
    """
    target_key = key if isinstance(node, str) else f"{key}._target_"  # where a class path is written
    if isinstance(node, str):
        node = {"_target_": node} if "." in node else {"name": node}
    elif isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    options = {str(k): v for k, v in node.items() if k not in ("name", "_target_")}
    target = node.get("_target_")
    if target is not None:
        builder, what = import_target(target, target_key, error), target
    else:
        name, noun = node.get("name"), key.rsplit(".", 1)[-1]
        if name not in registry:
            raise error(
                f"{key}: unknown {noun}{'' if name is None else f' {name!r}'} (known: {', '.join(registry)}; "
                f"or one of your own: {target_key}=package.module.callable)"
            )
        builder, what = registry[name], f"{noun} {name!r}"
    options = _checked_options(builder, what, options, context, key, error)
    return builder(**options, **context)


def _checked_options(
    builder: Callable[..., Any],
    what: str,
    options: dict[str, Any],
    context: Mapping[str, Any],
    key: str,
    error: type[E3DError],
) -> dict[str, Any]:
    """``options`` type-checked (and converted, ``1`` → ``1.0`` for a float) against ``builder``'s
    signature; ``error`` naming ``<key>.<option>`` for one it lacks, one it needs and nobody gives, one of
    the wrong type, or one that ``context`` already sets."""
    try:
        parameters = inspect.signature(builder, eval_str=True).parameters
    except NameError:  # an annotation naming something imported for type checkers only
        parameters = inspect.signature(builder).parameters
    except ValueError:  # a builtin without a signature: its own call checks the options
        return options
    named = {n: p for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    extra = next((p for p in parameters.values() if p.kind is p.VAR_KEYWORD), None)
    for option in options:
        if option in context:
            raise error(f"{key}.{option}: not an option, e3dnas sets it")
        if option not in named and extra is None:
            known = ", ".join(n for n in named if n not in context) or "none"
            raise error(f"{key}.{option}: unknown option of {what} (its options: {known})")
    for name, parameter in named.items():
        if parameter.default is parameter.empty and name not in options and name not in context:
            raise error(f"{key}.{name} is missing ({what} needs it)")
    refused = [n for n in context if n not in named and extra is None]
    if refused:
        raise error(f"{key}: {what} must take {', '.join(refused)} as keyword arguments")
    typed = {o: _option_type((named.get(o) or extra).annotation) for o in options}
    typed = {option: kind for option, kind in typed.items() if kind is not Any}
    if not typed:
        return options
    try:
        checked = read_node(
            dataclasses.make_dataclass("Options", list(typed.items())), {o: options[o] for o in typed}, key
        )
    except ConfigValueError as err:
        raise error(str(err)) from None
    return options | {option: getattr(checked, option) for option in typed}


def _option_type(annotation: Any) -> Any:
    """What OmegaConf checks an option against: the builder's annotation where OmegaConf can check it
    (``int``, ``float | None``, ``list[int]``, ...), else ``Any``."""
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        return Any
    if annotation in _CHECKED_TYPES:
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        if len(kept) == 1 and len(args) == 2:
            inner = _option_type(kept[0])
            return Any if inner is Any else typing.Optional[inner]  # noqa: UP045 (OmegaConf 2.3 reads Optional, not X | None)
        return Any
    if origin is list and len(args) == 1:
        return list[_option_type(args[0])]
    if origin is dict and len(args) == 2 and args[0] is str:
        return dict[str, _option_type(args[1])]
    return Any


def read_keys(schema: type[T], cfg: DictConfig) -> T:
    """The top-level keys of ``cfg`` that ``schema`` declares, read as ``schema`` (:func:`read_node`): for a
    command config whose top level holds the settings of several schemas."""
    names = [field.name for field in dataclasses.fields(schema)]
    return read_node(schema, {name: cfg[name] for name in names if name in cfg})
