"""Figures are written like every other output: rendered off-screen (Agg), then saved atomically as PNG."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from e3dnas.atomic import atomic_write_bytes

__all__ = ["plt", "save_png"]


def save_png(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Render ``fig`` into ``path`` atomically and close it (pyplot keeps every open figure alive)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
