"""The architecture YAML contract: exact round trips and a precise message for each kind of bad file."""

from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from e3dnas.arch import Arch, ArchError, Stage, Stem, arch_to_dict, dump_arch, load_arch, read_arch, save_arch

CONF = Path(__file__).resolve().parents[1] / "conf"
RELEASED = sorted((CONF / "arch").glob("*.yaml"))


def test_released_structures_are_the_published_ones():
    s = load_arch(CONF / "arch" / "e3d_s.yaml")
    assert (s.frames, s.resolution, s.stem.width, s.head_width) == (13, 160, 24, 512)
    assert [(st.kernel, st.depth, st.bottleneck, st.width) for st in s.stages] == [
        ((1, 5), 3, 32, 24),
        ((3, 3), 6, 96, 48),
        ((3, 3), 6, 176, 120),
        ((3, 3), 6, 176, 120),
        ((3, 3), 6, 384, 256),
    ]
    assert [st.stride for st in s.stages] == [2, 2, 2, 1, 2]
    large = load_arch(CONF / "arch" / "e3d_l.yaml")
    assert [st.depth for st in large.stages] == [3, 13, 13, 13, 13]
    assert (large.frames, large.resolution) == (16, 312)


@pytest.mark.parametrize("path", RELEASED, ids=lambda p: p.stem)
def test_round_trip_is_exact_text(path: Path):
    doc = read_arch(path)
    assert dump_arch(doc.arch, doc.name, doc.meta) == path.read_text()


widths = st.integers(1, 64).map(lambda x: 8 * x)
kernels = st.tuples(st.sampled_from([1, 3, 5, 7]), st.sampled_from([1, 3, 5, 7]))


@st.composite
def archs(draw) -> Arch:
    n = draw(st.integers(1, 6))
    stem = draw(widths)
    stage_widths = sorted(draw(st.lists(widths, min_size=n, max_size=n)))
    stage_widths = [max(w, stem) for w in stage_widths]
    stages = tuple(
        Stage(w, draw(widths), draw(kernels), draw(st.integers(1, 20)), draw(st.sampled_from([1, 2])))
        for w in stage_widths
    )
    return Arch(
        frames=draw(st.integers(1, 64)),
        resolution=draw(st.integers(8, 512)),
        stem=Stem(stem, draw(kernels), draw(st.sampled_from([1, 2]))),
        stages=stages,
        head_width=draw(widths),
        activation=draw(st.sampled_from(["relu", "silu", "hardswish"])),
    )


@settings(max_examples=200, deadline=None)
@given(arch=archs(), meta=st.dictionaries(st.sampled_from(["flops", "note"]), st.integers() | st.text()))
@example(arch=Arch(1, 8, Stem(8, (1, 1), 1), (Stage(8, 8, (1, 1), 1, 1),), 8), meta={"note": "a\x85b\u2028"})
def test_round_trip_random(tmp_path_factory, arch: Arch, meta: dict):
    """Any text in meta comes back, the Unicode line breaks YAML folds (NEL, LS, PS) included."""
    path = tmp_path_factory.mktemp("rt") / "a.yaml"
    save_arch(path, arch, name="x", meta=meta)
    doc = read_arch(path)
    assert doc.arch == arch and doc.name == "x" and doc.meta == meta
    assert dump_arch(doc.arch, doc.name, doc.meta) == path.read_text()


def _write(tmp_path: Path, mutate) -> Path:
    tree = arch_to_dict(load_arch(CONF / "arch" / "e3d_s.yaml"))
    mutate(tree)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


BAD_FILES = {
    "unknown key": (lambda t: t["stages"][1].update(expansion=4), r"stages\[1\]\.expansion: unknown key"),
    "unknown top key": (lambda t: t.update(widht=3), r"widht: unknown key"),
    "missing key": (lambda t: t["stem"].pop("width"), r"stem\.width: missing"),
    "wrong type": (
        lambda t: t["stages"][0].update(depth="3"),
        r"stages\[0\]\.depth: expected an integer, got '3'",
    ),
    "float width": (lambda t: t["stages"][2].update(width=120.5), r"stages\[2\]\.width: expected an integer"),
    "bool": (lambda t: t["input"].update(frames=True), r"input\.frames: expected an integer"),
    "non-positive width": (
        lambda t: t["stages"][4].update(width=0),
        r"stages\[4\]\.width: must be positive, got 0",
    ),
    "negative head": (lambda t: t["head"].update(width=-512), r"head\.width: must be positive"),
    "stride": (
        lambda t: t["stages"][3].update(stride=3),
        r"stages\[3\]\.stride: stride must be 1 or 2, got 3",
    ),
    "even kernel": (
        lambda t: t["stages"][1].update(kernel=[3, 4]),
        r"stages\[1\]\.kernel: kernel sizes must be odd",
    ),
    "kernel shape": (lambda t: t["stem"].update(kernel=[3]), r"stem\.kernel: expected \[kt, k\]"),
    "narrowing": (
        lambda t: t["stages"][3].update(width=96),
        r"stages\[3\]\.width: 96 is narrower than its input \(stages\[2\]\.width = 120\)",
    ),
    "stage narrower than stem": (
        lambda t: t["stem"].update(width=32),
        r"stages\[0\]\.width: 24 is narrower than its input \(stem\.width = 32\)",
    ),
    "format": (lambda t: t.update(format=2), r"format: unsupported version 2"),
    "activation": (lambda t: t.update(activation="tanh"), r"activation: unknown activation 'tanh'"),
    "no stages": (lambda t: t.update(stages=[]), r"stages: expected a non-empty list"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_file_names_file_and_field(tmp_path: Path, case: str):
    mutate, message = BAD_FILES[case]
    path = _write(tmp_path, mutate)
    with pytest.raises(ArchError, match=message) as err:
        load_arch(path)
    assert str(err.value).startswith(f"{path}: ")


def test_unreadable_files(tmp_path: Path):
    with pytest.raises(ArchError, match="no such architecture file"):
        load_arch(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [1, 2\n")
    with pytest.raises(ArchError, match=r"broken.yaml: not valid YAML at line 2"):
        load_arch(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ArchError, match=r"scalar.yaml: document: expected a mapping, got int"):
        load_arch(scalar)


def test_inspector_prints_stages_cost_and_scores(capsys):
    from e3dnas.describe import main

    assert main([str(CONF / "arch" / "e3d_s.yaml")]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "E3D-S @ 13×160²" in out
    assert "1.8637 GFLOPs conv MACs" in out and "1.9528 GFLOPs authors' count" in out
    assert "1,976,232 params (backbone), 83 layers" in out
    assert "│ stage4 │ 120→120 │ 176 │ 3×3×3 │ 6 │ 1 │ 13×10² │" in out
    assert main([str(CONF / "arch" / "e3d_l.yaml")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "STEntr by objective: stentr 411.3983, stentr_floor 411.8082, stentr_authors 405.0833" in out
    assert main([str(CONF / "arch" / "e3d_s.yaml"), "--frames", "16", "--resolution", "224"]) == 0
    assert "E3D-S @ 16×224²" in capsys.readouterr().out


def test_inspector_help_is_a_users(capsys):
    from e3dnas.describe import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "Show what a network costs and scores" in out and "examples:" in out
    assert "python -m e3dnas.arch e3d_s e3d_m --frames 16 --resolution 224" in out
    assert "``" not in out and "hands over" not in out  # no developer docstring


def test_inspector_reports_bad_files(tmp_path, capsys):
    from e3dnas.describe import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("format: 1\n")
    assert main([str(bad)]) == 2
    assert f"error: {bad}: input: missing" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("frames", "resolution", "message"),
    [
        (-3, 160, "frames must be an integer >= 1, got -3"),
        (0, 160, "frames must be an integer >= 1, got 0"),
        (13, -160, "resolution must be an integer >= 1, got -160"),
    ],
)
def test_impossible_input_sizes_are_refused(frames, resolution, message, capsys):
    from e3dnas.describe import main
    from e3dnas.errors import E3DError

    arch = load_arch(CONF / "arch" / "e3d_s.yaml")
    with pytest.raises(E3DError, match=message):
        arch.with_input(frames, resolution)
    assert main(["e3d_s", "--frames", str(frames), "--resolution", str(resolution)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {message}\n" and "GFLOPs" not in captured.out
