"""VideoDataModule on every layout: batch contract, deterministic multi-view testing, the GPU-transform path,
the yaml configs, and bad samples logged, replaced and counted until the failure rate stops the run."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from e3dnas.configs import CONF_DIR
from e3dnas.data import DataError, VideoDataModule
from e3dnas.data.config import DatasetConfig
from e3dnas.schema import ConfigValueError, read_node

SMALL = {"frames": 4, "resolution": 32, "train_scale": [32, 40], "test_scale": 36, "batch_size": 4}
LAYOUTS = {
    # (layout, per-class folders): extra settings; Kinetics samples densely
    ("sthv1", False): {"flip": "label_pairs"},
    ("sthv2", False): {"flip": "label_pairs"},
    ("k400", False): {"sampling": "dense", "stride": 2, "flip": "plain"},
    ("k400", True): {"sampling": "dense", "stride": 2, "flip": "plain"},
}


def make(root, layout="sthv2", **overrides) -> VideoDataModule:
    return VideoDataModule(
        DatasetConfig(layout=layout, root=root, **{**SMALL, "num_workers": 0, **overrides})
    )


def batches(dm: VideoDataModule, stage: str) -> list[dict]:
    """All batches of a stage, passed through the hooks Lightning calls around the device transfer."""
    loader = {"train": dm.train_dataloader, "val": dm.val_dataloader, "test": dm.test_dataloader}[stage]()
    return [dm.on_after_batch_transfer(dm.on_before_batch_transfer(batch, 0), 0) for batch in loader]


@pytest.mark.parametrize(("layout", "per_class"), list(LAYOUTS))
def test_batches_follow_the_contract_on_every_layout(footage_dataset, layout, per_class):
    dm = make(
        footage_dataset(layout, per_class), layout, test_clips=2, test_crops=3, **LAYOUTS[layout, per_class]
    )
    dm.setup("fit")
    dm.setup("test")
    train, val, test = batches(dm, "train"), batches(dm, "val"), batches(dm, "test")
    assert [len(b["label"]) for b in train] == [4] * 5  # 20 clips, batch 4
    for batch in train + val:
        assert set(batch) == {"clip", "label", "index"}
        assert batch["clip"].dtype == torch.float32 and batch["clip"].shape[1:] == (3, 4, 32, 32)
        assert batch["label"].dtype == torch.int64 and batch["index"].dtype == torch.int64
        assert (batch["label"] >= 0).all() and (batch["label"] < dm.num_classes).all()
    assert sum(len(b["label"]) for b in val) == 10
    assert all(b["clip"].shape[1:] == (6, 3, 4, 32, 32) for b in test)  # 2 clips × 3 crops
    # test reads Kinetics' labelled test.csv (1 clip per class); elsewhere the validation split, whose
    # labels it has (Something-Something's test lists have none); both in order, with their labels
    assert dm.test_split == ("test" if layout == "k400" else "val")
    assert sum(len(b["label"]) for b in test) == (5 if layout == "k400" else 10)
    for stage, stage_batches in (("val", val), ("test", test)):
        records = dm.datasets[stage].records
        for batch in stage_batches:
            assert batch["label"].tolist() == [records[i].label for i in batch["index"]]
    again = batches(dm, "test")
    for first, second in zip(test, again, strict=True):
        assert torch.equal(first["clip"], second["clip"])
    # normalised real pixels: roughly centred, not constant
    clip = torch.cat([b["clip"] for b in train])
    assert -1.5 < clip.mean() < 1.5 and clip.std() > 0.3


def test_gpu_transforms_give_the_same_batches_as_worker_transforms(footage_dataset):
    root = footage_dataset("sthv2")
    results = {}
    for on_device in (False, True):
        dm = make(root, flip="label_pairs", gpu_transforms=on_device)
        dm.setup("fit")
        torch.manual_seed(7)
        results[on_device] = batches(dm, "train")
    for cpu, device in zip(results[False], results[True], strict=True):
        assert torch.equal(cpu["label"], device["label"]) and torch.equal(cpu["index"], device["index"])
        torch.testing.assert_close(cpu["clip"], device["clip"], atol=0, rtol=0)


def test_full_short_side_test_crops_on_workers_and_on_the_device(footage_dataset):
    """X3D's protocol (test_resolution = test_scale): 3 test crops as large as the short side, at that size,
    the same on either path; validation keeps the training resolution."""
    root = footage_dataset("sthv2")
    results = {}
    for on_device in (False, True):
        dm = make(root, test_scale=40, test_resolution=40, test_crops=3, gpu_transforms=on_device)
        dm.setup("test")
        dm.setup("fit")
        results[on_device] = batches(dm, "test")
        assert all(b["clip"].shape[1:] == (3, 4, 32, 32) for b in batches(dm, "val"))
    for cpu, device in zip(results[False], results[True], strict=True):
        assert cpu["clip"].shape[1:] == (3, 3, 4, 40, 40)  # 1 clip × 3 crops
        torch.testing.assert_close(cpu["clip"], device["clip"], atol=0, rtol=0)
    # square footage: a crop as large as the short side is the whole frame, so the three crops coincide
    first = results[False][0]["clip"][0]
    assert torch.equal(first[0], first[1]) and torch.equal(first[1], first[2])


def test_repeated_clips_share_a_decode_but_not_frames_or_views(footage_dataset):
    dm = make(footage_dataset("sthv2"), repeat_clips=2, frames=8)
    dm.setup("fit")
    torch.manual_seed(3)
    train = batches(dm, "train")
    assert [len(b["label"]) for b in train] == [4] * 10  # 2 videos × 2 clips a batch: 20 videos, 10 steps
    indices = torch.cat([b["index"] for b in train])
    assert torch.equal(indices[0::2], indices[1::2])  # a video's clips are neighbours
    assert sorted(indices[0::2].tolist()) == list(range(20))  # every video once per epoch
    for batch in train:
        assert torch.equal(batch["label"][0::2], batch["label"][1::2])  # flip is off: labels are the video's
        assert all(
            not torch.equal(a, b) for a, b in zip(batch["clip"][0::2], batch["clip"][1::2], strict=True)
        )
    with pytest.raises(
        ConfigValueError, match=r"dataset.repeat_clips must divide dataset.batch_size \(4\), got 3"
    ):
        make(footage_dataset("sthv2"), repeat_clips=3)


def compose_dataset(name: str, *overrides: str):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("train", overrides=[f"dataset={name}", *overrides]).dataset


def test_dataset_configs_compose_onto_the_settings_schema(footage_dataset):
    """Every conf/dataset file gives every setting (the schema's defaults under its own values); a mandatory
    root left unset is refused when the settings are read."""
    fields = {f.name for f in dataclasses.fields(DatasetConfig)}
    for name in ("sthv1", "sthv2", "k400"):
        node = compose_dataset(name)
        assert set(node) == fields and node.name == name and node.layout == name
        assert OmegaConf.is_missing(node, "root")
        with pytest.raises(ConfigValueError, match=r"^dataset\.root is missing$"):
            read_node(DatasetConfig, node, "dataset")
    assert compose_dataset("sthv1").test_crops == compose_dataset("sthv2").test_crops == 3
    demo = read_node(DatasetConfig, compose_dataset("demo", f"dataset.root={footage_dataset('sthv2')}"), "")
    dm = VideoDataModule(dataclasses.replace(demo, num_workers=0))
    dm.setup("fit")
    assert dm.num_classes == 5 and next(iter(dm.train_dataloader()))["clip"].shape == (16, 3, 8, 56, 56)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.batch_size=0", "dataset.batch_size must be an integer >= 1, got 0"),
        ("dataset.resolution=0", "dataset.resolution must be an integer >= 1, got 0"),
        ("dataset.test_crops=2", "dataset.test_crops must be 1 or 3, got 2"),
        ("dataset.sampling=random", "dataset.sampling must be one of segment, dense, got 'random'"),
        ("dataset.max_failure_rate=2", "dataset.max_failure_rate must be a number in [0, 1], got 2.0"),
        ("+dataset.frame=8", "dataset.frame: unknown key (known: name, layout, root,"),
    ],
)
def test_out_of_range_settings_name_the_key_and_the_range(override, message):
    with pytest.raises(ConfigValueError) as refused:
        read_node(DatasetConfig, compose_dataset("demo", override), "dataset")
    assert str(refused.value).startswith(message)


def test_plain_flip_is_refused_where_it_changes_labels(footage_dataset):
    with pytest.raises(ConfigValueError, match=r"dataset\.flip: 'plain' changes labels on sthv2"):
        make(footage_dataset("sthv2"), flip="plain")


def damage_videos(root: Path, dm: VideoDataModule) -> dict[str, str]:
    """Break four training videos after setup, one way each; returns path → expected reason."""
    paths = [record.path for record in dm.datasets["train"].records[:4]]
    data = paths[0].read_bytes()
    paths[0].unlink()
    paths[1].write_bytes(b"")
    paths[2].write_bytes(data[: len(data) // 3])
    paths[3].write_bytes(b"\x1a\x45\xdf\xa3 not really a webm" * 20)
    return {
        str(paths[0]): "missing",
        str(paths[1]): "empty",
        str(paths[2]): "corrupt",
        str(paths[3]): "corrupt",
    }


def test_bad_samples_are_logged_replaced_and_counted(copied_dataset, caplog):
    root = copied_dataset("sthv2")
    dm = make(root, min_failure_samples=1000)
    dm.setup("fit")
    expected = damage_videos(root, dm)
    with caplog.at_level(logging.WARNING, logger="e3dnas.data"):
        train = batches(dm, "train")
    assert [len(b["label"]) for b in train] == [4] * 5  # every failure was replaced by another sample
    indices = torch.cat([b["index"] for b in train]).tolist()
    assert not {0, 1, 3} & set(indices)  # a truncated webm may still decode: VP9 streams degrade gracefully
    logged = {r.getMessage().split(": ")[0].removeprefix("skipped "): r.getMessage() for r in caplog.records}
    for path, reason in expected.items():
        if path in logged:
            assert f": {reason}: " in logged[path]
    assert dm.skipped == len(caplog.records) >= 3
    assert set(dm.skip_counts) <= {"missing", "empty", "corrupt"} and dm.skip_counts["missing"] == 1


def test_an_unreadable_frame_folder_is_skipped(copied_dataset, caplog):
    root = copied_dataset("sthv1")
    dm = make(root, "sthv1", min_failure_samples=1000)
    dm.setup("validate")
    folder = dm.datasets["val"].records[2].path
    for frame in folder.iterdir():
        frame.unlink()
    folder.rmdir()
    folder.write_text("a file where the frames should be")
    with caplog.at_level(logging.WARNING, logger="e3dnas.data"):
        val = batches(dm, "val")
    assert sum(len(b["label"]) for b in val) == 10
    assert torch.cat([b["index"] for b in val]).tolist() == [0, 1, 3, 3, 4, 5, 6, 7, 8, 9]  # the next one
    assert dm.skip_counts == {"unreadable": 1} and str(folder) in caplog.text


def test_failures_in_workers_are_counted_and_the_rate_stops_the_epoch(copied_dataset):
    root = copied_dataset("sthv2")
    dm = make(root, num_workers=2, max_failure_rate=0.05, min_failure_samples=8, batch_size=2)
    dm.setup("fit")
    damage_videos(root, dm)
    with pytest.raises(DataError) as caught:
        batches(dm, "train")
    message = str(caught.value)
    failures = re.search(r"(\d+) of (\d+) train samples failed to load in epoch 0 \((.*)\)", message)
    assert failures and int(failures[1]) >= 1 and int(failures[2]) >= 8
    assert "> max_failure_rate 5.0%" in message and "WARNING lines of logger 'e3dnas.data'" in message
    # counted in the workers, read here; the loader may have gone on after the check that raised
    assert dm.skipped >= int(failures[1]) and set(dm.skip_counts) <= {"missing", "empty", "corrupt"}


class Probe(L.LightningModule):
    """The smallest model that consumes the batches the way the trainer does."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.head = torch.nn.Linear(3, classes)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.head(clip.mean(dim=(2, 3, 4)))

    def training_step(self, batch: dict, _: int) -> torch.Tensor:
        assert batch["clip"].dtype == torch.float32 and batch["clip"].dim() == 5
        return torch.nn.functional.cross_entropy(self(batch["clip"]), batch["label"])

    def test_step(self, batch: dict, _: int) -> None:
        assert batch["clip"].dim() == 6

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_runs_the_hooks_and_surfaces_the_data_error(copied_dataset, tmp_path):
    root = copied_dataset("sthv2")
    dm = make(root, gpu_transforms=True, test_crops=3, max_failure_rate=0.05, min_failure_samples=8)
    options = {
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
    }
    trainer = L.Trainer(max_epochs=1, default_root_dir=tmp_path, limit_val_batches=0, **options)
    trainer.fit(Probe(dm.num_classes), datamodule=dm)
    trainer.test(Probe(dm.num_classes), datamodule=dm, verbose=False)
    damage_videos(root, dm)
    with pytest.raises(DataError, match="failure rate"):
        L.Trainer(max_epochs=2, default_root_dir=tmp_path, limit_val_batches=0, **options).fit(
            Probe(dm.num_classes), datamodule=dm
        )
