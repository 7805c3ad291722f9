"""Fine-tuning (train.init_from): weights copied, a new head for other classes, another network refused."""

import logging
import re
from pathlib import Path

import pytest
import torch

from e3dnas.schema import ConfigValueError
from e3dnas.train.finetune import init_from
from e3dnas.train.run import train
from train_helpers import SMALL, checkpoint_weights, cli, compose_cfg, small_module


def test_init_from_copies_every_weight_of_a_matching_checkpoint(small_checkpoint, caplog):
    module = small_module(5)
    with caplog.at_level(logging.INFO, logger="e3dnas.train"):
        init_from(module, str(small_checkpoint))
    saved = torch.load(small_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert saved.keys() == module.state_dict().keys()
    assert all(torch.equal(value, saved[name]) for name, value in module.state_dict().items())
    assert not any("re-initialised" in record.getMessage() for record in caplog.records)
    with pytest.raises(ConfigValueError, match=r"train.init_from: no checkpoint at /nonexistent.ckpt"):
        init_from(module, "/nonexistent.ckpt")


def test_init_from_fine_tunes_on_other_classes_from_the_checkpoint(
    tmp_path, small_checkpoint, footage_dataset, caplog
):
    """A new run (its own step count) whose backbone starts at the checkpoint's weights; the 5-class final
    layer is replaced by a fresh 4-class one, in one log line. A tiny learning rate keeps the weights where
    they started, so the run's checkpoint shows where that was."""
    overrides = [
        *SMALL,
        f"dataset.root={footage_dataset(task='playback')}",
        f"train.init_from={small_checkpoint}",
        "optim.lr=1e-12",
        "trainer.max_epochs=1",
        "train.test=false",
        "+trainer.limit_train_batches=1",
    ]
    with caplog.at_level(logging.INFO, logger="e3dnas.train"):
        results = train(compose_cfg("train", *overrides), tmp_path)
    assert results["global_step"] == 1 and results["epochs"] == 1  # not the checkpoint's 2: a new training
    assert results["init_from"] == str(small_checkpoint)
    # the training's own record (an earlier in-process command's console tee may log its printed copy too)
    said = [r.getMessage() for r in caplog.records if r.name == "e3dnas.train"]
    lines = [line for line in said if "re-initialised" in line]
    assert lines == [
        f"train.init_from: {small_checkpoint} has 5 classes, this dataset 4: "
        "final layer model.classifier.5 re-initialised"
    ]
    before, after = checkpoint_weights(small_checkpoint), checkpoint_weights(Path(results["last_checkpoint"]))
    head = {"model.classifier.5.weight", "model.classifier.5.bias"}
    assert after["model.classifier.5.weight"].shape == (4, before["model.classifier.5.weight"].shape[1])
    for name in before.keys() - head:
        assert torch.allclose(after[name], before[name], atol=1e-6), name
    fresh = small_module(4).state_dict()
    assert not torch.allclose(fresh["model.backbone.0.0.0.weight"], before["model.backbone.0.0.0.weight"])


def test_init_from_another_network_fails_with_one_line(tmp_path, small_checkpoint, footage_dataset):
    run = cli(
        "e3dnas.train",
        *SMALL,
        "arch=e3d_m",
        f"dataset.root={footage_dataset()}",
        f"train.init_from={small_checkpoint}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"error: train.init_from: {small_checkpoint} does not fit this network: ")
    assert re.search(
        r"parameter model\.\S+ has shape \(.*\) in the checkpoint, \(.*\) in this network", lines[0]
    )
