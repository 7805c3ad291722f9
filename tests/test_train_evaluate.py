"""Evaluating a trained checkpoint: agrees with the training, writes predictions, refuses clearly."""

import csv
import json
from pathlib import Path

import pytest
import torch

from e3dnas.data.demo import build_demo
from e3dnas.evaluate.run import evaluate
from e3dnas.records import SCHEMA_VERSION
from e3dnas.schema import ConfigValueError
from e3dnas.train.run import train
from train_helpers import QUICK, cli, compose_cfg


def test_evaluate_reproduces_the_trainers_val_accuracy(tmp_path, demo_root):
    trained = train(
        compose_cfg(
            "train",
            *QUICK,
            f"dataset.root={demo_root}",
            "arch=e3d_s",
            "trainer.max_epochs=2",
            "+trainer.limit_train_batches=4",
            "train.test=false",
        ),
        tmp_path / "train",
    )
    cfg = compose_cfg(
        "eval",
        f"ckpt={trained['best_checkpoint']}",
        f"dataset.root={demo_root}",
        "dataset.num_workers=0",
        "dataset.persistent_workers=false",
        "views=single",
    )
    evaluated = evaluate(cfg, tmp_path / "eval")
    assert evaluated["top1"] == pytest.approx(trained["val_top1"], abs=1e-6)
    assert (evaluated["frames"], evaluated["resolution"]) == (trained["frames"], trained["resolution"])
    # No dataset on the command line: the checkpoint's own data config (root included) is used.
    bare = compose_cfg("eval", f"ckpt={trained['best_checkpoint']}", "views=single", "dataset.root=/nowhere")
    recorded = evaluate(bare, tmp_path / "eval2", ["views=single", "dataset.num_workers=0"])
    assert recorded["root"] == str(demo_root) and recorded["top1"] == evaluated["top1"]
    with pytest.raises(ConfigValueError, match="input 8×16² is too small"):
        evaluate(bare, tmp_path / "eval3", ["dataset.resolution=16"])
    videos = len(json.loads((demo_root / "validation.json").read_text()))
    assert evaluated["videos"] == videos
    rows = (tmp_path / "eval" / "per_class.csv").read_text().splitlines()
    assert rows[0] == "class_index,class_name,support,correct,top1" and len(rows) == 6
    assert sum(int(r.split(",")[2]) for r in rows[1:]) == videos
    assert (tmp_path / "eval" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_refuses_a_dataset_with_other_classes(tmp_path, demo_root):
    trained = train(
        compose_cfg(
            "train",
            *QUICK,
            f"dataset.root={demo_root}",
            "arch=e3d_s",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1",
            "train.test=false",
        ),
        tmp_path / "train",
    )
    other = build_demo(tmp_path / "playback", task="playback")
    run = cli(
        "e3dnas.evaluate",
        f"ckpt={trained['best_checkpoint']}",
        f"dataset.root={other}",
        f"hydra.run.dir={tmp_path}/e",
    )
    assert run.returncode == 2
    assert "was trained for 5 classes, but dataset demo" in run.stderr and "has 4" in run.stderr
    missing = cli(
        "e3dnas.evaluate",
        f"ckpt={tmp_path}/none.ckpt",
        f"dataset.root={demo_root}",
        f"hydra.run.dir={tmp_path}/e",
    )
    assert missing.returncode == 2 and "ckpt: no checkpoint at" in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "error: ckpt is missing"),
        (["ckpt=README.md"], "error: ckpt: README.md is not an e3dnas training checkpoint (UnpicklingError)"),
        (["ckpt=conf/train.yaml", "views=all"], "error: views must be one of multi, single, got 'all'"),
    ],
)
def test_evaluate_refuses_a_bad_command_line_in_one_line(tmp_path, args, message):
    run = cli("e3dnas.evaluate", *args, f"hydra.run.dir={tmp_path}")
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [message], run.stderr


def test_evaluate_writes_one_prediction_per_video_that_reproduces_top1(
    tmp_path, small_checkpoint, footage_dataset
):
    root = footage_dataset()
    overrides = [
        f"ckpt={small_checkpoint}",
        f"dataset.root={root}",
        "dataset.num_workers=0",
        "dataset.persistent_workers=false",
        "dataset.test_clips=2",  # softmax averaged over 2 views per video
    ]
    # the command line's dataset.* fields go on top of the checkpoint's data config
    metrics = evaluate(compose_cfg("eval", *overrides), tmp_path, overrides)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"schema_version": SCHEMA_VERSION} | metrics
    # the demo's crops of 56 px from a 64 px short side, not X3D's full-short-side crops
    assert metrics["protocol"] == {
        "name": "inner_crop",
        "clips": 2,
        "crops": 1,
        "short_side": 64.0,
        "crop": 56,
    }
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    videos = {entry["id"] for entry in json.loads((root / "validation.json").read_text())}
    assert len(rows) == len(videos) == metrics["videos"]
    assert {row["video_id"] for row in rows} == videos
    correct = sum(row["predicted"] == row["label"] for row in rows)
    assert correct / len(rows) == pytest.approx(metrics["top1"], abs=1e-6)
    names = torch.load(small_checkpoint, weights_only=True)["hyper_parameters"]["class_names"]
    for row in rows:
        assert Path(row["path"]).name == f"{row['video_id']}.webm"
        assert row["label_name"] == names[int(row["label"])]
        assert row["predicted_name"] == names[int(row["predicted"])]
        assert row["top1_class"] == row["predicted"]
        probs = [float(row[f"top{rank}_prob"]) for rank in range(1, 6)]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert len({row[f"top{rank}_class"] for rank in range(1, 6)}) == 5
