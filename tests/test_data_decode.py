"""Decoding returns exactly the requested frames of the real footage, scaled down at decode time when asked,
and turns every kind of broken input into a SampleError with path and reason."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from torchvision.transforms.v2 import functional as TF

from e3dnas.data.decode import FrameFolder, VideoFile, fit_short_side, open_clip
from e3dnas.data.demo import DemoSpec, demo_clips
from e3dnas.data.errors import SampleError
from e3dnas.data.footage import footage_frames
from e3dnas.data.layouts import open_layout
from e3dnas.data.writers import write_video

LEFT_PAN = "Turning the camera left while filming [something]"


@pytest.fixture(scope="module")
def written_clips(footage_dataset):
    """The frames the demo builder wrote, by video id (regenerated from its manifest: builds are exact)."""
    params = json.loads((footage_dataset("sthv2") / "manifest.json").read_text())["params"]
    params.pop("version")
    return {clip.video_id: clip for clip in demo_clips(DemoSpec(**params))}


@pytest.mark.parametrize("layout", ["sthv2", "sthv1", "k400"])
def test_decoded_frames_are_the_requested_frames(footage_dataset, written_clips, layout):
    reader = open_layout(layout, footage_dataset(layout))
    storage = reader.storage
    records = reader.split("train").records
    pans = [r for r in records if written_clips[_video_number(r)].template == LEFT_PAN]
    for record in pans[:3]:
        source = open_clip(record.path, storage)
        written = written_clips[_video_number(record)].frames.astype(np.float32)
        assert source.num_frames == len(written)
        wanted = np.array([1, 4, 5, 9, 15, 4])  # unsorted, with a repeat
        frames = source.read(wanted).numpy().astype(np.float32)
        assert frames.shape == (len(wanted), *written.shape[1:])
        distance = ((frames[:, None] - written[None]) ** 2).mean(axis=(2, 3, 4))  # [wanted, all written]
        np.testing.assert_array_equal(distance.argmin(axis=1), wanted)
        assert np.sqrt(distance.min(axis=1)).max() < 12  # lossy codecs, yet close to what was written


def _video_number(record) -> str:
    """Kinetics names clips yt<9-digit id>; the other layouts use the builder's id as is."""
    return str(int(record.video_id[2:11])) if record.video_id.startswith("yt") else record.video_id


@pytest.mark.parametrize(
    ("width", "height", "short", "expected"), [(640, 272, 128, (301, 128)), (64, 64, 80, (64, 64))]
)
def test_fit_short_side_only_shrinks(width, height, short, expected):
    assert fit_short_side(width, height, short) == expected


@pytest.mark.parametrize("layout", ["sthv2", "sthv1"])
def test_decode_time_resize_gives_the_requested_short_side(footage_dataset, layout):
    reader = open_layout(layout, footage_dataset(layout))
    record = reader.split("val").records[0]
    frames = open_clip(record.path, reader.storage, max_short=32).read(np.arange(3))
    assert frames.shape == (3, 32, 32, 3)


def test_every_broken_video_is_a_sample_error(footage_dataset, tmp_path):
    good = open_layout("k400", footage_dataset("k400")).split("train").records[0].path
    data = good.read_bytes()
    cases = {
        "missing.mp4": ("missing", None),
        "zero.mp4": ("empty", b""),
        "truncated.mp4": ("corrupt", data[: len(data) // 2]),
        "garbage.mp4": ("corrupt", b"this is not a video\n" * 50),
        "scrambled.webm": ("corrupt", data[:64] + bytes(reversed(data[64:]))),
    }
    for name, (reason, content) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(SampleError) as caught:
            VideoFile(path).read(np.arange(8))
        assert caught.value.reason == reason, name
        assert caught.value.path == str(path)
        assert "Traceback" not in caught.value.detail and "\n" not in caught.value.detail


def test_every_broken_frame_folder_is_a_sample_error(footage_dataset, tmp_path):
    good = open_layout("sthv1", footage_dataset("sthv1")).split("train").records[0].path
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    for name, frame, content in [
        ("zero", "00003.jpg", b""),
        ("corrupt", "00003.jpg", b"\xff\xd8 broken jpeg"),
    ]:
        shutil.copytree(good, tmp_path / name)
        (tmp_path / name / frame).write_bytes(content)
    cases = {
        "nowhere": "missing",
        "a_file": "unreadable",
        "empty": "empty",
        "zero": "empty",
        "corrupt": "corrupt",
    }
    for name, reason in cases.items():
        with pytest.raises(SampleError) as caught:
            FrameFolder(tmp_path / name).read(np.arange(4))
        assert caught.value.reason == reason, name
        assert name in caught.value.path


@pytest.mark.parametrize("short", [36, 54])
def test_small_sizes_of_4_3_videos_decode_instead_of_counting_as_corrupt(tmp_path, short):
    """FFmpeg's scaler gives decord frames of another size at these sides of a 320×240 source; the frames
    are then scaled here, and match a decode at full size scaled the same way."""
    frames = np.ascontiguousarray(footage_frames("bikes", 272)[:12, 16:256, 100:420])
    path = tmp_path / "four_three.webm"
    write_video(path, frames, fps=12)
    wanted = np.array([0, 5, 11])
    small = VideoFile(path, max_short=short).read(wanted)
    assert small.shape == (3, short, short * 4 // 3, 3)
    full = VideoFile(path).read(wanted).permute(0, 3, 1, 2)
    expected = TF.resize(full, [short, short * 4 // 3], antialias=True).permute(0, 2, 3, 1)
    assert (small.float() - expected.float()).abs().mean() < 2
