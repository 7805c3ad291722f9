"""A model and a dataset layout from the user's own package, added with config files alone (the worked
example of docs/extending_training.md, whose files are tests/extension/)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e3dnas.data.layouts import LayoutError, open_layout
from e3dnas.models import ModelError, build_model

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = Path(__file__).parent / "extension"


def test_own_model_and_layout_train_from_the_command_line(tmp_path, footage_dataset):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXTENSION), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "e3dnas.train",
            f"hydra.searchpath=[file://{EXTENSION / 'conf'}]",
            "model=tiny",
            "dataset=folders",
            f"dataset.root={footage_dataset('k400', per_class_folders=True)}",
            "dataset.num_workers=0",
            "logger=csv",
            "callbacks.progress_bar=none",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=1",
            "+trainer.limit_test_batches=1",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        env={**env, "WANDB_MODE": "offline"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["model"] == "tiny" and results["dataset"] == "folders"
    assert results["global_step"] == 2 and "test_top1" in results


def test_unknown_names_list_the_known_ones(tmp_path, monkeypatch):
    with pytest.raises(
        ModelError, match=r"unknown model 'resnet' \(known: e3d, x3d_xs, x3d_s, x3d_m, x3d_l;"
    ):
        build_model("resnet", num_classes=2)
    with pytest.raises(LayoutError, match=r"unknown layout 'folders' \(known: folder, k400, sthv1, sthv2;"):
        open_layout("folders", tmp_path)
    with pytest.raises(LayoutError, match=r"dataset\.layout: my_videos has no 'Missing'"):
        monkeypatch.syspath_prepend(str(EXTENSION))
        open_layout("my_videos.Missing", tmp_path)
    model = build_model("tiny", _target_="my_videos.tiny_net", num_classes=3, width=4)
    assert model[-1].out_features == 3


def test_model_options_are_checked_against_the_builder(monkeypatch):
    """The plug-in rule: a typo or a wrong type is one line naming model.<option>, before building."""
    monkeypatch.syspath_prepend(str(EXTENSION))
    with pytest.raises(
        ModelError, match=r"^model\.widht: unknown option of my_videos\.tiny_net \(its options: width\)"
    ):
        build_model("tiny", _target_="my_videos.tiny_net", num_classes=3, widht=4)
    with pytest.raises(ModelError, match=r"^model\.width: Value 'wide' of type 'str' could not be converted"):
        build_model("tiny", _target_="my_videos.tiny_net", num_classes=3, width="wide")
