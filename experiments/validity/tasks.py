"""The study's tasks: each a folder dataset (``train/`` and ``val/`` class folders) and its epochs.

Both are prepared once as JPEG frames at short side 64 (``python -m e3dnas.data.prepare``), so that a
training spends its time in the network rather than in decoding; the data-dependent proxies read a seeded
batch of the task's training videos.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from e3dnas.atomic import atomic_write_text
from e3dnas.data.decode import VideoFile
from e3dnas.data.demo import DemoSpec, build_demo, camera_clip
from e3dnas.data.layouts.folder import FolderLayout
from e3dnas.data.writers import write_video

#: Where the shared clips are (the project never ships them): ../shared/data/<name> beside the checkout, or
#: the environment variable E3DNAS_<NAME> (e.g. E3DNAS_UCF9).
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
ARID6 = Path(os.environ.get("E3DNAS_ARID6", SHARED / "arid6"))
UCF9 = Path(os.environ.get("E3DNAS_UCF9", SHARED / "ucf9"))
#: Camera pan speed of the camera-motion task in px per frame: the speed the first study calibrated the
#: task at (the searched demo network reached 82 % there, 31 % at 0.5 px, 93 % at 2 px).
CAMERA_STEP = 1.0
#: Short side of the prepared JPEG copies (the study trains at 56 px with scale jitter up to 64).
SHORT_SIDE = 64


@dataclass(frozen=True)
class Split:
    """How a task of real clips ``<root>/<class>/<video>`` is split by ``dataset=folder``'s own draw."""

    val_fraction: float
    seed: int = 0
    group_pattern: str | None = None  # whole groups (one source video each) on one side


@dataclass(frozen=True)
class Task:
    name: str
    epochs: int
    flip: str  # dataset.flip: "label_pairs" where classes name left/right
    summary: str  # one sentence for results.md
    split: Split | None = None  # None: the camera-motion clips, built with their own train/val
    clips: str | None = None  # the real clips it is made from (a key of CLIPS); None: the camera clips
    derived: str | None = None  # classes made from each clip (a key of DERIVED); None: the clips' actions
    overrides: tuple[str, ...] = ()  # the task's own dataset settings, after the study's recipe

    def data(self, work: Path, source: Path | None) -> tuple[Path, Path]:
        """(videos, prepared): the task's videos as ``<root>/{train,val}/<class>/<video>`` and the JPEG copy
        the trainings read, both built under ``work`` once (later calls find them done); ``source``: the
        real clips' folder."""
        if self.split is None:
            videos = build_demo(work / "camera" / "videos", step=CAMERA_STEP, layout="folder")
        elif self.derived:
            videos = derived_folder(source, work / self.name / "videos", self.split, self.derived)
        else:
            videos = split_folder(source, work / self.name / "videos", self.split)
        out = work / self.name / "prepared"
        command = [
            sys.executable,
            "-m",
            "e3dnas.data.prepare",
            "dataset=folder",
            f"dataset.root={videos}",
            f"out={out}",
            f"short_side={SHORT_SIDE}",
            "print_config=false",
        ]
        subprocess.run(command, check=True, capture_output=True, text=True)
        return videos, out


#: ucf9's epochs at the study's 8×56² recipe: one epoch (649 training clips, then the 224 validation clips)
#: measured 62 CPU-s on one thread, so 6 epochs is about 5 CPU-minutes a training. It does not repeat (21
#: networks: seed-to-seed τ +0.13, one run's noise 5.2 points against a 2.5-point spread between networks),
#: nor at 12 epochs (9 of the same networks, pilots/ucf9-12-epochs.csv: τ +0.21, noise 4.1, spread 2.4).
UCF9_EPOCHS = 6
#: The speed task's playback speeds (every s-th frame of a 25 fps clip) and its epochs. Pilots (pilots/):
#: with 1×, 2× and 4× four networks sat at chance after 6 epochs (31–38 %, chance 33 %) and route (a)'s
#: network at 39 % after 24; with 1× and 4× that network left chance at epoch 12 and ended at 70 % (chance
#: 50 %). An epoch costs about 10 CPU-s (8 consecutive frames of 649 clips, then 224 to validate).
SPEEDS = (1, 4)
SPEED_EPOCHS = 24
#: The pan task: the camera task's windows (CAMERA_STEP px a frame, 16 frames, 64² from a 128 px short side)
#: slid over ucf9's real scenes. Pilot (pilots/pan-5-epochs.csv): at 5 epochs route (a)'s network was still
#: climbing (64 and 73 % for its two seeds, chance 20 %), so its recipe is 8 epochs; an epoch costs about
#: 10 CPU-s (649 training clips of 16 frames, then 224 to validate). The demo's other task, playback
#: (forwards or backwards at 1× or 2×), was tried first: 4 networks × 2 seeds sat at chance (19–31 %, chance
#: 25 %) after 10 epochs (pilots/playback-10-epochs.csv).
PAN_EPOCHS = 8
PAN = DemoSpec(step=CAMERA_STEP, frames=16, size=64)
PAN_MOTIONS = {
    "still": (0, 0, 0),
    "left": (-1, 0, 0),
    "right": (1, 0, 0),
    "up": (0, -1, 0),
    "down": (0, 1, 0),
}
ARID6_SPLIT = Split(val_fraction=0.3)
UCF9_SPLIT = Split(val_fraction=0.25, group_pattern=r"_g(\d+)_")
TASKS = {
    "camera": Task(
        "camera",
        epochs=5,
        flip="label_pairs",
        summary=f"5 camera-motion classes (still, pan left/right/up/down at {CAMERA_STEP:g} px/frame) made "
        "by sliding a window over real footage; 320 train and 160 val clips from disjoint parts of the "
        "source videos",
    ),
    "pan": Task(
        "pan",
        epochs=PAN_EPOCHS,
        flip="label_pairs",
        summary=f"the camera task's 5 classes (still, pan left/right/up/down at {CAMERA_STEP:g} px/frame) "
        "made on ucf9's real scenes, one class a clip dealt evenly over its action, split as ucf9 (whole "
        "groups on one side): camera motion amid the scenes' own motion",
        split=UCF9_SPLIT,
        clips="ucf9",
        derived="pan",
    ),
    "arid6": Task(
        "arid6",
        epochs=12,
        flip="plain",
        summary="6 real human actions in the dark (arid6, 150 clips); a random split of each class "
        f"({ARID6_SPLIT.val_fraction:.0%} val, seed {ARID6_SPLIT.seed}) with subjects on both sides, so it "
        "measures how well a network learns these actions from few clips (appearance as much as motion), "
        "not how it generalises to new people",
        split=ARID6_SPLIT,
        clips="arid6",
    ),
    "ucf9": Task(
        "ucf9",
        epochs=UCF9_EPOCHS,
        flip="plain",
        summary="9 real UCF101 actions (ucf9, 873 clips from 18 source videos per class, groups g08–g25); "
        f"each class's groups drawn to val until about {UCF9_SPLIT.val_fraction:.0%} of its clips (seed "
        f"{UCF9_SPLIT.seed}), whole groups on one side, so no source video is on both sides",
        split=UCF9_SPLIT,
        clips="ucf9",
    ),
    "speed": Task(
        "speed",
        epochs=SPEED_EPOCHS,
        flip="plain",
        summary=f"{len(SPEEDS)} playback speeds ({', '.join(f'{s}×' for s in SPEEDS)}) of ucf9's real clips, "
        "each clip at one speed dealt evenly over its action, split as ucf9 (whole groups on one side); "
        "8 consecutive frames a clip, so only motion tells the speed: a task that needs time",
        split=UCF9_SPLIT,
        clips="ucf9",
        derived="speed",
        overrides=("dataset.sampling=dense", "dataset.stride=1"),
    ),
}
#: The real clips' folders, by name (a task's ``clips``).
CLIPS = {"arid6": ARID6, "ucf9": UCF9}


def class_count(videos: Path) -> int:
    """Classes of a task's videos (``<videos>/train/<class>/``)."""
    return sum(path.is_dir() for path in (videos / "train").iterdir())


def split_layout(source: Path, split: Split) -> FolderLayout:
    """``source``'s clips as ``dataset=folder`` splits them."""
    return FolderLayout(
        source,
        source,
        val_fraction=split.val_fraction,
        split_seed=split.seed,
        group_pattern=split.group_pattern,
    )


def split_folder(source: Path, out: Path, split: Split) -> Path:
    """Links to ``source``'s clips in ``out/{train,val}/<class>/``, split as ``dataset=folder`` draws it."""
    layout = split_layout(source, split)
    for name in ("train", "val"):
        for record in layout.split(name).records:
            link = out / name / record.video_id
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(Path(record.path).resolve(), link)
    return out


def speed_clip(path: Path, label: str, rng: np.random.Generator) -> np.ndarray:
    """The whole clip played at ``label`` (``"4x"``: every 4th frame)."""
    video = VideoFile(path)
    return video.read(np.arange(0, video.num_frames, int(label.rstrip("x")))).numpy()


def pan_clip(path: Path, label: str, rng: np.random.Generator) -> np.ndarray:
    """The camera task's geometry on this clip's scene: a ``PAN.size``² window moving ``CAMERA_STEP`` px a
    frame in ``label``'s direction over ``PAN.frames`` consecutive frames from a random start, the clip
    decoded at short side ``PAN.source_side``. The scene's own motion (actors, a handheld camera) stays in."""
    video = VideoFile(path, max_short=PAN.source_side)
    start = int(rng.integers(0, max(video.num_frames - PAN.frames, 0) + 1))
    frames = video.read(np.minimum(np.arange(start, start + PAN.frames), video.num_frames - 1)).numpy()
    return camera_clip(PAN, frames, PAN_MOTIONS[label], rng)


#: A derived task's classes (dealt over each action's clips) and how a clip of each class is made.
DERIVED = {
    "speed": (tuple(f"{s}x" for s in SPEEDS), speed_clip),
    "pan": (tuple(PAN_MOTIONS), pan_clip),
}


def derived_folder(source: Path, out: Path, split: Split, derived: str, fps: int = 25) -> Path:
    """``source``'s clips, each remade as one class of the ``derived`` task (DERIVED), as
    ``out/{train,val}/<class>/<clip>.mp4`` on the side ``split`` puts the clip. Within each side and action
    the classes are dealt in turn over the clips in a seeded order, so every class holds the same actions
    and the action tells nothing. Each clip is re-encoded intra-only (every frame a key frame): no class
    leaves its own trace in the compression. A clip already written is kept (a resumed build); a folder built
    with other classes or another split is refused, never mixed."""
    classes, make = DERIVED[derived]
    built = {"source": str(source), "classes": list(classes), "split": asdict(split), "fps": fps}
    settings = out / "built.json"
    if settings.exists() and json.loads(settings.read_text()) != built:
        raise SystemExit(
            f"{out}: built as {settings.read_text().strip()}, now {json.dumps(built)}; move it away"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(settings, json.dumps(built) + "\n")
    layout = split_layout(source, split)
    draw = random.Random(split.seed)
    todo = []
    for name in ("train", "val"):
        by_action = defaultdict(list)
        for record in layout.split(name).records:
            by_action[record.label].append(record)
        for action in sorted(by_action):
            records = sorted(by_action[action], key=lambda r: r.video_id)
            draw.shuffle(records)
            for i, record in enumerate(records):
                label = classes[i % len(classes)]
                todo.append((record.path, label, out / name / label / record.path.name, len(todo)))
    for path, label, target, number in tqdm([job for job in todo if not job[2].exists()], desc=derived):
        frames = make(path, label, np.random.default_rng([split.seed, number]))
        staging = target.with_name(f".{target.stem}.staging{target.suffix}")
        write_video(staging, frames, fps, intra_only=True)
        os.replace(staging, target)
    return out
