"""The folder-per-class layout on real human actions (arid6): classes from folder names, a seeded draw per
class (by group when asked), train/ and val/ folders honoured, one-line errors, prepared copies, and
evaluation of a checkpoint on a folder."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from e3dnas.configs import CONF_DIR
from e3dnas.data import DataError, VideoDataModule
from e3dnas.data.config import DatasetConfig, DatasetSettingError
from e3dnas.data.layouts import open_layout
from e3dnas.data.prepare import PrepareSettings, prepare
from e3dnas.evaluate.run import evaluate
from e3dnas.train.run import train

ROOT = Path(__file__).resolve().parents[1]
SUBJECT = r"_(\d+)_"


def link_clips(arid6: Path, target: Path, clips: dict[str, slice]) -> Path:
    """``target/<class>/`` holding symlinks to the clips ``clips[class]`` (in name order) of arid6."""
    for class_name, chosen in clips.items():
        (target / class_name).mkdir(parents=True)
        for video in sorted((arid6 / class_name).iterdir())[chosen]:
            (target / class_name / video.name).symlink_to(video)
    return target


def sides(layout) -> dict[str, set[str]]:
    return {name: {r.video_id for r in layout.split(name).records} for name in ("train", "val")}


@pytest.fixture
def three_classes(arid6, tmp_path) -> Path:
    """Jump, Sit, Walk × 5 clips, with a file at the root and one in a class folder that are not videos."""
    root = link_clips(arid6, tmp_path / "three", {name: slice(0, 5) for name in ("Walk", "Jump", "Sit")})
    (root / "README.txt").write_text("not a video")
    (root / "Jump" / "notes.txt").write_text("not a video")
    return root


def test_classes_are_sorted_folder_names_and_the_draw_is_seeded(three_classes, caplog):
    with caplog.at_level(logging.INFO, logger="e3dnas.data"):
        layout = open_layout("folder", three_classes)
        drawn = sides(layout)
    assert layout.class_names == ["Jump", "Sit", "Walk"]
    assert "ignored 2 entries that are not videos (Jump/notes.txt, README.txt)" in caplog.text
    every = {f"{c}/{p.name}" for c in layout.class_names for p in (three_classes / c).glob("*.mp4")}
    assert drawn["train"] | drawn["val"] == every and not drawn["train"] & drawn["val"]
    val = layout.split("val").records
    assert sorted(r.video_id.split("/")[0] for r in val) == ["Jump", "Sit", "Walk"]  # round(0.2 × 5) each
    assert all(layout.class_names[r.label] == r.path.parent.name for r in val)
    assert sides(open_layout("folder", three_classes)) == drawn
    assert sides(open_layout("folder", three_classes, split_seed=1)) != drawn
    # a class added later leaves the draw of the others as it was
    (three_classes / "Zoom").mkdir()
    (three_classes / "Zoom" / "a.mkv").symlink_to(next((three_classes / "Jump").glob("*.mp4")).resolve())
    (three_classes / "Zoom" / "b.avi").symlink_to(next((three_classes / "Sit").glob("*.mp4")).resolve())
    grown = sides(open_layout("folder", three_classes))
    assert {v for v in grown["val"] if not v.startswith("Zoom/")} == drawn["val"]
    assert len([v for v in grown["val"] if v.startswith("Zoom/")]) == 1  # mkv and avi are videos too


def test_group_split_keeps_each_subject_on_one_side(arid6):
    layout = open_layout("folder", arid6, group_pattern=SUBJECT)
    assert layout.class_names == ["Jump", "Run", "Sit", "Stand", "Turn", "Walk"]
    records = {name: layout.split(name).records for name in ("train", "val")}
    assert len(records["train"]) + len(records["val"]) == 150
    for label, class_name in enumerate(layout.class_names):
        subjects = {
            name: {re.search(SUBJECT, r.path.name).group(1) for r in rs if r.label == label}
            for name, rs in records.items()
        }
        assert subjects["train"] and subjects["val"], class_name
        assert not subjects["train"] & subjects["val"], class_name
    assert sides(open_layout("folder", arid6, group_pattern=SUBJECT)) == sides(layout)


def test_bad_group_patterns_and_settings_fail_in_one_line(arid6, tmp_path):
    root = link_clips(arid6, tmp_path / "d", {"Jump": slice(0, 3), "Sit": slice(0, 3)})
    with pytest.raises(
        DataError, match=re.escape(r"Jump_11_1.mp4: dataset.group_pattern 'x(\d+)x' does not match")
    ):
        open_layout("folder", root, group_pattern=r"x(\d+)x").split("train")
    with pytest.raises(
        DataError, match=r"/d/Jump: dataset.group_pattern finds one group \(11\) in class 'Jump'"
    ):
        open_layout("folder", root, group_pattern=SUBJECT).split("val")
    for field, value in [("group_pattern", "no group"), ("group_pattern", "(("), ("val_fraction", 0)]:
        with pytest.raises(DatasetSettingError, match=f"dataset.{field} must be"):
            DatasetConfig(layout="folder", root=str(root), **{field: value})
    with pytest.raises(DatasetSettingError, match=r"dataset\.val_fraction must be a number in \(0, 1\]"):
        DatasetConfig(layout="folder", root=str(root), val_fraction=1.5)


def test_train_and_val_folders_are_the_splits(arid6, tmp_path):
    root = tmp_path / "split"
    link_clips(arid6, root / "train", {"Run": slice(0, 4), "Turn": slice(0, 4)})
    link_clips(arid6, root / "val", {"Turn": slice(4, 6)})  # a subset of the classes is fine
    layout = open_layout("folder", root, group_pattern=SUBJECT)  # no draw: the pattern is not used
    assert layout.class_names == ["Run", "Turn"]
    assert len(layout.split("train").records) == 8
    val = layout.split("val").records
    assert [r.video_id for r in val] == [f"Turn/{p.name}" for p in sorted((root / "val" / "Turn").iterdir())]
    assert {r.label for r in val} == {1}
    link_clips(arid6, root / "val", {"Walk": slice(0, 1)})
    with pytest.raises(
        DataError, match=r"val/Walk: class folder 'Walk' is not one of the 2 classes \(Run, Turn\)"
    ):
        open_layout("folder", root).split("val")


def test_bad_folders_fail_in_one_line(arid6, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=f"{empty}: no class folders"):
        _ = open_layout("folder", empty).class_names
    (empty / "clip.mp4").write_bytes(b"")  # a video at the root belongs to no class
    with pytest.raises(DataError, match="no class folders"):
        _ = open_layout("folder", empty).class_names
    with pytest.raises(DataError, match=f"{tmp_path / 'nowhere'}: dataset folder not found"):
        _ = open_layout("folder", tmp_path / "nowhere").class_names
    root = link_clips(arid6, tmp_path / "r", {"Jump": slice(0, 2), "Sit": slice(0, 1)})
    with pytest.raises(DataError, match=f"{root / 'Sit'}: one video cannot fill both train and val"):
        open_layout("folder", root).split("train")
    (root / "Stand").mkdir()
    (root / "Stand" / "notes.txt").write_text("")
    with pytest.raises(DataError, match=f"{root / 'Stand'}: class folder holds no videos"):
        open_layout("folder", root).split("train")
    with pytest.raises(DataError, match="test split only as a test/ folder"):
        open_layout("folder", root).split("test")
    with pytest.raises(DataError, match="val_fraction=1 puts every video in val"):
        open_layout("folder", root, val_fraction=1.0).split("train")


def test_conf_and_datamodule_read_real_clips(three_classes):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["dataset=folder", f"dataset.root={three_classes}"])
    assert (cfg.dataset.layout, cfg.dataset.sampling, cfg.dataset.val_fraction) == ("folder", "segment", 0.2)
    small = {"frames": 4, "resolution": 32, "batch_size": 4, "num_workers": 0, "flip": "plain"}
    dm = VideoDataModule(DatasetConfig(layout="folder", root=str(three_classes), **small))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["clip"].shape[0] == 4 and batch["label"].tolist() != []
    assert len(dm.datasets["val"]) == 3 and dm.num_classes == 3 and dm.skipped == 0


def test_a_broken_video_is_logged_replaced_and_counted(arid6, tmp_path, caplog):
    root = tmp_path / "split"
    link_clips(arid6, root / "train", {"Sit": slice(0, 2), "Walk": slice(0, 2)})
    link_clips(arid6, root / "val", {"Walk": slice(2, 4)})
    (root / "val" / "Walk" / "broken.webm").write_bytes(b"\x1a\x45\xdf\xa3 not really a webm" * 20)
    config = DatasetConfig(layout="folder", root=str(root), frames=4, resolution=32, num_workers=0)
    dm = VideoDataModule(replace(config, min_failure_samples=1000))
    dm.setup("validate")
    with caplog.at_level(logging.WARNING, logger="e3dnas.data"):
        labels = [label for batch in dm.val_dataloader() for label in batch["label"].tolist()]
    assert labels == [1, 1, 1] and dm.skip_counts == {"corrupt": 1}
    assert "broken.webm" in caplog.text


def test_prepared_copy_lists_the_same_records(arid6, tmp_path):
    root = link_clips(arid6, tmp_path / "videos", {"Sit": slice(0, 2), "Walk": slice(0, 2)})
    settings = PrepareSettings(layout="folder", source=str(root), short_side=32, quality=90)
    manifest = prepare(open_layout("folder", root), settings, tmp_path / "copy", progress=False)
    assert manifest["videos"] == 4 and manifest["broken"] == 0
    original, copy = open_layout("folder", root), open_layout("folder", tmp_path / "copy")
    for name in ("train", "val"):
        listed = [(r.video_id, r.label) for r in original.split(name).records]
        assert [(r.video_id, r.label) for r in copy.split(name).records] == listed
    dm = VideoDataModule(
        DatasetConfig(layout="folder", root=str(tmp_path / "copy"), frames=4, resolution=32, num_workers=0)
    )
    assert dm.storage == "frames"
    dm.setup("validate")
    assert next(iter(dm.val_dataloader()))["clip"].shape[0] == 2


# --- evaluation of a checkpoint trained on a folder ---------------------------------------------------------

TINY_TRAINING = [
    "dataset=folder",
    "dataset.frames=8",
    "dataset.resolution=56",
    "dataset.batch_size=4",
    "dataset.persistent_workers=false",
    "arch=e3d_s",
    "trainer=cpu",
    "optim=adamw",
    "logger=csv",
    "callbacks.progress_bar=none",
    "trainer.max_epochs=1",
]


def cli(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def folder_checkpoint(arid6, tmp_path_factory) -> Path:
    """E3D-S trained one step on Jump, Sit, Walk × 4 clips (a drawn split)."""
    root = link_clips(
        arid6, tmp_path_factory.mktemp("trained") / "clips", {c: slice(0, 4) for c in ("Jump", "Sit", "Walk")}
    )
    overrides = [*TINY_TRAINING, f"dataset.root={root}", "dataset.num_workers=0", "train.test=false"]
    overrides += ["+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1"]
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    results = train(cfg, tmp_path_factory.mktemp("run"))
    return Path(results["last_checkpoint"])


def eval_cfg(ckpt: Path, root: Path):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("eval", overrides=[f"ckpt={ckpt}", f"dataset.root={root}", "logger=none"])


def predictions(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / "predictions.csv").open()))


def test_evaluate_another_folder_reads_every_video_of_its_classes(arid6, tmp_path, folder_checkpoint):
    other = link_clips(arid6, tmp_path / "other", {"Walk": slice(10, 13), "Jump": slice(10, 12)})
    overrides = [f"dataset.root={other}", "dataset.num_workers=0"]
    metrics = evaluate(eval_cfg(folder_checkpoint, other), tmp_path / "e", overrides)
    rows = predictions(tmp_path / "e")
    assert metrics["videos"] == len(rows) == 5  # a subset of the checkpoint's classes, every video
    assert {(row["label"], row["label_name"]) for row in rows} == {("0", "Jump"), ("2", "Walk")}
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["videos"] == 5
    assert (tmp_path / "e" / "confusion.png").is_file()
    # with split folders, only val/ is evaluated
    split = tmp_path / "split"
    link_clips(arid6, split / "train", {"Sit": slice(10, 12)})
    link_clips(arid6, split / "val", {"Sit": slice(12, 15)})
    evaluate(
        eval_cfg(folder_checkpoint, split), tmp_path / "v", [f"dataset.root={split}", "dataset.num_workers=0"]
    )
    assert [row["video_id"].split("/")[0] for row in predictions(tmp_path / "v")] == ["Sit"] * 3


def test_evaluating_another_folder_names_it_and_the_chance_level(arid6, tmp_path, folder_checkpoint):
    """A separate test folder is read whole: metrics.json and the printed line say "all" of that folder
    (not "val"), beside the chance level of the checkpoint's 3 classes."""
    other = link_clips(arid6, tmp_path / "heldout", {"Walk": slice(10, 13), "Sit": slice(10, 12)})
    run_dir = tmp_path / "e"
    run = cli(
        "e3dnas.evaluate",
        f"ckpt={folder_checkpoint}",
        f"dataset.root={other}",
        "dataset.num_workers=0",
        "logger=none",
        f"hydra.run.dir={run_dir}",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["split"], metrics["videos"], metrics["root"]) == ("all", 5, str(other))
    assert metrics["chance_top1"] == pytest.approx(1 / 3) and metrics["classes"] == 3
    line = f"5 videos (all of {other}), multi view: top1 {metrics['top1']:.4f}"
    assert line in run.stdout and "; chance 0.3333 (3 classes)" in run.stdout, run.stdout
    assert "test/top1" not in run.stdout  # Lightning's table, which called them test videos


def test_evaluate_the_trained_folder_reads_its_val_side(tmp_path, folder_checkpoint):
    root = Path(torch.load(folder_checkpoint, weights_only=True)["hyper_parameters"]["dataset"]["root"])
    overrides = [f"dataset.root={root}", "dataset.num_workers=0"]
    assert evaluate(eval_cfg(folder_checkpoint, root), tmp_path, overrides)["split"] == "val"
    val = {r.video_id for r in open_layout("folder", root).split("val").records}
    assert {row["video_id"] for row in predictions(tmp_path)} == val and len(val) == 3


def test_evaluate_refuses_an_unknown_class_folder_in_one_line(arid6, tmp_path, folder_checkpoint):
    other = link_clips(arid6, tmp_path / "other", {"Run": slice(0, 2), "Sit": slice(0, 2)})
    run = cli(
        "e3dnas.evaluate", f"ckpt={folder_checkpoint}", f"dataset.root={other}", f"hydra.run.dir={tmp_path}/e"
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip().splitlines() == [
        f"error: {other / 'Run'}: class folder 'Run' is not one of the 3 classes (Jump, Sit, Walk)"
    ]


@pytest.mark.slow
def test_prepare_train_and_evaluate_a_folder_from_the_command_line(arid6, tmp_path):
    """The whole path a user takes: prepare a folder of videos, train on the copy, evaluate on it."""
    clips = link_clips(
        arid6,
        tmp_path / "clips",
        {c: slice(2, None, 5) for c in ("Jump", "Run", "Sit", "Stand", "Turn", "Walk")},
    )
    copy = tmp_path / "copy"
    prepared = cli(
        "e3dnas.data.prepare", "dataset=folder", f"dataset.root={clips}", f"out={copy}", "workers=2"
    )
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    assert "30 videos prepared now" in prepared.stdout
    split = [f"dataset.root={copy}", f"dataset.group_pattern='{SUBJECT}'", "dataset.val_fraction=0.3"]
    run_dir = tmp_path / "train"
    trained = cli("e3dnas.train", *TINY_TRAINING, *split, "dataset.num_workers=1", f"hydra.run.dir={run_dir}")
    assert trained.returncode == 0, trained.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    evaluated = cli(
        "e3dnas.evaluate",
        f"ckpt={results['best_checkpoint']}",
        f"dataset.root={copy}",
        "logger=none",
        f"hydra.run.dir={tmp_path}/eval",
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    val = open_layout("folder", copy, group_pattern=SUBJECT, val_fraction=0.3).split("val").records
    rows = predictions(tmp_path / "eval")
    assert len(rows) == len(val) == json.loads((tmp_path / "eval" / "metrics.json").read_text())["videos"]
    assert {row["video_id"] for row in rows} == {r.video_id for r in val}
