"""Figures are written like every other output: rendered off-screen (Agg), then saved atomically as PNG.

Log axes label their ticks between 10⁻³ and 10³ as plain 0.4, 2, 10 rather than 4×10⁻¹, 2×10⁰, 10¹: narrow
enough that the labels of an axis spanning less than a decade (2×, 3×, 4× ...) do not run into each other.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from e3dnas.atomic import atomic_write_bytes

__all__ = ["plt", "save_png"]

matplotlib.rcParams["axes.formatter.min_exponent"] = 3


def save_png(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Render ``fig`` into ``path`` atomically and close it (pyplot keeps every open figure alive)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
