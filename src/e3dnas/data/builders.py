"""Writing clips cut from the real footage into each official layout (docs/data.md): Something-Something
V2 (VP9 webm + JSON), V1 (JPEG folders + ``;`` CSVs) and Kinetics-400 (H.264 mp4 + CSV, flat or per-class
folders).

The demo dataset, the tests and the data benchmark all write through ``write_layout``, so the loaders are
always exercised on files made the way the real datasets are.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import av
import decord
import numpy as np
from PIL import Image

from e3dnas.data.annotations import SplitName
from e3dnas.data.footage import FOOTAGE, footage_path
from e3dnas.data.kinetics import SPLIT_FILES as KINETICS_FILES
from e3dnas.data.kinetics import clip_stem
from e3dnas.data.sthv1 import PREFIX as STHV1_PREFIX
from e3dnas.data.sthv1 import SPLIT_FILES as STHV1_FILES
from e3dnas.data.sthv2 import EXTENSION as STHV2_EXTENSION
from e3dnas.data.sthv2 import SPLIT_FILES as STHV2_FILES
from e3dnas.data.sthv2 import template_class

#: Encoder settings: single-threaded so that a seed gives byte-identical files.
CODECS = {
    "webm": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "18", "b": "0", "threads": "1"}),
    "mp4": ("libx264", {"preset": "veryfast", "crf": "20", "threads": "1"}),
}


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


Rows = dict[SplitName, list[Clip]]


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


def write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    """Encode ``frames`` as VP9 (``.webm``) or H.264 (``.mp4``) in yuv420p, as the datasets ship them."""
    codec, options = CODECS[path.suffix.lstrip(".")]
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


def write_layout(
    root: str | Path,
    layout: str,
    clips: Iterable[Clip],
    templates: Sequence[str],
    fps: int = 12,
    per_class_folders: bool = False,
) -> dict[str, int]:
    """Write ``clips`` and the annotation files of ``layout`` under ``root``; class indices follow
    ``templates`` (Kinetics: sorted names, as its loader derives them). Returns clips written per split."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    writers = {
        "sthv2": (lambda clip: write_video(root / f"{clip.video_id}{STHV2_EXTENSION}", clip.frames, fps)),
        "sthv1": (lambda clip: write_jpegs(root / clip.video_id, clip.frames)),
        "k400": (
            lambda clip: write_video(_kinetics_path(root, clip, fps, per_class_folders), clip.frames, fps)
        ),
    }
    annotations = {
        "sthv2": _sthv2_annotations,
        "sthv1": _sthv1_annotations,
        "k400": partial(_kinetics_annotations, fps=fps),
    }
    if layout not in writers:
        raise ValueError(f"unknown layout {layout!r}; choose from {sorted(writers)}")
    rows: Rows = {"train": [], "val": [], "test": []}
    for clip in clips:
        writers[layout](clip)
        rows[clip.split].append(clip)
    annotations[layout](root, rows, [template_class(template) for template in templates])
    return {split: len(clips) for split, clips in rows.items()}


def _kinetics_times(clip: Clip, fps: int) -> tuple[str, int, int]:
    """(youtube_id, time_start, time_end): an 11-character id and whole seconds, as in the official CSVs."""
    start = clip.start // fps
    return f"yt{int(clip.video_id):09d}", start, start + max(1, round(len(clip.frames) / fps))


def _kinetics_path(root: Path, clip: Clip, fps: int, per_class_folders: bool) -> Path:
    name = clip_stem(*_kinetics_times(clip, fps)) + ".mp4"
    return root / clip.split / clip.class_name / name if per_class_folders else root / name


def _sthv2_annotations(root: Path, rows: Rows, names: list[str]) -> None:
    (root / "labels.json").write_text(
        json.dumps({name: str(index) for index, name in enumerate(names)}, indent=1)
    )
    for split, clips in rows.items():
        entries = [
            {"id": c.video_id}
            if split == "test"
            else {
                "id": c.video_id,
                "label": c.template.replace("[something]", c.source),
                "template": c.template,
                "placeholders": [c.source],
            }
            for c in clips
        ]
        (root / STHV2_FILES[split]).write_text(json.dumps(entries, indent=1))


def _sthv1_annotations(root: Path, rows: Rows, names: list[str]) -> None:
    (root / f"{STHV1_PREFIX}-labels.csv").write_text("".join(f"{name}\n" for name in names))
    for split, clips in rows.items():
        lines = [c.video_id if split == "test" else f"{c.video_id};{c.class_name}" for c in clips]
        (root / f"{STHV1_PREFIX}-{STHV1_FILES[split]}.csv").write_text("".join(f"{line}\n" for line in lines))


def _kinetics_annotations(root: Path, rows: Rows, names: list[str], fps: int) -> None:
    """The CSVs only: Kinetics has no label file (its loader sorts the label names)."""
    for split, clips in rows.items():
        with (root / KINETICS_FILES[split]).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            writer.writerows([clip.class_name, *_kinetics_times(clip, fps), split] for clip in clips)
