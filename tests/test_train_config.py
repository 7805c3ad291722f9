"""A training config that cannot work fails in one line, exit 2, before the run starts."""

from pathlib import Path

import pytest
import torch

from e3dnas.train.errors import ConfigError
from train_helpers import ROOT, cli, compose_cfg


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
            "dataset.layout: unknown layout 'sthv3' (known: sthv1, sthv2, k400, folder;",
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

    from e3dnas.train.errors import config_errors

    cfg = compose_cfg("train", "+experiment=demo", override)
    with pytest.raises(ConfigError) as refused, config_errors("trainer"):
        instantiate(cfg.trainer)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
