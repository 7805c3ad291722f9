"""The official layouts are read as distributed: class indices from the label files, records per split, and
bad annotations either skipped and counted (one record) or refused with file and line (the file)."""

from __future__ import annotations

import csv
import json
import logging

import pytest

from e3dnas.data import DataError, VideoDataModule
from e3dnas.data.config import DatasetConfig
from e3dnas.data.demo import CAMERA
from e3dnas.data.layouts import open_layout
from e3dnas.data.writers import template_class

CLASSES = [template_class(template) for template in CAMERA]
LAYOUTS = [("sthv1", False), ("sthv2", False), ("k400", False), ("k400", True)]


def demo_module(root, layout="sthv2", **overrides) -> VideoDataModule:
    settings = {"frames": 4, "resolution": 32, "train_scale": [32, 40], "test_scale": 32, "num_workers": 0}
    return VideoDataModule(DatasetConfig(layout=layout, root=root, **{**settings, **overrides}))


@pytest.mark.parametrize(("layout", "per_class"), LAYOUTS)
def test_each_layout_reads_classes_and_splits(footage_dataset, layout, per_class):
    root = footage_dataset(layout, per_class)
    reader = open_layout(layout, root)
    # Kinetics defines classes as the sorted label names; Something-Something by its label file's order.
    assert reader.class_names == (sorted(CLASSES) if layout == "k400" else CLASSES)
    manifest = json.loads((root / "manifest.json").read_text())["clips"]
    for split in ("train", "val"):
        records = reader.split(split)
        assert not records.skipped and len(records.records) == manifest[split]
        counts = [sum(r.label == c for r in records.records) for c in range(len(CLASSES))]
        assert len(set(counts)) == 1, f"{split} classes are balanced"
        assert all(r.path.exists() for r in records.records)
    if layout != "k400":  # Kinetics' test.csv carries labels too; Something-Something's test list does not
        assert {r.label for r in reader.split("test").records} == {-1}


def test_sthv2_labels_follow_the_template_of_each_entry(footage_dataset):
    root = footage_dataset("sthv2")
    labels = json.loads((root / "labels.json").read_text())
    entries = {e["id"]: e for e in json.loads((root / "train.json").read_text())}
    for record in open_layout("sthv2", root).split("train").records:
        template = entries[record.video_id]["template"]
        assert record.label == int(labels[template.replace("[", "").replace("]", "")])
        assert record.path.name == f"{record.video_id}.webm"


def test_sthv1_labels_follow_line_order_of_the_label_file(footage_dataset):
    root = footage_dataset("sthv1")
    lines = (root / "something-something-v1-labels.csv").read_text().splitlines()
    rows = dict(
        line.split(";") for line in (root / "something-something-v1-train.csv").read_text().splitlines()
    )
    for record in open_layout("sthv1", root).split("train").records:
        assert lines[record.label] == rows[record.video_id]
        assert sorted(p.name for p in record.path.iterdir())[0] == "00001.jpg"


def test_kinetics_finds_clips_flat_and_per_class(footage_dataset):
    flat = open_layout("k400", footage_dataset("k400")).split("val").records
    nested = open_layout("k400", footage_dataset("k400", True)).split("val").records
    assert [r.path.name for r in flat] == [r.path.name for r in nested]
    assert all(r.path.parent.parent.name == "val" for r in nested)
    assert all(r.path.parent.name == sorted(CLASSES)[r.label] for r in nested)


def test_class_names_are_known_before_setup_and_missing_root_is_named(footage_dataset, tmp_path):
    dm = demo_module(footage_dataset("sthv2"))
    assert dm.num_classes == 5 and dm.class_names == CLASSES
    with pytest.raises(DataError, match=str(tmp_path / "nowhere")):
        _ = demo_module(tmp_path / "nowhere").num_classes
    with pytest.raises(DataError, match="root is not set"):
        demo_module("???")


def corrupt_text(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("layout", "damage", "message"),
    [
        (
            "sthv2",
            lambda r: (r / "train.json").write_text('{"id": "1"}'),
            r"train.json:1: .*must be a JSON list",
        ),
        ("sthv2", lambda r: corrupt_text(r / "train.json", "},", "}"), r"train.json:\d+: invalid JSON"),
        (
            "sthv2",
            lambda r: corrupt_text(r / "labels.json", '"1"', '"0"'),
            r"labels.json:3: index 0 .* duplicate",
        ),
        ("sthv2", lambda r: (r / "labels.json").unlink(), r"labels.json: label file not found"),
        (
            "sthv1",
            lambda r: corrupt_text(r / "something-something-v1-labels.csv", "\n", "\n\n"),
            r"labels.csv:2: empty",
        ),
        (
            "k400",
            lambda r: corrupt_text(r / "train.csv", "youtube_id", "yid"),
            r"train.csv:1: header .*youtube_id",
        ),
        ("k400", lambda r: (r / "validate.csv").unlink(), r"validate.csv: split file not found"),
    ],
)
def test_malformed_annotation_files_raise_naming_file_and_line(copied_dataset, layout, damage, message):
    root = copied_dataset(layout)
    damage(root)
    with pytest.raises(DataError, match=message):
        demo_module(root, layout, flip="none").setup("fit")


def append_lines(path, *lines):
    with path.open("a") as handle:
        handle.writelines(f"{line}\n" for line in lines)


def test_bad_records_are_logged_skipped_and_counted(copied_dataset, caplog):
    v1, v2, k400 = copied_dataset("sthv1"), copied_dataset("sthv2"), copied_dataset("k400")
    first_video = json.loads((v2 / "train.json").read_text())[0]["id"]
    append_lines(
        v1 / "something-something-v1-train.csv", "1;too;many", "1;Dancing a jig", "99999;" + CLASSES[0]
    )
    entries = json.loads((v2 / "train.json").read_text())
    entries += ["not an object", {"id": first_video, "template": "Juggling [something]"}]
    (v2 / "train.json").write_text(json.dumps(entries))
    with (k400 / "train.csv").open("a", newline="") as handle:
        csv.writer(handle).writerows(
            [["only", "three", "fields"], [CLASSES[1], "yt000000001", "0", "x", "train"]]
        )
    expected = {
        v1: {"bad_line": 1, "unknown_label": 1, "missing": 1},
        v2: {"bad_entry": 1, "unknown_label": 1},
        k400: {"bad_line": 2},
    }
    for root, layout in ((v1, "sthv1"), (v2, "sthv2"), (k400, "k400")):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="e3dnas.data"):
            dm = demo_module(root, layout, min_failure_samples=1000)
            dm.setup("fit")
        assert dm.skip_counts == expected[root]
        assert dm.skipped == sum(expected[root].values())
        assert len(dm.datasets["train"]) == 20
        lines = [r.getMessage() for r in caplog.records]
        assert sum(line.startswith("skipped ") for line in lines) == dm.skipped
        assert f"train split: skipped {dm.skipped} of {20 + dm.skipped} listed records" in lines[-1]
    # each log line names the file and line (or entry) it skipped
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "train.csv:22: bad_line" in text and "train.csv:23: bad_line" in text


def test_too_many_skipped_records_fail_setup_with_counts_rate_and_threshold(copied_dataset):
    root = copied_dataset("k400")
    for record in open_layout("k400", root).split("train").records[:6]:
        record.path.unlink()  # Kinetics videos disappear: 6 of the 20 training clips are gone
    dm = demo_module(root, "k400", max_failure_rate=0.5, min_failure_samples=1)
    dm.setup("fit")  # tolerated: below the threshold, counted
    assert dm.skip_counts == {"missing": 6}
    strict = demo_module(root, "k400", max_failure_rate=0.1, min_failure_samples=1)
    with pytest.raises(
        DataError, match=r"of 20 train records were skipped.*rate .*% > max_failure_rate 10.0%"
    ):
        strict.setup("fit")


#: Other names in use for the official files: (layout, official name, other name).
OTHER_NAMES = [
    ("k400", "validate.csv", "val.csv"),
    ("sthv2", "labels.json", "something-something-v2-labels.json"),
    ("sthv2", "train.json", "something-something-v2-train.json"),
    ("sthv2", "validation.json", "something-something-v2-validation.json"),
    ("sthv2", "test.json", "something-something-v2-test.json"),
]


def read_all(root, layout):
    """Class names and (video id, label) of every split: what a renaming must not change."""
    reader = open_layout(layout, root)
    splits = {s: [(r.video_id, r.label) for r in reader.split(s).records] for s in ("train", "val", "test")}
    return reader.class_names, splits


@pytest.mark.parametrize("layout", ["k400", "sthv2"])
def test_other_names_of_the_annotation_files_read_the_same(footage_dataset, copied_dataset, layout):
    """Kinetics' CVDF mirror (val.csv) and Something-Something V2's original release
    (something-something-v2-*.json) read exactly as the official names do."""
    expected = read_all(footage_dataset(layout), layout)
    root = copied_dataset(layout)
    renamed = [(official, other) for kind, official, other in OTHER_NAMES if kind == layout]
    for official, other in renamed:
        (root / official).rename(root / other)
    assert not any((root / official).exists() for official, _ in renamed)
    assert read_all(root, layout) == expected
    classes, splits = expected
    assert len(classes) == 5 and len(splits["train"]) == 20 and len(splits["val"]) == 10


@pytest.mark.parametrize(("layout", "official", "other"), OTHER_NAMES)
def test_both_names_of_one_file_are_refused_naming_both(copied_dataset, layout, official, other):
    root = copied_dataset(layout)
    (root / other).write_bytes((root / official).read_bytes())
    reader = open_layout(layout, root)
    with pytest.raises(DataError) as refused:
        _ = reader.class_names
        for split in ("train", "val", "test"):
            reader.split(split)
    message = str(refused.value)
    assert f"both {official} and {other} are present" in message and str(root) in message


def test_a_missing_file_names_the_other_accepted_name(copied_dataset):
    root = copied_dataset("k400")
    (root / "validate.csv").unlink()
    with pytest.raises(DataError, match=r"validate.csv: split file not found \(nor val.csv\)"):
        open_layout("k400", root).split("val")
