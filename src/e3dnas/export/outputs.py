"""Where an export goes: one folder per checkpoint, format and input shape, never taken from another."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from e3dnas.export.errors import ExportError

#: The record written beside each exported file.
RECORD = "export.json"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_dir(ckpt: Path, out_dir: str | None, fmt: str, shape: Sequence[int]) -> Path:
    """``<out_dir>/<ckpt stem>-<format>-<B>x3x<T>x<H>x<W>``; ``out_dir`` defaults to ``export/`` beside the
    checkpoint, so the exports of a checkpoint sit with it and two settings never share a folder."""
    parent = Path(out_dir) if out_dir else ckpt.parent / "export"
    return parent / f"{ckpt.stem}-{fmt}-{'x'.join(map(str, shape))}"


def claim(folder: Path, identity: Mapping[str, Any]) -> None:
    """Refuse ``folder`` when it holds anything but an export with this ``identity`` (checkpoint digest,
    format, input shape): re-exporting the same thing replaces it, anything else is never overwritten.

    ``last.ckpt`` changes as training goes on under the same name, hence the digest.
    """
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    try:
        recorded = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        recorded = None
    if not isinstance(recorded, dict):
        raise ExportError(
            f"out_dir: {folder} is not empty and holds no readable {RECORD}: not overwritten "
            "(remove it or pass out_dir=<another folder>)"
        )
    differ = [key for key, value in identity.items() if recorded.get(key) != value]
    if differ:
        raise ExportError(
            f"out_dir: {folder} holds an export with another {', '.join(differ)} "
            f"(of {recorded.get('ckpt')}): not overwritten (remove it or pass out_dir=<another folder>)"
        )
