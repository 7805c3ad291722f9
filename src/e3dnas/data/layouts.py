"""Dataset layouts by name or by class path: the official ones (docs/data.md) are registered here, any other
(``dataset.layout=my_package.module.MyLayout``) is imported like a ``_target_``."""

from __future__ import annotations

from pathlib import Path

from e3dnas.data.annotations import Layout
from e3dnas.data.kinetics import KineticsLayout
from e3dnas.data.sthv1 import SthV1Layout
from e3dnas.data.sthv2 import SthV2Layout
from e3dnas.schema import ConfigValueError, import_target

LAYOUTS: dict[str, type[Layout]] = {"sthv1": SthV1Layout, "sthv2": SthV2Layout, "k400": KineticsLayout}


class LayoutError(ConfigValueError):
    """An unknown layout name or a layout class that cannot be imported."""


def layout_class(name: str) -> type[Layout]:
    """The layout registered as ``name``, else the class the dotted path ``name`` names."""
    if name in LAYOUTS:
        return LAYOUTS[name]
    if "." not in name:
        raise LayoutError(
            f"dataset.layout: unknown layout {name!r} (known: {', '.join(LAYOUTS)}; or a class path "
            "package.module.Class)"
        )
    return import_target(name, "dataset.layout", LayoutError)


def open_layout(name: str, root: str | Path, media_dir: str = ".", annotation_dir: str = ".") -> Layout:
    """The parser for layout ``name`` (see :func:`layout_class`); media and annotation folders are relative
    to ``root``. Nothing is read until a method is called."""
    root = Path(root)
    return layout_class(name)(root / media_dir, root / annotation_dir)
