"""Registry of the official dataset layouts (docs/data.md): one parser per module, one entry point here."""

from __future__ import annotations

from pathlib import Path

from e3dnas.data.annotations import Layout
from e3dnas.data.kinetics import KineticsLayout
from e3dnas.data.sthv1 import SthV1Layout
from e3dnas.data.sthv2 import SthV2Layout

LAYOUTS: dict[str, type[Layout]] = {"sthv1": SthV1Layout, "sthv2": SthV2Layout, "k400": KineticsLayout}


def open_layout(name: str, root: str | Path, media_dir: str = ".", annotation_dir: str = ".") -> Layout:
    """The parser for layout ``name`` ("sthv1" | "sthv2" | "k400"); media and annotation folders are relative
    to ``root``. Nothing is read until a method is called."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; choose from {sorted(LAYOUTS)}")
    root = Path(root)
    return LAYOUTS[name](root / media_dir, root / annotation_dir)
