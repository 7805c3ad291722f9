"""A training config that cannot work fails in one line, exit 2, before the run starts."""

import shutil
from pathlib import Path

import pytest
import torch

from e3dnas.schema import ConfigValueError
from train_helpers import FOLDER, ROOT, cli, compose_cfg, error_lines


def _write_bad_arch(tmp_path: Path) -> Path:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "conf" / "arch" / "e3d_s.yaml").read_text().replace("depth: 3", "depth: -3"))
    return bad


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["arch=/nonexistent/best.yaml"], "/nonexistent/best.yaml: no such architecture file"),
        (["arch=BAD"], "stages[0].depth: must be positive, got -3"),
        (["arch=e3d_s", "dataset.root=/nonexistent/demo"], "/nonexistent/demo"),
        ([], "model=e3d needs an architecture"),
        (["arch=e3d_x"], "unknown arch 'e3d_x' (available: e3d_l, e3d_m, e3d_s"),
        (["arch=e3d_s", "dataset.flip=plain"], "dataset.flip: 'plain' changes labels on sthv2"),
        (
            ["arch=e3d_s", "dataset.resolution=16"],
            "dataset: input 8×16² is too small: the network strides by 32",
        ),
        (["arch=e3d_s", "optim=adam"], "unknown optim 'adam' (available: adamw, sgd;"),
        (
            ["arch=e3d_s", "optim._target_=torch.optim.Adamm"],
            "optim: Error locating target 'torch.optim.Adamm'",
        ),
        (["arch=e3d_s", "seed=abc"], "seed: Value 'abc' of type 'str' could not be converted to Integer"),
        (["arch=e3d_s", "dataset.batch_size=0"], "dataset.batch_size must be an integer >= 1, got 0"),
        (
            ["arch=e3d_s", "optim.reference_batch=0"],
            "optim.reference_batch must be a positive integer or null, got 0",
        ),
        (
            ["+experiment=e3d_s_sthv2_from_k400"],
            "train.init_from is required: this recipe fine-tunes a k400 checkpoint",
        ),
        (["arch=e3d_s", "dataset.resolution=0"], "dataset.resolution must be an integer >= 1, got 0"),
        (
            ["arch=e3d_s", "dataset.resolution=8"],
            "feature map would be 0.25 px; use a resolution of at least 32",
        ),
        (
            ["model=x3d_xs", "dataset.resolution=8"],
            "dataset.resolution: X3D strides by 32, so it needs a resolution",
        ),
        (
            ["arch=e3d_s", "dataset.layout=sthv3"],
            "dataset.layout: unknown layout 'sthv3' (known: folder, k400, sthv1, sthv2;",
        ),
        (
            ["model=x3d_xs", "model._target_=my.net"],
            "model._target_: cannot import 'my.net' (no module 'my' on the Python path)",
        ),
        (
            ["arch=e3d_s", "+model.drop=0.1"],
            "model.drop: unknown option of e3dnas.models.e3d.build_e3d (its options: head,",
        ),
        (
            ["model=x3d_xs", "model.dropout=half"],
            "model.dropout: Value 'half' of type 'str' could not be converted to Float",
        ),
        (
            ["arch=e3d_s", "+trainer.epochs=3"],
            "trainer: Trainer.__init__() got an unexpected keyword argument",
        ),
    ],
)
def test_bad_training_config_fails_with_one_line(tmp_path, demo_root, args, message):
    args = [a.replace("BAD", str(_write_bad_arch(tmp_path))) for a in args]
    if not any(a.startswith("dataset.root") for a in args):
        args.append(f"dataset.root={demo_root}")
    run = cli("e3dnas.train", *args, f"hydra.run.dir={tmp_path / 'run'}", "logger=csv")
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and message in lines[0], run.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            "trainer=gpu",
            "trainer: No supported gpu backend found!",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present"),
        ),
        ("trainer.devices=0", "trainer: `Trainer(devices=0)` value is not a valid input using cpu"),
        ("trainer.accelerator=tpu", "trainer: Requirement 'torch_xla"),
    ],
)
def test_lightnings_own_configuration_errors_keep_their_reason(override, message):
    from hydra.utils import instantiate

    from e3dnas.schema import config_errors

    cfg = compose_cfg("train", "+experiment=demo", override)
    with pytest.raises(ConfigValueError) as refused, config_errors("trainer"):
        instantiate(cfg.trainer)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # a mistyped group (was a TypeError traceback) and one added with + (was trained as if not given)
        (["datset.frames=8"], "error: datset: unknown key (known: dataset, model,"),
        (["datset.frames=8"], "train); did you mean dataset?"),
        (["+datset.frames=8"], "+datset.frames=8 adds a key that nothing reads"),
        # a Lightning option the config does not list: how to add it
        (
            ["trainer.limit_train_batches=2"],
            "use +trainer.limit_train_batches=2 to add a Lightning option",
        ),
        # values torch or Lightning refuse after the run dir was made (an OverflowError, a ValueError)
        (["trainer.max_epochs=-1"], "trainer.max_epochs=-1 (no limit) needs a schedule that does not depend"),
        (["trainer.max_epochs=0"], "trainer.max_epochs must be an integer >= 1, or -1 for no limit; got 0"),
        (["optim.lr=-1"], "optim.lr must be a positive number (the rate at optim.reference_batch), got -1"),
        (["optim.weight_decay=-0.1"], "optim.weight_decay must be a number >= 0, got -0.1"),
        (
            ["trainer.max_epochs=2", "scheduler.warmup_epochs=3"],
            "scheduler.warmup_epochs (3) must not exceed trainer.max_epochs (2)",
        ),
        (["scheduler.min_lr=-1"], "scheduler.min_lr must be a number >= 0, got -1"),
    ],
)
def test_a_refused_training_writes_nothing(tmp_path, demo_root, args, message):
    """Each is one line and exit 2 before Hydra makes the run dir (no wandb run, csv/ or arch.yaml)."""
    run_dir = tmp_path / "run"
    run = cli("e3dnas.train", "arch=e3d_s", f"dataset.root={demo_root}", *args, f"hydra.run.dir={run_dir}")
    assert run.returncode == 2, run.stderr
    assert len(error_lines(run)) == 1 and message in error_lines(run)[0], run.stderr
    assert "Traceback" not in run.stderr and not run_dir.exists()


@pytest.mark.parametrize("command", ["e3dnas.search", "e3dnas.evaluate", "e3dnas.export"])
@pytest.mark.parametrize("override", ["datset.frames=8", "+datset.frames=8"])
def test_other_commands_refuse_an_unknown_top_level_key(tmp_path, command, override):
    run = cli(command, override, f"hydra.run.dir={tmp_path / 'run'}")
    assert run.returncode == 2, run.stderr
    assert len(error_lines(run)) == 1 and error_lines(run)[0].startswith("error: datset: unknown key"), (
        run.stderr
    )
    assert not (tmp_path / "run").exists()


def test_a_training_refused_on_its_data_leaves_no_run_dir(tmp_path, grouped_folder):
    """An empty class folder is found when the videos are listed, before any logger opens: one line, and
    no run dir (no wandb run, csv/ or arch.yaml) that looks like a run."""
    root = Path(shutil.copytree(grouped_folder, tmp_path / "videos"))
    (root / "sideways").mkdir()
    run_dir = tmp_path / "run"
    run = cli(
        "e3dnas.train",
        *[o for o in FOLDER if not o.startswith("logger=")],
        "logger=wandb",
        "arch=e3d_s",
        f"dataset.root={root}",
        f"hydra.run.dir={run_dir}",
    )
    assert run.returncode == 2, run.stderr
    lines = error_lines(run)
    assert len(lines) == 1 and "sideways: class folder holds no videos" in lines[0], run.stderr
    assert not run_dir.exists()
