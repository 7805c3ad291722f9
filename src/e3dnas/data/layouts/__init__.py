"""Dataset layouts by name or by class path. Each module here owns one layout's files: its reader (the class
names and the records of each split) and its writer (``write_clip`` / ``write_annotations``, used by the demo,
the tests and the benchmarks), registered beside its class (``@register_layout(name)``,
:data:`e3dnas.registry.LAYOUTS`, which imports this package's modules when a layout is first looked up).
Adding one is a module here and a ``conf/dataset/<name>.yaml``; a layout from another package is named
by its class path (``dataset.layout=my_package.module.MyLayout``) and imported like a ``_target_``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from e3dnas.data.annotations import Layout
from e3dnas.data.writers import Clip, Rows, template_class
from e3dnas.registry import LAYOUTS
from e3dnas.schema import ConfigValueError, build_plugin, import_target


class LayoutError(ConfigValueError):
    """An unknown layout name or a layout class that cannot be imported."""


def layout_class(name: str) -> type[Layout]:
    """The class of layout ``name`` (a registered name or a dotted class path), for what a layout declares
    before it is opened (its ``settings``, its kind)."""
    if "." in name:
        return import_target(name, "dataset.layout", LayoutError)
    if name not in LAYOUTS:
        raise LayoutError(
            f"dataset.layout: unknown layout {name!r} (known: {', '.join(LAYOUTS)}; or one of your own: "
            "dataset.layout=package.module.callable)"
        )
    return LAYOUTS[name]


def open_layout(
    name: str, root: str | Path, media_dir: str = ".", annotation_dir: str = ".", **settings: Any
) -> Layout:
    """The reader of layout ``name``, built by the plug-in rule (:func:`e3dnas.schema.build_plugin`);
    media and annotation folders are relative to ``root``, ``settings`` are the ``dataset.*`` fields the
    layout names in its ``settings``. Nothing is read until a method is called."""
    root = Path(root)
    return build_plugin(
        name,
        LAYOUTS,
        "dataset.layout",
        LayoutError,
        media_dir=root / media_dir,
        annotation_dir=root / annotation_dir,
        **settings,
    )


def layout_settings(name: str, dataset: Any) -> dict[str, Any]:
    """The fields of a dataset config (``DatasetConfig``) that layout ``name`` reads, by its ``settings``
    (most layouts read none)."""
    return {field: getattr(dataset, field) for field in getattr(layout_class(name), "settings", ())}


def writable_layouts() -> list[str]:
    """Registered layouts that can write a dataset (the demo's ``--layout`` choices)."""
    return [name for name, cls in LAYOUTS.items() if hasattr(cls, "write_clip")]


def write_layout(
    root: str | Path,
    layout: str,
    clips: Iterable[Clip],
    templates: Sequence[str],
    fps: int = 12,
    **options: Any,
) -> dict[str, int]:
    """Write ``clips`` and the annotation files of ``layout`` under ``root`` through the layout's own writer;
    class indices follow ``templates`` (layouts that sort class names, as Kinetics, sort them on reading).
    ``options`` go to the layout's ``write_clip`` (Kinetics: ``per_class_folders``). Returns clips written
    per split."""
    if layout not in writable_layouts():
        raise ValueError(f"unknown layout {layout!r} to write; choose from {sorted(writable_layouts())}")
    writer: Any = LAYOUTS[layout]
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows: Rows = {"train": [], "val": [], "test": []}
    for clip in clips:
        writer.write_clip(root, clip, fps, **options)
        rows[clip.split].append(clip)
    writer.write_annotations(root, rows, [template_class(template) for template in templates], fps)
    return {split: len(written) for split, written in rows.items()}
