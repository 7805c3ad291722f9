"""Dataset layouts by name or by class path: the official ones (docs/data.md) are registered here, any other
(``dataset.layout=my_package.module.MyLayout``) is imported like a ``_target_``."""

from __future__ import annotations

from pathlib import Path

from e3dnas.data.annotations import Layout
from e3dnas.data.kinetics import KineticsLayout
from e3dnas.data.sthv1 import SthV1Layout
from e3dnas.data.sthv2 import SthV2Layout
from e3dnas.schema import ConfigValueError, build_plugin

LAYOUTS: dict[str, type[Layout]] = {"sthv1": SthV1Layout, "sthv2": SthV2Layout, "k400": KineticsLayout}


class LayoutError(ConfigValueError):
    """An unknown layout name or a layout class that cannot be imported."""


def open_layout(name: str, root: str | Path, media_dir: str = ".", annotation_dir: str = ".") -> Layout:
    """The parser for layout ``name``, a registered name or a dotted class path, built by the plug-in rule
    (:func:`e3dnas.schema.build_plugin`); media and annotation folders are relative to ``root``. Nothing
    is read until a method is called."""
    root = Path(root)
    return build_plugin(
        name,
        LAYOUTS,
        "dataset.layout",
        LayoutError,
        media_dir=root / media_dir,
        annotation_dir=root / annotation_dir,
    )
