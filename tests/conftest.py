import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from slurm_cluster import slurm_cluster  # noqa: F401  (session fixture: a real single-node Slurm)

ROOT = Path(__file__).resolve().parents[1]

# --- real human actions: ../shared/data/arid6 beside the repository (never committed) -----------------------


@pytest.fixture(scope="session")
def arid6() -> Path:
    """The 150 real action clips ``<Class>/<Class>_<subject>_<n>.mp4`` (6 classes); ``E3DNAS_ARID6`` points
    elsewhere (a worktree beside the shared folder). Missing is a failure, not a skip: CI always has them."""
    path = Path(os.environ.get("E3DNAS_ARID6") or ROOT.parent / "shared" / "data" / "arid6")
    if not (path / "Jump").is_dir():
        pytest.fail(f"{path}: the arid6 clips are missing (set E3DNAS_ARID6 to their folder)")
    return path


# --- e3dnas.data: datasets in the official layouts, built once per session from the real footage -----------

#: A small demo build (5 camera-motion classes, 16-frame 64×64 clips): 20 train, 10 val, 5 test clips.
SMALL_FOOTAGE_DATASET = {"train_per_class": 4, "val_per_class": 2, "test_per_class": 1}


@pytest.fixture(scope="session")
def footage_dataset(tmp_path_factory) -> Callable[..., Path]:
    """``footage_dataset(layout="sthv2", per_class_folders=False, **demo_params)`` → root of the demo clips
    written in that official layout ("sthv1", "sthv2", "k400"); built once per session per parameter set.
    Treat it as read-only: copy it (``copied_dataset``) before damaging files."""
    from e3dnas.data.demo import build_demo

    built: dict[tuple, Path] = {}

    def build(layout: str = "sthv2", per_class_folders: bool = False, **params) -> Path:
        params = {**SMALL_FOOTAGE_DATASET, **params}
        key = (layout, per_class_folders, tuple(sorted(params.items())))
        if key not in built:
            out = tmp_path_factory.mktemp(f"footage-{layout}") / "data"
            built[key] = build_demo(out, layout=layout, per_class_folders=per_class_folders, **params)
        return built[key]

    return build


@pytest.fixture
def copied_dataset(footage_dataset, tmp_path) -> Callable[..., Path]:
    """Like ``footage_dataset`` but a private copy under ``tmp_path`` that a test may modify."""

    def copy(layout: str = "sthv2", per_class_folders: bool = False, **params) -> Path:
        return Path(shutil.copytree(footage_dataset(layout, per_class_folders, **params), tmp_path / layout))

    return copy


# --- e3dnas.train: the demo set and a small trained checkpoint the training tests share -----------------


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    from e3dnas.data.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("demo") / "demo")


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory, footage_dataset) -> Path:
    """last.ckpt of E3D-S trained 2 epochs × 1 step on the 5-class camera-motion set."""
    from e3dnas.train.run import train
    from train_helpers import SMALL, compose_cfg

    run = tmp_path_factory.mktemp("small-train")
    overrides = [*SMALL, f"dataset.root={footage_dataset()}", "trainer.max_epochs=2", "train.test=false"]
    results = train(compose_cfg("train", *overrides, "+trainer.limit_train_batches=1"), run)
    assert results["global_step"] == 2
    return Path(results["last_checkpoint"])


@pytest.fixture(scope="session")
def grouped_folder(tmp_path_factory, footage_dataset) -> Path:
    """The small footage set as a folder layout ``<class>/<class>_g<n>_<id>.webm`` (3 groups per class, as
    the subject of ``_g(\\d+)_`` in a real set): a training draws its val side by group."""
    import json

    source = footage_dataset()
    root = tmp_path_factory.mktemp("grouped") / "folder"
    entries = [
        *json.loads((source / "train.json").read_text()),
        *json.loads((source / "validation.json").read_text()),
    ]
    counts: dict[str, int] = {}
    for entry in entries:
        name = entry["template"].split()[3]  # Holding the camera <still|left|…> while filming …
        n = counts[name] = counts.get(name, 0) + 1
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / f"{entry['id']}.webm", folder / f"{name}_g{n % 3}_{entry['id']}.webm")
    return root
