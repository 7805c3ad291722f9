"""What every layout writer shares: the :class:`Clip` to write and the encoders that store it the way the
real datasets ship (VP9 webm or H.264 mp4 in yuv420p, JPEG frames).

Each layout writes its own files (``write_clip`` and ``write_annotations`` of its class in
``e3dnas.data.layouts``); :func:`e3dnas.data.layouts.write_layout` drives them. The demo dataset, the tests
and the data benchmark all write through it, so the readers are always exercised on files made the way the
real datasets are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from e3dnas.data.annotations import SplitName

#: Encoder settings: single-threaded so that a seed gives byte-identical files.
CODECS = {
    "webm": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "18", "b": "0", "threads": "1"}),
    "mp4": ("libx264", {"preset": "veryfast", "crf": "20", "threads": "1"}),
}


def template_class(template: str) -> str:
    """A class template's name without placeholder brackets (``[something]`` → ``something``): the class
    Something-Something V2 derives from an entry's template, and the class name every writer uses."""
    return template.replace("[", "").replace("]", "")


@dataclass(frozen=True)
class Clip:
    """One clip to write: frames ``[T, H, W, 3]`` uint8 (even sides), its class template (Something-Something
    style, ``[something]`` marking the placeholder), split, the footage it shows, its first source frame."""

    video_id: str
    template: str
    split: SplitName
    frames: np.ndarray
    source: str
    start: int = 0

    @property
    def class_name(self) -> str:
        return template_class(self.template)


#: The clips written so far, by split: what the annotation files list.
Rows = dict[SplitName, list[Clip]]


def write_video(path: Path, frames: np.ndarray, fps: int, intra_only: bool = False) -> None:
    """Encode ``frames`` as VP9 (``.webm``) or H.264 (``.mp4``) in yuv420p, as the datasets ship them;
    ``intra_only``: every frame a key frame, so that no frame's artefacts depend on its neighbours."""
    codec, options = CODECS[path.suffix.lstrip(".")]
    options = options | {"g": "1"} if intra_only else options
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_jpegs(folder: Path, frames: np.ndarray, quality: int = 90) -> None:
    """Frames as ``00001.jpg`` … (Something-Something V1)."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{number:05d}.jpg", quality=quality)
