"""The demo dataset: a temporal task on real footage in the Something-Something V2 layout (docs/data.md).

``camera`` (default, easy): a window slides over real frames, so the clip shows the camera held still, turning
left / right / up / down (``--step`` px per frame) and, with ``--zoom``, zooming in / out. ``playback``
(hard): the footage played forwards or backwards at normal or double speed. Reversing a clip turns one class
into another in both tasks, so no frame-order-invariant model can solve them. Classes are balanced; train
clips come from the first ``TRAIN_FRACTION`` of every source video and val/test clips from the rest, so no
frame is shared.

    python -m e3dnas.data.demo --out data/demo            # ~5 s on 2 cores; idempotent
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from e3dnas.data.annotations import SplitName
from e3dnas.data.footage import FOOTAGE, footage_frames
from e3dnas.data.layouts import writable_layouts, write_layout
from e3dnas.data.writers import Clip, template_class

logger = logging.getLogger("e3dnas.data.demo")

TRAIN_FRACTION = 0.7
FPS = 12  # Something-Something V2's frame rate
MANIFEST = "manifest.json"
VERSION = 1

#: Class template → (dx, dy, zoom): window motion in ``step`` px per frame; zoom +1 in, -1 out.
CAMERA = {
    "Holding the camera still while filming [something]": (0, 0, 0),
    "Turning the camera left while filming [something]": (-1, 0, 0),
    "Turning the camera right while filming [something]": (1, 0, 0),
    "Turning the camera upwards while filming [something]": (0, -1, 0),
    "Turning the camera downwards while filming [something]": (0, 1, 0),
}
ZOOM = {"Zooming in on [something]": (0, 0, 1), "Zooming out from [something]": (0, 0, -1)}
#: Class template → (direction, speed) of playback.
PLAYBACK = {
    "Playing [something] forwards": (1, 1),
    "Playing [something] forwards fast": (1, 2),
    "Playing [something] backwards": (-1, 1),
    "Playing [something] backwards fast": (-1, 2),
}


@dataclass(frozen=True)
class DemoSpec:
    """Everything that determines the files; the manifest stores it so an identical rebuild is skipped."""

    task: str = "camera"
    step: float = 4.0
    zoom: float = 0.0
    frames: int = 16
    size: int = 64
    train_per_class: int = 64
    val_per_class: int = 32
    test_per_class: int = 4
    seed: int = 0
    layout: str = "sthv2"
    per_class_folders: bool = False

    def __post_init__(self) -> None:
        if self.task not in ("camera", "playback"):
            raise ValueError(f"unknown demo task {self.task!r}; choose 'camera' or 'playback'")

    @property
    def templates(self) -> list[str]:
        if self.task == "playback":
            return list(PLAYBACK)
        return list(CAMERA) + (list(ZOOM) if self.zoom > 0 else [])

    @property
    def source_side(self) -> int:
        """Short side the footage is scaled to: twice the clip side leaves room for the window to travel."""
        return 2 * self.size


def _window(frames: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crop ``boxes`` [T, 4] (x0, y0, side, side) from ``frames`` [T, H, W, 3] and resize each to size²;
    Pillow resamples fractional boxes, so sub-pixel pans and zooms stay smooth."""
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for slot, (frame, (x0, y0, side, _)) in enumerate(zip(frames, boxes, strict=True)):
        box = (float(x0), float(y0), float(x0 + side), float(y0 + side))
        out[slot] = np.asarray(
            Image.fromarray(frame).resize((size, size), Image.Resampling.BILINEAR, box=box)
        )
    return out


def camera_clip(
    spec: DemoSpec, frames: np.ndarray, motion: tuple[int, int, int], rng: np.random.Generator
) -> np.ndarray:
    """Window path over ``spec.frames`` consecutive source frames: a pan moves the window ``step`` px per
    frame (the camera turning left moves the view left); a zoom scales it by (1 + zoom) per frame."""
    dx, dy, dz = motion
    t = np.arange(spec.frames, dtype=np.float64)
    growth = (1 + spec.zoom) ** t if dz else np.ones_like(t)
    sides = spec.size * (growth[::-1] if dz > 0 else growth)  # zoom in: the window shrinks to `size`
    height, width = frames.shape[1:3]
    travel_x, travel_y = dx * spec.step * t, dy * spec.step * t
    largest = sides.max()
    lo_x, hi_x = -travel_x.min(), width - largest - travel_x.max()
    lo_y, hi_y = -travel_y.min(), height - largest - travel_y.max()
    if hi_x < lo_x or hi_y < lo_y:
        raise ValueError(
            f"step {spec.step} / zoom {spec.zoom} moves the window out of the {height}×{width} footage"
        )
    centre_x = rng.uniform(lo_x, hi_x) + largest / 2 + travel_x
    centre_y = rng.uniform(lo_y, hi_y) + largest / 2 + travel_y
    boxes = np.stack([centre_x - sides / 2, centre_y - sides / 2, sides, sides], axis=1)
    return _window(frames[: spec.frames], boxes, spec.size)


def playback_clip(
    spec: DemoSpec, frames: np.ndarray, motion: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """A still ``size``² window of the footage played ``speed`` frames a step, backwards if direction < 0."""
    direction, speed = motion
    chosen = frames[: spec.frames * speed : speed][::direction]
    height, width = frames.shape[1:3]
    x0, y0 = rng.uniform(0, width - spec.size), rng.uniform(0, height - spec.size)
    boxes = np.tile([x0, y0, spec.size, spec.size], (spec.frames, 1))
    return _window(chosen, boxes, spec.size)


def demo_clips(spec: DemoSpec) -> Iterator[Clip]:
    """The clips of the demo, in a fixed order and from one seeded generator (deterministic)."""
    motions = {**CAMERA, **ZOOM, **PLAYBACK}
    make = camera_clip if spec.task == "camera" else playback_clip
    span = spec.frames * (max(speed for _, speed in PLAYBACK.values()) if spec.task == "playback" else 1)
    sources = {name: footage_frames(name, spec.source_side) for name in FOOTAGE}
    rng = np.random.default_rng(spec.seed)
    counts: dict[SplitName, int] = {
        "train": spec.train_per_class,
        "val": spec.val_per_class,
        "test": spec.test_per_class,
    }
    number = 0
    for split, per_class in counts.items():
        for template in spec.templates:
            for j in range(per_class):
                name = list(FOOTAGE)[j % len(FOOTAGE)]
                frames = sources[name]
                cut = int(len(frames) * TRAIN_FRACTION)
                lo, hi = (0, cut) if split == "train" else (cut, len(frames))
                if hi - lo < span:
                    raise ValueError(f"{name}: {hi - lo} {split} frames cannot hold a {span}-frame clip")
                start = int(rng.integers(lo, hi - span + 1))
                number += 1
                clip = make(spec, frames[start : start + span], motions[template], rng)
                yield Clip(str(number), template, split, clip, name, start)


def _built_with(manifest: Path) -> dict | None:
    """The parameters an existing build recorded, None if there is no readable manifest."""
    try:
        return json.loads(manifest.read_text())["params"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_demo(out: str | Path = "data/demo", force: bool = False, **params: object) -> Path:
    """Build the demo dataset at ``out`` (parameters: the fields of DemoSpec) unless a manifest with the same
    parameters is already there. Builds into a temporary sibling folder, then swaps it in."""
    spec = DemoSpec(**params)  # type: ignore[arg-type]
    out = Path(out)
    wanted = {"version": VERSION, **asdict(spec)}
    if not force and _built_with(out / MANIFEST) == wanted:
        logger.info("demo dataset at %s is up to date", out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        options = {"per_class_folders": True} if spec.per_class_folders else {}  # a Kinetics writer option
        counts = write_layout(staging, spec.layout, demo_clips(spec), spec.templates, FPS, **options)
        classes = [template_class(template) for template in spec.templates]
        (staging / MANIFEST).write_text(
            json.dumps({"params": wanted, "classes": classes, "clips": counts}, indent=1)
        )
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            shutil.rmtree(old)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("built demo dataset at %s: %s clips in %.1f s", out, counts, time.perf_counter() - started)
    return out


def main(argv: list[str] | None = None) -> None:
    defaults = DemoSpec()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="data/demo", help="output folder (default: %(default)s)")
    parser.add_argument("--task", choices=["camera", "playback"], default=defaults.task)
    parser.add_argument(
        "--step", type=float, default=defaults.step, help="camera pan in px per frame (difficulty)"
    )
    parser.add_argument(
        "--zoom", type=float, default=defaults.zoom, help="> 0 adds zoom in/out classes at this rate"
    )
    parser.add_argument("--frames", type=int, default=defaults.frames, help="frames per clip")
    parser.add_argument("--size", type=int, default=defaults.size, help="clip side in px")
    parser.add_argument("--train-per-class", type=int, default=defaults.train_per_class)
    parser.add_argument("--val-per-class", type=int, default=defaults.val_per_class)
    parser.add_argument("--test-per-class", type=int, default=defaults.test_per_class)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--layout", choices=writable_layouts(), default=defaults.layout)
    parser.add_argument("--per-class-folders", action="store_true", help="k400: <split>/<label>/ folders")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out, force = args.pop("out"), args.pop("force")
    print(build_demo(out, force=force, **args))


if __name__ == "__main__":
    main()
