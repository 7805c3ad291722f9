"""The architecture YAML: the contract between the search (writer) and the trainer (reader).

A file holds ``format`` (the schema version), an optional ``name``, the architecture and free-form ``meta``
(FLOPs, params, layers, scores, provenance). Loading validates every field and reports the first problem
as ``<file>: <field>: <what is wrong>``, so a broken hand-edited file is fixed in one look.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from e3dnas.arch.value import ACTIVATIONS, Arch, Stage, Stem
from e3dnas.atomic import atomic_write_text
from e3dnas.errors import E3DError

FORMAT_VERSION = 1


class ArchError(E3DError, ValueError):
    """An architecture file or value is invalid; the message names the source and the field."""


@dataclass(frozen=True)
class ArchDocument:
    arch: Arch
    name: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


class _Checker:
    """Walks a parsed YAML tree and raises :class:`ArchError` naming ``source`` and the field path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> None:
        raise ArchError(f"{self.source}: {where or 'document'}: {problem}")

    def mapping(self, value: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()):
        if not isinstance(value, Mapping):
            self.fail(where, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in required and key not in optional:
                allowed = ", ".join(required + optional)
                self.fail(f"{where}.{key}" if where else str(key), f"unknown key (allowed: {allowed})")
        for key in required:
            if key not in value:
                self.fail(f"{where}.{key}" if where else key, "missing")
        return value

    def positive_int(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"expected an integer, got {value!r}")
        if value <= 0:
            self.fail(where, f"must be positive, got {value}")
        return value

    def stride(self, value: Any, where: str) -> int:
        value = self.positive_int(value, where)
        if value not in (1, 2):
            self.fail(where, f"stride must be 1 or 2, got {value}")
        return value

    def kernel(self, value: Any, where: str) -> tuple[int, int]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            self.fail(where, f"expected [kt, k], got {value!r}")
        kt, k = (self.positive_int(v, f"{where}[{i}]") for i, v in enumerate(value))
        if kt % 2 == 0 or k % 2 == 0:
            self.fail(where, f"kernel sizes must be odd ('same' padding), got [{kt}, {k}]")
        return kt, k


def arch_from_dict(tree: Any, source: str = "<arch>") -> ArchDocument:
    """Validate a parsed architecture document and build the value."""
    check = _Checker(source)
    top = check.mapping(
        tree, "", ("format", "input", "stem", "stages", "head"), ("name", "activation", "meta")
    )
    if top["format"] != FORMAT_VERSION:
        check.fail("format", f"unsupported version {top['format']!r} (this e3dnas reads {FORMAT_VERSION})")
    inp = check.mapping(top["input"], "input", ("frames", "resolution"))
    stem_tree = check.mapping(top["stem"], "stem", ("width", "kernel", "stride"))
    stem = Stem(
        width=check.positive_int(stem_tree["width"], "stem.width"),
        kernel=check.kernel(stem_tree["kernel"], "stem.kernel"),
        stride=check.stride(stem_tree["stride"], "stem.stride"),
    )
    if not isinstance(top["stages"], list) or not top["stages"]:
        check.fail("stages", "expected a non-empty list of stages")
    stages = []
    for i, stage_tree in enumerate(top["stages"]):
        where = f"stages[{i}]"
        check.mapping(stage_tree, where, ("width", "bottleneck", "kernel", "depth", "stride"))
        stages.append(
            Stage(
                width=check.positive_int(stage_tree["width"], f"{where}.width"),
                bottleneck=check.positive_int(stage_tree["bottleneck"], f"{where}.bottleneck"),
                kernel=check.kernel(stage_tree["kernel"], f"{where}.kernel"),
                depth=check.positive_int(stage_tree["depth"], f"{where}.depth"),
                stride=check.stride(stage_tree["stride"], f"{where}.stride"),
            )
        )
    in_width, in_name = stem.width, "stem.width"
    for i, stage in enumerate(stages):
        if stage.width < in_width:
            check.fail(
                f"stages[{i}].width",
                f"{stage.width} is narrower than its input ({in_name} = {in_width}); "
                "widths must not decrease (C_out >= C_in)",
            )
        in_width, in_name = stage.width, f"stages[{i}].width"
    head = check.mapping(top["head"], "head", ("width",))
    activation = top.get("activation", "relu")
    if activation not in ACTIVATIONS:
        check.fail("activation", f"unknown activation {activation!r} (known: {', '.join(ACTIVATIONS)})")
    name = top.get("name")
    if name is not None and not isinstance(name, str):
        check.fail("name", f"expected a string, got {name!r}")
    meta = top.get("meta") or {}
    if not isinstance(meta, Mapping):
        check.fail("meta", f"expected a mapping, got {type(meta).__name__}")
    arch = Arch(
        frames=check.positive_int(inp["frames"], "input.frames"),
        resolution=check.positive_int(inp["resolution"], "input.resolution"),
        stem=stem,
        stages=tuple(stages),
        head_width=check.positive_int(head["width"], "head.width"),
        activation=activation,
    )
    return ArchDocument(arch=arch, name=name, meta=dict(meta))


def arch_to_dict(arch: Arch, name: str | None = None, meta: Mapping[str, Any] | None = None) -> dict:
    tree: dict[str, Any] = {"format": FORMAT_VERSION}
    if name is not None:
        tree["name"] = name
    tree["input"] = {"frames": arch.frames, "resolution": arch.resolution}
    tree["stem"] = {"width": arch.stem.width, "kernel": list(arch.stem.kernel), "stride": arch.stem.stride}
    tree["stages"] = [
        {
            "width": s.width,
            "bottleneck": s.bottleneck,
            "kernel": list(s.kernel),
            "depth": s.depth,
            "stride": s.stride,
        }
        for s in arch.stages
    ]
    tree["head"] = {"width": arch.head_width}
    tree["activation"] = arch.activation
    if meta:
        tree["meta"] = _plain(meta)
    return tree


def _plain(value: Any) -> Any:
    """numpy scalars and tuples → YAML-safe builtins, so safe_dump never writes python tags."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


class _ArchDumper(yaml.SafeDumper):
    """Block style overall, but short lists (kernels) and stage entries stay on one line each."""


def _represent_list(dumper: yaml.SafeDumper, data: list):
    flow = all(not isinstance(v, Mapping | list) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, data: dict):
    flow = set(data) == {"width", "bottleneck", "kernel", "depth", "stride"}
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _represent_str(dumper: yaml.SafeDumper, data: str):
    # PyYAML writes the Unicode line breaks (NEL, LS, PS) raw in plain or single-quoted scalars, and the
    # reader then folds them into spaces: only a double-quoted scalar escapes them, so the text comes back.
    style = '"' if any(c in data for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_ArchDumper.add_representer(list, _represent_list)
_ArchDumper.add_representer(dict, _represent_dict)
_ArchDumper.add_representer(str, _represent_str)


def dump_arch(arch: Arch, name: str | None = None, meta: Mapping[str, Any] | None = None) -> str:
    return yaml.dump(
        arch_to_dict(arch, name, meta), Dumper=_ArchDumper, sort_keys=False, width=120, allow_unicode=True
    )


def save_arch(
    path: str | os.PathLike, arch: Arch, name: str | None = None, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write the architecture YAML atomically."""
    return atomic_write_text(path, dump_arch(arch, name, meta))


def read_arch(path: str | os.PathLike) -> ArchDocument:
    """Load and validate an architecture YAML; every problem is an :class:`ArchError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArchError(f"{path}: no such architecture file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ArchError(f"{path}: cannot read: {err}") from None
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ArchError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', None) or err}") from None
    return arch_from_dict(tree, source=str(path))


def load_arch(path: str | os.PathLike) -> Arch:
    return read_arch(path).arch
