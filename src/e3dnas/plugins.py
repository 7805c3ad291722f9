"""List the installed plug-ins: ``python -m e3dnas.plugins`` (``e3dnas-plugins``) prints each kind (scorer,
space, model, layout) with every registered builder, its options and its one-line doc (built-ins, then
those of packages in the ``e3dnas.plugins`` entry-point group), and the config files that pick one: the
packaged ones and those of each ``--config-dir``, with the ``_target_`` a file of one's own names.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Iterator, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from e3dnas.registry import ENTRY_POINT_GROUP, KINDS, Entry, Registry

#: The config group whose files pick a plug-in of each kind, and the key of the file that names it.
GROUPS = {"scorer": ("scorer", "name"), "space": ("space", "name"), "model": ("model", "name")}
GROUPS["layout"] = ("dataset", "layout")


def options(entry: Entry, registry: Registry) -> str:
    """The builder's options as ``name=default`` (``name`` alone when required), without what e3dnas sets."""
    try:
        parameters = inspect.signature(entry.builder).parameters.values()
    except ValueError:
        return "?"
    shown = [
        p.name if p.default is p.empty else f"{p.name}={p.default!r}"
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in registry.context
    ]
    return ", ".join(shown) or "no options"


def config_files(group: str, key: str, config_dirs: Sequence[Path]) -> Iterator[tuple[str, str, str]]:
    """``(option, what it picks, where)`` of each YAML file of ``group``: packaged ones, then each dir's."""
    packaged = Path(str(files("e3dnas") / "conf"))
    for root, where in [(packaged, "packaged"), *((d, str(d)) for d in config_dirs)]:
        for path in sorted((root / group).glob("*.yaml")):
            node: Any = yaml.safe_load(path.read_text()) or {}
            node = node if isinstance(node, dict) else {}
            target = node.get("_target_") or node.get(key)
            yield path.stem, "(set by its defaults list)" if target is None else str(target), where


def listing(config_dirs: Sequence[Path] = ()) -> str:
    """The text :func:`main` prints."""
    lines: list[str] = []
    for kind, registry in KINDS.items():
        group, key = GROUPS[kind]
        lines.append(f"{kind}: registered builders ({kind} name → options; doc)")
        for entry in registry.entries():
            origin = "" if entry.module.startswith("e3dnas.") else f" [{entry.module}]"
            lines.append(f"  {entry.name:<15} {options(entry, registry)}{origin}")
            lines.append(f"  {'':<15} {entry.doc if len(entry.doc) <= 100 else entry.doc[:99] + '…'}")
        lines.append(f"  config files ({group}=<file>; → the {key} or _target_ it picks):")
        for option, target, where in config_files(group, key, config_dirs):
            lines.append(f"    {option:<28} → {target}" + ("" if where == "packaged" else f"  [{where}]"))
        lines.append("")
    lines.append(
        f"Plug-ins of other packages register from a module in the {ENTRY_POINT_GROUP!r} entry-point group; "
        "any callable is also usable as a config's _target_ (docs/extending.md)."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="e3dnas-plugins", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config-dir",
        "-cd",
        action="append",
        type=Path,
        default=[],
        help="a config dir of your own (as the commands take it); repeatable",
    )
    args = parser.parse_args(argv)
    missing = [d for d in args.config_dir if not d.is_dir()]
    if missing:
        print(f"error: --config-dir {missing[0]}: no such directory", file=sys.stderr)
        return 2
    print(listing(args.config_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
