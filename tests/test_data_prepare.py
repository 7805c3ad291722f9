"""The prepared form of a dataset (JPEG frames at the training short side): same records and labels, the same
frames as decoding the videos, resumable, refusing mixed settings, broken videos listed and skipped; the
loader reads it through the same layouts."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from e3dnas.data import DataError
from e3dnas.data.decode import FrameFolder, VideoFile
from e3dnas.data.layouts import open_layout
from e3dnas.data.prepare import BROKEN, MANIFEST, PrepareSettings, prepare
from test_data_datamodule import batches, make

SHORT = 40  # the footage datasets are 64 px: prepared frames are scaled down, as real ones are


def prepared(root: Path, layout: str, out: Path, **settings) -> dict:
    options = {"layout": layout, "source": str(root), "short_side": SHORT, "quality": 90, **settings}
    return prepare(open_layout(layout, root), PrepareSettings(**options), out, progress=False)


@pytest.fixture(scope="module")
def prepared_sthv2(footage_dataset, tmp_path_factory) -> tuple[Path, Path, dict]:
    root = footage_dataset("sthv2")
    out = tmp_path_factory.mktemp("prepared") / "sthv2"
    return root, out, prepared(root, "sthv2", out)


@pytest.mark.parametrize(("layout", "per_class"), [("sthv2", False), ("k400", True)])
def test_prepared_copy_lists_the_same_records_and_decodes_the_same_frames(
    footage_dataset, tmp_path, layout, per_class
):
    root = footage_dataset(layout, per_class)
    manifest = prepared(root, layout, tmp_path / "out")
    assert manifest["complete"] and manifest["broken"] == 0
    original, copy = open_layout(layout, root), open_layout(layout, tmp_path / "out")
    assert copy.class_names == original.class_names
    for split in ("train", "val"):
        before, after = original.split(split).records, copy.split(split).records
        assert [(r.video_id, r.label) for r in after] == [(r.video_id, r.label) for r in before]
    assert manifest["videos"] == len(original.split("train").records) + len(original.split("val").records)
    record = original.split("val").records[0]
    video = VideoFile(record.path, SHORT)
    frames = FrameFolder(tmp_path / "out" / record.path.relative_to(root), SHORT)
    assert frames.num_frames == video.num_frames
    wanted = np.array([0, 3, 3, video.num_frames - 1])
    decoded, written = video.read(wanted).float(), frames.read(wanted).float()
    assert written.shape == decoded.shape and min(written.shape[1:3]) == SHORT
    assert (written - decoded).abs().mean() < 3  # JPEG at quality 90 of the same pixels


def test_loader_reads_the_prepared_copy_with_the_same_labels(prepared_sthv2):
    root, out, _ = prepared_sthv2
    videos, frames = make(root, flip="label_pairs"), make(out, flip="label_pairs")
    for dm in (videos, frames):
        dm.setup("validate")
    assert frames.storage == "frames" and videos.storage == "video"
    first, second = batches(videos, "val"), batches(frames, "val")
    for a, b in zip(first, second, strict=True):
        assert a["label"].tolist() == b["label"].tolist()
        assert (a["clip"] - b["clip"]).abs().mean() < 0.1  # normalised units: ~6 grey levels
    assert frames.skipped == 0


def test_a_rerun_resumes_and_other_settings_are_refused(prepared_sthv2):
    root, out, first = prepared_sthv2
    again = prepared(root, "sthv2", out)
    assert again["resumed"] == first["videos"] and again["bytes_written_now"] == 0
    with pytest.raises(DataError, match=r"prepared with other settings \(short_side: 40 there, 48 now"):
        prepared(root, "sthv2", out, short_side=48)


def test_an_interrupted_video_is_redone(footage_dataset, tmp_path):
    root = footage_dataset("sthv2")
    copy = tmp_path / "copy"
    prepared(root, "sthv2", copy)
    done = sorted(p for p in copy.glob("*.webm"))
    done[0].rename(done[0].with_name(f".{done[0].name}.staging"))  # as a crash mid-video leaves it
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(DataError, match="incomplete; rerun"):
        make(copy).storage  # noqa: B018  (reading it checks the manifest)
    again = prepared(root, "sthv2", copy)
    assert again["resumed"] == again["videos"] - 1 and done[0].is_dir()
    assert not list(copy.glob(".*.staging"))


def test_broken_videos_are_listed_and_skipped(copied_dataset, tmp_path):
    root = copied_dataset("sthv2")
    victim = sorted(root.glob("*.webm"))[0]
    victim.write_bytes(b"not a video" * 100)
    manifest = prepared(root, "sthv2", tmp_path / "out")
    assert manifest["broken"] == 1
    with (tmp_path / "out" / BROKEN).open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["path"], row["reason"]) for row in rows] == [(str(victim), "corrupt")]
    assert not (tmp_path / "out" / victim.name).exists()
    dm = make(tmp_path / "out")
    dm.setup("fit")
    assert dm.skip_counts.get("missing") == 1  # the loader counts it, as it counted the corrupt video


def test_frames_layout_and_bad_folders_are_refused(footage_dataset, tmp_path):
    with pytest.raises(DataError, match="already stores JPEG frames"):
        prepared(footage_dataset("sthv1"), "sthv1", tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not a prepared dataset"):
        prepared(footage_dataset("sthv2"), "sthv2", tmp_path / "busy")
    with pytest.raises(DataError, match=r"short_side must be in 16\.\.4096"):
        PrepareSettings("sthv2", "x", short_side=8, quality=90)


def test_command_line_prepares_and_fails_in_one_line(footage_dataset, tmp_path):
    root = footage_dataset("sthv2")
    command = [sys.executable, "-m", "e3dnas.data.prepare", "dataset=sthv2", f"dataset.root={root}"]
    done = subprocess.run(
        [*command, f"out={tmp_path / 'out'}", "workers=2", "dataset.resolution=32"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Train with dataset.root=" in done.stdout
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["settings"]["short_side"] == 46  # ceil(32 × 10/7): the largest side training reads
    failed = subprocess.run(
        [*command, f"out={tmp_path / 'out'}", "quality=0"], capture_output=True, text=True, check=False
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == ["error: prepare: quality must be in 1..100, got 0"]


def test_summary_accounts_for_every_listed_video_and_a_rerun(copied_dataset, tmp_path):
    from e3dnas.data.prepare import summary

    root = copied_dataset("sthv2")
    videos = sorted(root.glob("*.webm"))
    videos[0].write_bytes(b"not a video" * 100)
    videos[1].unlink()
    first = prepared(root, "sthv2", tmp_path / "out")
    listed = first["records_listed"]
    assert summary(first).startswith(
        f"{listed} records listed: {listed - 2} videos prepared now, 0 already done, 1 broken (listed in "
        f"broken.csv), 1 skipped (missing or unusable, logged)"
    )
    again = prepared(root, "sthv2", tmp_path / "out")
    assert summary(again).startswith(
        f"{listed} records listed: 0 videos prepared now, {listed - 2} already done"
    )
