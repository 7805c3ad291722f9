"""Every registered model builds, maps clips to logits, and trains for a step."""

from pathlib import Path

import pytest
import torch

from e3dnas.arch import load_arch
from e3dnas.models import MODELS, ModelError, build_model, model_options, model_settings, prepare_model
from e3dnas.models.e3d import InvertedBottleneck3d
from e3dnas.schema import ConfigValueError

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_and_backward(name):
    torch.manual_seed(0)
    arch = load_arch(CONF / "arch" / "e3d_s.yaml")
    model = build_model(name, arch=arch, num_classes=7, frames=4, resolution=64)
    clips = torch.randn(2, 3, 4, 64, 64)
    logits = model(clips)
    assert logits.shape == (2, 7)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(clips[:1]), model(clips[:1]))


def test_e3d_runs_at_odd_sides_with_residual_pooling():
    arch = load_arch(CONF / "arch" / "e3d_m.yaml")
    model = build_model("e3d", arch=arch, num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 2, 90, 90)).shape == (1, 3)


def test_zero_init_makes_residual_blocks_identity_at_start():
    arch = load_arch(CONF / "arch" / "e3d_s.yaml")
    model = build_model("e3d", arch=arch, num_classes=3, zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, InvertedBottleneck3d) and m.has_residual]
    assert blocks and all(torch.count_nonzero(b.project[1].weight) == 0 for b in blocks)
    plain = build_model("e3d", arch=arch, num_classes=3, zero_init_residual=False)
    assert all(
        torch.count_nonzero(b.project[1].weight) > 0
        for b in plain.modules()
        if isinstance(b, InvertedBottleneck3d) and b.has_residual
    )


def test_channels_last_3d_gives_the_same_logits():
    torch.manual_seed(0)
    arch = load_arch(CONF / "arch" / "e3d_s.yaml")
    model = build_model("e3d", arch=arch, num_classes=5).eval()
    clips = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        reference = model(clips)
        fast = prepare_model(model, channels_last_3d=True)(clips.to(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-4)


def test_registry_errors_and_options():
    with pytest.raises(ModelError, match="unknown model 'resnet'"):
        build_model("resnet", num_classes=2)
    with pytest.raises(ConfigValueError, match="needs an architecture"):
        build_model("e3d", num_classes=2)
    with pytest.raises(ModelError, match=r"model\._target_: e3dnas\.models has no 'nope'"):
        build_model("mine", _target_="e3dnas.models.nope", num_classes=2)
    with pytest.raises(ConfigValueError, match=r"^model\.compile: Value 'abc' is not a valid bool"):
        model_settings({"name": "e3d", "compile": "abc"})
    config = {"_target_": "e3dnas.models.e3d.build_e3d", "name": "e3d", "dropout": 0.3, "compile": True}
    assert model_options(config) == {"_target_": "e3dnas.models.e3d.build_e3d", "dropout": 0.3}


@pytest.mark.parametrize(
    ("head", "dropout", "activation", "expected_dropout"),
    [
        ("authors", None, torch.nn.SiLU, 0.2),
        ("x3d", None, torch.nn.ReLU, 0.5),
        ("authors", 0.3, torch.nn.SiLU, 0.3),
    ],
)
def test_classifier_heads(head, dropout, activation, expected_dropout):
    """The authors' deploy head (Swish, dropout 0.2) by default, X3D's (ReLU, 0.5) on request."""
    arch = load_arch(CONF / "arch" / "e3d_s.yaml")
    model = build_model("e3d", arch=arch, num_classes=4, head=head, dropout=dropout, classifier_hidden=96)
    layers = list(model.classifier)
    assert [type(m) for m in layers[2:]] == [torch.nn.Linear, activation, torch.nn.Dropout, torch.nn.Linear]
    assert layers[2].out_features == 96 and layers[4].p == expected_dropout


def test_default_model_config_is_the_authors_head_with_zero_init():
    import yaml

    cfg = yaml.safe_load((CONF / "model" / "e3d.yaml").read_text())
    model = build_model(
        cfg["name"], arch=load_arch(CONF / "arch" / "e3d_s.yaml"), num_classes=3, **model_options(cfg)
    )
    assert isinstance(model.classifier[3], torch.nn.SiLU)
    blocks = [m for m in model.modules() if isinstance(m, InvertedBottleneck3d) and m.has_residual]
    assert blocks and all(torch.count_nonzero(b.project[1].weight) == 0 for b in blocks)
    with pytest.raises(ValueError, match=r"model\.head must be one of authors, x3d, got 'mlp'"):
        build_model("e3d", arch=load_arch(CONF / "arch" / "e3d_s.yaml"), num_classes=3, head="mlp")


def test_x3d_sizes_share_one_config_and_refuse_a_crop_under_their_stride():
    from hydra import compose, initialize_config_dir

    from e3dnas.configs import CONF_DIR

    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        sizes = {
            name: compose("train", overrides=[f"model={name}"]).model for name in MODELS if name != "e3d"
        }
    for name, cfg in sizes.items():
        assert cfg.name == name and cfg.size == name.removeprefix("x3d_")
        assert cfg._target_ == "e3dnas.models.x3d.build_x3d"
    with pytest.raises(
        ConfigValueError, match="X3D strides by 32, so it needs a resolution of at least 32, got 8"
    ):
        build_model("x3d_xs", num_classes=2, frames=4, resolution=8)
