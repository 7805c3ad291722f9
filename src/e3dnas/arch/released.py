"""The released E3D-S/M/L networks (conf/arch/e3d_{s,m,l}.yaml), looked up by name."""

from __future__ import annotations

from pathlib import Path

from e3dnas.arch.document import ArchDocument, ArchError, read_arch
from e3dnas.cli import CONF_DIR

RELEASED = ("e3d_s", "e3d_m", "e3d_l")


def released_arch(name: str) -> ArchDocument:
    """The released network ``name`` (e.g. ``e3d_s``) with its published metadata."""
    if name not in RELEASED:
        raise ArchError(f"unknown released network {name!r} (known: {', '.join(RELEASED)})")
    return read_arch(Path(CONF_DIR) / "arch" / f"{name}.yaml")
