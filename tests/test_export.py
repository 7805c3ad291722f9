"""Export of a trained searched network: every format folds BatchNorm, loads back, matches the eager
network and is timed; settings never share a folder; bad input exits 2 with one line."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import onnx
import onnxruntime
import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn
from torch.utils.data import DataLoader

from e3dnas.arch import ArchBatch, arch_to_dict
from e3dnas.budget import Budget
from e3dnas.configs import CONF_DIR, read_conf
from e3dnas.errors import E3DError
from e3dnas.export import run as export_run
from e3dnas.export.errors import ExportError
from e3dnas.export.fold import fold_batchnorm
from e3dnas.export.outputs import RECORD, claim
from e3dnas.export.run import export as export_job
from e3dnas.export.run import export_settings
from e3dnas.schema import ConfigValueError
from e3dnas.search import ScorerSpec, SearchProblem, SearchSettings, run_search
from e3dnas.train.checkpoint import load_checkpoint
from e3dnas.train.module import ClipClassifier

ROOT = Path(__file__).resolve().parents[1]
FRAMES, SIDE = 4, 32
QUICK = ["warmup=1", "runs=3"]

pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")


def export(cfg):
    """Read and run an export as its command does."""
    return export_job(export_settings(cfg))


def compose_cfg(name: str, *overrides: str):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides))


#: The data config the checkpoint records (what export.json passes on for deployment).
DATA = {"mean": [0.45] * 3, "std": [0.225] * 3, "sampling": "segment", "stride": 1, "batch_size": 2}
#: Evaluate's test protocol under that config (default 1 clip × 1 crop at short side 32 · 8/7).
PREPROCESSING = {
    "decode_short_side": 37,
    "sampling": "segment",
    "frames": FRAMES,
    "stride": 1,
    "clips": 1,
    "short_side": pytest.approx(SIDE * 8 / 7),
    "crop": SIDE,
    "positions": [0.5],
    "resize": "bilinear, antialiased (torchvision resize of uint8 frames)",
    "mean": [0.45] * 3,
    "std": [0.225] * 3,
    "aggregate": "mean softmax over views",
}


def file_metadata(path: Path) -> dict:
    """The metadata an exported file carries, read with each runtime's own API."""
    if path.suffix == ".onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        stored = session.get_modelmeta().custom_metadata_map
    elif path.suffix == ".pt2":
        stored = {key: "" for key in ("input", "preprocessing", "classes")}
        torch.export.load(path, extra_files=stored)
    else:
        stored = {key: "" for key in ("input", "preprocessing", "classes")}
        torch.jit.load(path, _extra_files=stored)
    return {key: json.loads(value) for key, value in stored.items()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A Lightning checkpoint of a network searched at the demo budget shrunk to 4×32² clips and 20 layers,
    trained one step, its BatchNorms then given a long training's look (seeded random statistics and affine
    parameters), so that folding them changes every convolution and a wrong fold shows in the logits."""
    tiny = {"frames": FRAMES, "resolution": SIDE, "layers": 20, "flops": 2e7}
    budget = Budget.from_config(read_conf("budget", "demo") | tiny)
    space = budget.space(read_conf("space", "e3d"))
    problem = SearchProblem(space, ScorerSpec("stentr"), budget, SearchSettings(iterations=2000))
    found = run_search(problem, progress=False)
    arch = ArchBatch(space.skeleton, found.population.genes).arch(0)
    train_cfg = compose_cfg("train")
    module = ClipClassifier(
        model=dict(train_cfg.model),
        num_classes=3,
        frames=FRAMES,
        resolution=SIDE,
        optim=dict(train_cfg.optim),
        arch=arch_to_dict(arch),
        class_names=["pan left", "pan right", "zoom in"],
        dataset=DATA,
    )
    torch.manual_seed(0)
    clips = [{"clip": torch.randn(3, FRAMES, SIDE, SIDE), "label": i % 3} for i in range(2)]
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(clips, batch_size=2))
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.BatchNorm3d):
                layer.running_mean.normal_(0, 0.5)
                layer.running_var.uniform_(0.3, 3)
                layer.weight.uniform_(0.5, 1.5)
                layer.bias.normal_(0, 0.2)
    path = tmp_path_factory.mktemp("ckpt") / "best-epoch000.ckpt"
    trainer.save_checkpoint(path)
    return path


def eager_logits(ckpt: Path, clips: torch.Tensor) -> torch.Tensor:
    module = load_checkpoint(ckpt).eval()
    with torch.no_grad():
        return module(clips)


def load_back(path: Path, clips: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """Logits of the exported file and the ops of its graph, read with each runtime's own API rather than
    the exporter's code."""
    if path.suffix == ".onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (logits,) = session.run(None, {session.get_inputs()[0].name: clips.numpy()})
        return torch.from_numpy(logits), [node.op_type for node in onnx.load(str(path)).graph.node]
    if path.suffix == ".pt2":
        program = torch.export.load(path)
        ops = [str(node.target) for node in program.graph.nodes if node.op == "call_function"]
        return program.module()(clips), ops
    module = torch.jit.load(path)
    return module(clips), [node.kind() for node in module.inlined_graph.nodes()]


@pytest.mark.parametrize(
    ("fmt", "suffix", "conv", "norm"),
    [
        ("torchscript", ".pt", "aten::_convolution", "aten::batch_norm"),
        ("onnx", ".onnx", "Conv", "BatchNormalization"),
        ("exported_program", ".pt2", "aten.conv3d.default", "batch_norm"),
    ],
)
def test_export_folds_batchnorm_loads_back_and_matches_eager(tmp_path, checkpoint, fmt, suffix, conv, norm):
    path, record = export(
        compose_cfg("export", f"ckpt={checkpoint}", f"format={fmt}", f"out_dir={tmp_path}", *QUICK)
    )
    assert path == tmp_path / f"best-epoch000-{fmt}-1x3x{FRAMES}x{SIDE}x{SIDE}" / f"model{suffix}"
    assert json.loads((path.parent / RECORD).read_text()) == record
    assert record["file"] == path.name and record["bytes"] == path.stat().st_size
    assert record["format"] == fmt and record["input_shape"] == [1, 3, FRAMES, SIDE, SIDE]
    # model file + export.json suffice to deploy: the input's form and normalisation, the classes' names
    assert record["classes"] == ["pan left", "pan right", "zoom in"]
    assert record["input"] == {
        "layout": "NCTHW",
        "memory_format": "contiguous",
        "dtype": "float32",
        "channels": "RGB",
        "frames": FRAMES,
        "resolution": SIDE,
        "mean": [0.45] * 3,
        "std": [0.225] * 3,
    }
    assert record["preprocessing"] == PREPROCESSING
    # ... and the file alone says the same
    assert file_metadata(path) == {key: record[key] for key in ("input", "preprocessing", "classes")}
    assert record["ckpt"] == str(checkpoint.resolve()) and len(record["ckpt_sha256"]) == 64
    norms = [m for m in load_checkpoint(checkpoint).modules() if isinstance(m, nn.BatchNorm3d)]
    assert record["folded_batchnorms"] == len(norms) > 10
    assert 0 <= record["parity_max_abs_diff"] <= 1e-4 and record["atol"] == 1e-4
    for key in ("latency_ms", "eager_latency_ms"):
        assert 0 < record[key]["median"] <= record[key]["p90"]
    assert (record["threads"], record["warmup"], record["runs"]) == (torch.get_num_threads(), 1, 3)
    assert record["versions"]["torch"] == torch.__version__
    if fmt == "onnx":
        assert record["versions"]["onnxruntime"] == onnxruntime.__version__

    # another clip than the export's own
    clips = torch.randn(1, 3, FRAMES, SIDE, SIDE, generator=torch.Generator().manual_seed(7))
    logits, ops = load_back(path, clips)
    reference = eager_logits(checkpoint, clips)
    assert logits.shape == (1, 3)
    assert (logits - reference).abs().max() <= 1e-4
    assert ops.count(conv) == len(norms) and not [op for op in ops if norm in op]


def test_batch_size_and_checkpoint_each_get_their_own_export(tmp_path, checkpoint):
    """Another batch size is another folder; another checkpoint of the same name is refused there."""
    path, record = export(
        compose_cfg(
            "export",
            f"ckpt={checkpoint}",
            "format=torchscript",
            "batch_size=2",
            f"out_dir={tmp_path}",
            *QUICK,
        )
    )
    assert path.parent.name == f"best-epoch000-torchscript-2x3x{FRAMES}x{SIDE}x{SIDE}"
    assert record["input_shape"] == [2, 3, FRAMES, SIDE, SIDE]
    assert torch.jit.load(path)(torch.randn(2, 3, FRAMES, SIDE, SIDE)).shape == (2, 3)

    retrained = tmp_path / "other" / checkpoint.name
    retrained.parent.mkdir()
    state = torch.load(checkpoint, weights_only=True)
    state["state_dict"] = {k: v + 1 if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    torch.save(state, retrained)
    before = path.read_bytes()
    with pytest.raises(ExportError, match=r"holds an export with another ckpt_sha256 \(of .*best-epoch000"):
        export(
            compose_cfg(
                "export",
                f"ckpt={retrained}",
                "format=torchscript",
                "batch_size=2",
                f"out_dir={tmp_path}",
                *QUICK,
            )
        )
    assert path.read_bytes() == before


def test_claim_takes_an_empty_folder_or_the_same_export_only(tmp_path):
    identity = {"format": "onnx", "input_shape": [1, 3, 4, 32, 32], "ckpt_sha256": "ab" * 32}
    claim(tmp_path / "new", identity)
    (tmp_path / RECORD).write_text(json.dumps(identity | {"latency_ms": {}}))
    claim(tmp_path, identity)
    with pytest.raises(ExportError, match="holds an export with another input_shape"):
        claim(tmp_path, identity | {"input_shape": [2, 3, 4, 32, 32]})
    (tmp_path / RECORD).write_text("[]")
    with pytest.raises(ExportError, match=f"holds no readable {RECORD}: not overwritten"):
        claim(tmp_path, identity)


def test_a_fold_that_changes_the_logits_is_refused_and_not_written(tmp_path, checkpoint, monkeypatch):
    def off_by_a_little(network: nn.Module) -> nn.Module:
        """A fold 0.1 % off: every convolution's weights scaled by 1.001."""
        folded = fold_batchnorm(network)
        with torch.no_grad():
            for conv in (m for m in folded.modules() if isinstance(m, nn.Conv3d)):
                conv.weight.mul_(1.001)
        return folded

    monkeypatch.setattr(export_run, "fold_batchnorm", off_by_a_little)
    cfg = compose_cfg(
        "export", f"ckpt={checkpoint}", "format=exported_program", f"out_dir={tmp_path}", *QUICK
    )
    with pytest.raises(ExportError) as caught:
        export(cfg)
    message = str(caught.value)
    assert message.startswith("format=exported_program: max |Δlogit| vs the eager network is ")
    assert float(message.split(" is ")[1].split(" > ")[0]) > 1e-4 and message.endswith("> atol 0.0001")
    assert not any(tmp_path.iterdir())


def test_a_batchnorm_after_no_convolution_cannot_be_folded():
    network = nn.Sequential(nn.Conv3d(3, 4, 1), nn.AvgPool3d(2), nn.BatchNorm3d(4))
    with pytest.raises(
        ExportError, match=r"^BatchNorm 2 cannot be folded: it does not directly follow a convolution$"
    ):
        fold_batchnorm(network)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ([], "ckpt is missing"),
        (["ckpt=/nonexistent/best.ckpt"], "ckpt: no checkpoint at /nonexistent/best.ckpt"),
        (["format=tflite"], "format: unknown format 'tflite' (valid: torchscript, onnx, exported_program)"),
        (["ckpt=x.ckpt", "batch_size=0"], "batch_size must be an integer >= 1, got 0"),
        (["ckpt=x.ckpt", "threads=two"], "threads must be null or an integer >= 1, got 'two'"),
        (["ckpt=x.ckpt", "atol=-1"], "atol must be a number >= 0, got -1.0"),
    ],
)
def test_bad_options_fail_with_one_line(overrides, message):
    with pytest.raises(E3DError) as caught:
        export(compose_cfg("export", *overrides))
    assert str(caught.value) == message


def test_a_file_that_is_not_a_checkpoint_fails_with_one_line(tmp_path):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ConfigValueError) as caught:
        export(compose_cfg("export", f"ckpt={garbage}"))
    assert str(caught.value) == f"ckpt: {garbage} is not an e3dnas training checkpoint (UnpicklingError)"


def test_missing_onnxruntime_is_named_with_its_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(ExportError, match=r"^format=onnx needs onnxruntime: pip install onnxruntime$"):
        export(compose_cfg("export", "ckpt=/nonexistent.ckpt", "format=onnx"))


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "e3dnas.export", f"hydra.run.dir={tmp_path / 'run'}", *args]
    env = {**os.environ, **(env or {})}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # a second Python start-up and an ONNX export: ~13 s on 2 cores
def test_cli_exports_and_prints_the_latency_table(tmp_path, checkpoint):
    done = cli(tmp_path, f"ckpt={checkpoint}", "format=onnx", f"out_dir={tmp_path}", *QUICK)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / f"best-epoch000-onnx-1x3x{FRAMES}x{SIDE}x{SIDE}"
    assert done.stdout.startswith(f"{folder / 'model.onnx'} (record: {folder / RECORD})\n")
    record = json.loads((folder / RECORD).read_text())
    eager, exported = (line for line in done.stdout.splitlines() if "ms" not in line and "│" in line)
    assert eager.split("│")[2].strip() == f"{record['eager_latency_ms']['median']:.2f}"
    assert exported.split("│")[2].strip() == f"{record['latency_ms']['median']:.2f}"
    assert "onnx_ir" not in done.stdout + done.stderr  # the exporter's optimiser passes stay quiet


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    """Without onnxruntime (a stand-in ahead of the real one fails to import like a missing package)."""
    stand_in = tmp_path / "site"
    stand_in.mkdir()
    (stand_in / "onnxruntime.py").write_text("raise ImportError('No module named onnxruntime')\n")
    done = cli(tmp_path, "ckpt=/nonexistent.ckpt", env={"PYTHONPATH": str(stand_in)})
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: format=onnx needs onnxruntime: pip install onnxruntime"], done.stderr
    assert "Traceback" not in done.stderr


def documented_snippet() -> str:
    """The onnxruntime code block of docs/export.md (the one under its "Running the ONNX file" section)."""
    text = (ROOT / "docs" / "export.md").read_text()
    section = text.split("## Running the ONNX file", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_documented_onnxruntime_code_reproduces_evaluate_on_real_clips(arid6, tmp_path):
    """The file's own metadata is enough: docs/export.md's code, fed raw videos, gives evaluate's class and
    probability for each (3 crops × 2 clips at short side 64 = 56 · 8/7, frames decoded smaller)."""
    from e3dnas.evaluate.run import evaluate
    from e3dnas.train.run import train

    def link(target: Path, chosen: slice) -> Path:
        for name in ("Jump", "Walk"):
            (target / name).mkdir(parents=True)
            for video in sorted((arid6 / name).iterdir())[chosen]:
                (target / name / video.name).symlink_to(video)
        return target

    data = ["dataset=folder", "dataset.frames=8", "dataset.resolution=56", "dataset.num_workers=0"]
    data += ["dataset.persistent_workers=false", "dataset.test_clips=2", "dataset.batch_size=2"]
    trained = train(
        compose_cfg(
            "train",
            *data,
            f"dataset.root={link(tmp_path / 'train', slice(0, 3))}",
            "arch=e3d_s",
            "trainer=cpu",
            "logger=csv",
            "callbacks.progress_bar=none",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1",
            "train.test=false",
        ),
        tmp_path / "run",
    )
    ckpt = trained["last_checkpoint"]
    heldout = link(tmp_path / "heldout", slice(3, 6))
    overrides = [f"dataset.root={heldout}", "dataset.num_workers=0"]
    cfg = compose_cfg("eval", f"ckpt={ckpt}", *overrides, "logger=none")
    assert evaluate(cfg, tmp_path / "eval", overrides)["videos"] == 6
    expected = {
        row["path"]: (row["predicted_name"], float(row["top1_prob"]))
        for row in csv.DictReader((tmp_path / "eval" / "predictions.csv").open())
    }
    model, record = export(compose_cfg("export", f"ckpt={ckpt}", f"out_dir={tmp_path / 'export'}", *QUICK))
    assert record["preprocessing"]["positions"] == [0.0, 0.5, 1.0] and record["preprocessing"]["clips"] == 2

    (tmp_path / "snippet.py").write_text(documented_snippet())
    done = subprocess.run(
        [sys.executable, str(tmp_path / "snippet.py"), str(model), *expected],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [line.rsplit(" ", 2) for line in done.stdout.splitlines()]
    assert [path for path, _, _ in printed] == list(expected)
    for path, name, prob in printed:
        assert name == expected[path][0] and float(prob) == pytest.approx(expected[path][1], abs=1e-4)
