"""The demo dataset: real footage, a frame-order-dependent task, balanced classes, disjoint train/val time
ranges, deterministic and idempotent builds; flipping a clip swaps its left/right label consistently."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import av
import numpy as np
import pytest
import torch

from e3dnas.data import VideoDataModule
from e3dnas.data.config import DatasetConfig
from e3dnas.data.demo import (
    CAMERA,
    PLAYBACK,
    ZOOM,
    DemoSpec,
    build_demo,
    camera_clip,
    demo_clips,
    main,
    playback_clip,
)
from e3dnas.data.footage import footage_frames
from e3dnas.data.writers import template_class

TINY = {"train_per_class": 2, "val_per_class": 1, "test_per_class": 1}
#: How the content of each camera class moves, (dx, dy) px per frame at the default step of 4.
CONTENT_SHIFT = {
    "Holding the camera still while filming something": (0, 0),
    "Turning the camera left while filming something": (4, 0),  # the view turns left: content moves right
    "Turning the camera right while filming something": (-4, 0),
    "Turning the camera upwards while filming something": (0, 4),
    "Turning the camera downwards while filming something": (0, -4),
}


def content_shift(before: np.ndarray, after: np.ndarray, reach: int = 12) -> tuple[int, int]:
    """(dx, dy) that best explains ``after`` as ``before`` moved by dx, dy (grey [H, W] frames)."""
    height, width = before.shape

    def error(dx: int, dy: int) -> float:
        a = before[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)]
        b = after[max(0, dy) : height - max(0, -dy), max(0, dx) : width - max(0, -dx)]
        return float(((a - b) ** 2).mean())

    shifts = [(dx, dy) for dx in range(-reach, reach + 1) for dy in range(-reach, reach + 1)]
    return min(shifts, key=lambda shift: error(*shift))


def grey(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32).mean(-1)


def test_demo_is_balanced_real_vp9_in_the_sthv2_layout(footage_dataset):
    root = footage_dataset("sthv2")
    labels = json.loads((root / "labels.json").read_text())
    assert list(labels) == list(CONTENT_SHIFT) and list(labels.values()) == ["0", "1", "2", "3", "4"]
    for split, per_class in (("train.json", 4), ("validation.json", 2)):
        entries = json.loads((root / split).read_text())
        assert set(Counter(template_class(e["template"]) for e in entries).values()) == {per_class}
        assert all(e["placeholders"][0] in e["label"] for e in entries)
    assert all(set(e) == {"id"} for e in json.loads((root / "test.json").read_text()))
    with av.open(str(root / "1.webm")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("vp9", 64, 64)


@pytest.mark.parametrize("template", list(CAMERA))
def test_camera_classes_move_the_view_as_named_and_reversal_swaps_them(template):
    still = np.repeat(
        footage_frames("bigbuckbunny", 128)[60:61], 16, axis=0
    )  # one real frame, no scene motion
    spec = DemoSpec()
    frames = grey(camera_clip(spec, still, CAMERA[template], np.random.default_rng(0)))
    forward = {content_shift(frames[t], frames[t + 1]) for t in range(15)}
    backward = {content_shift(frames[t + 1], frames[t]) for t in range(15)}
    assert forward == {CONTENT_SHIFT[template_class(template)]}
    # played backwards a clip is another class (a still one stays still): frame order decides the label
    assert backward == {tuple(-d for d in CONTENT_SHIFT[template_class(template)])}
    assert backward <= set(CONTENT_SHIFT.values())


def test_playback_backwards_is_forwards_reversed():
    frames = footage_frames("bikes", 128)[:32]
    spec = DemoSpec(task="playback")
    for speed in (1, 2):
        forwards = playback_clip(spec, frames, (1, speed), np.random.default_rng(1))
        backwards = playback_clip(spec, frames, (-1, speed), np.random.default_rng(1))
        np.testing.assert_array_equal(forwards[::-1], backwards)
        assert not np.array_equal(forwards, backwards)


def test_train_and_val_clips_come_from_disjoint_time_ranges():
    spec = DemoSpec(train_per_class=6, val_per_class=3, test_per_class=3)
    clips = list(demo_clips(spec))
    for source in {clip.source for clip in clips}:
        train_end = max(c.start + spec.frames for c in clips if c.source == source and c.split == "train")
        held_out = min(c.start for c in clips if c.source == source and c.split != "train")
        assert train_end <= held_out, source


def digest(root) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


def test_builds_are_deterministic_idempotent_and_atomic(tmp_path):
    first = build_demo(tmp_path / "a", **TINY, seed=3)
    again = build_demo(tmp_path / "b", **TINY, seed=3)
    other = build_demo(tmp_path / "c", **TINY, seed=4)
    assert digest(first) == digest(again)
    assert digest(first)["train.json"] == digest(other)["train.json"]  # same classes and ids...
    assert digest(first) != digest(other)  # ...but other windows and times
    stamp = (first / "manifest.json").stat().st_mtime_ns
    build_demo(first, **TINY, seed=3)  # up to date: nothing is rewritten
    assert (first / "manifest.json").stat().st_mtime_ns == stamp
    build_demo(first, **TINY, seed=3, step=2.0)  # another parameter: rebuilt in place
    assert json.loads((first / "manifest.json").read_text())["params"]["step"] == 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no staging folders left


def test_task_variants_and_cli(tmp_path, capsys):
    main(["--out", str(tmp_path / "zoom"), "--zoom", "0.03", "--step", "1.5", *_cli(TINY)])
    assert capsys.readouterr().out.strip() == str(tmp_path / "zoom")
    zoom_classes = json.loads((tmp_path / "zoom" / "labels.json").read_text())
    assert list(zoom_classes) == [template_class(t) for t in [*CAMERA, *ZOOM]]
    playback = build_demo(tmp_path / "playback", task="playback", **TINY)
    assert list(json.loads((playback / "labels.json").read_text())) == [template_class(t) for t in PLAYBACK]
    with pytest.raises(ValueError, match="out of the"):
        build_demo(tmp_path / "bad", step=9.0, **TINY)
    with pytest.raises(ValueError, match="unknown demo task"):
        build_demo(tmp_path / "bad", task="colour", **TINY)
    assert not (tmp_path / "bad").exists()


def _cli(params: dict[str, int]) -> list[str]:
    return [item for key, value in params.items() for item in (f"--{key.replace('_', '-')}", str(value))]


def test_flipped_training_clips_get_the_mirrored_label(footage_dataset):
    dm = VideoDataModule(
        DatasetConfig(
            layout="sthv2",
            root=footage_dataset("sthv2"),
            frames=8,
            resolution=56,
            train_scale=[56, 64],
            test_scale=64,
            flip="label_pairs",
            batch_size=5,
            num_workers=0,
            gpu_transforms=True,  # keeps the planned views (and their flip bits) in the batch until transfer
        )
    )
    dm.setup("fit")
    originals = torch.tensor([record.label for record in dm.datasets["train"].records])
    mirrored = torch.tensor([0, 2, 1, 3, 4])  # still, left → right, right → left, up, down
    flips = []
    for batch in dm.train_dataloader():
        flip = batch["views"][:, 4].bool()
        original = originals[batch["index"]]
        assert torch.equal(batch["label"], torch.where(flip, mirrored[original], original))
        flips.append(flip)
        rendered = dm.on_after_batch_transfer(batch, 0)
        assert rendered["clip"].shape == (5, 3, 8, 56, 56) and "views" not in rendered
    assert 0 < torch.cat(flips).float().mean() < 1
