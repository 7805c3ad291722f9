"""The one plug-in rule (e3dnas.schema.build_plugin): a registry name or a _target_, flat options checked
against the builder's signature before it runs, one line naming <key>.<option> when one is wrong; plug-ins
registered where they are defined (e3dnas.registry) and listed (e3dnas.plugins)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from e3dnas.latency.devices import DEVICES
from e3dnas.latency.guard import LoadGuard
from e3dnas.latency.timing import DeviceSettings, TimingError, TimingSettings
from e3dnas.registry import Registry
from e3dnas.schema import ConfigValueError, build_plugin


def scaled(*, factor: float = 1.0, offset: int | None = None, sizes: list[int] | None = None, frames: int):
    """A builder of the kind every component has: options with annotations, one keyword the caller sets."""
    return {"factor": factor, "offset": offset, "sizes": sizes, "frames": frames}


def open_ended(*, frames: int, **extra: int):
    return extra


def broken(*, frames: int):
    return 1 / 0


REGISTRY = {"scaled": scaled, "open_ended": open_ended, "broken": broken}


def build(node, **context):
    return build_plugin(node, REGISTRY, "part", ConfigValueError, **({"frames": 8} | context))


def test_a_name_picks_the_registry_entry_and_the_flat_keys_are_its_options():
    assert build({"name": "scaled", "factor": 2, "sizes": [1, 2]}) == {
        "factor": 2.0,  # converted to the annotation's type
        "offset": None,
        "sizes": [1, 2],
        "frames": 8,
    }
    assert build("scaled")["factor"] == 1.0  # a string: a registry name without options


def test_a_target_is_imported_and_its_name_is_only_a_label():
    built = build({"_target_": "test_plugins.scaled", "name": "mine", "offset": 3})
    assert built["offset"] == 3 and "name" not in built
    assert build("test_plugins.scaled")["frames"] == 8  # a dotted string: a target without options


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"name": "scaled", "factr": 2}, "part.factr: unknown option of part 'scaled' (its options: factor,"),
        (
            {"name": "scaled", "factor": "big"},
            "part.factor: Value 'big' of type 'str' could not be converted",
        ),
        (
            {"name": "scaled", "offset": 1.5},
            "part.offset: Value '1.5' of type 'float' could not be converted",
        ),
        ({"name": "scaled", "frames": 4}, "part.frames: not an option, e3dnas sets it"),
        ({"name": "open_ended", "depth": "x"}, "part.depth: Value 'x' of type 'str' could not be converted"),
        (
            {"name": "nope"},
            "part: unknown part 'nope' (known: scaled, open_ended, broken; or one of your own:",
        ),
        ({"factor": 2}, "part: unknown part (known: scaled,"),
        ({"_target_": "test_plugins.missing"}, "part._target_: test_plugins has no 'missing'"),
    ],
)
def test_a_wrong_option_or_name_is_one_line_naming_it(node, message):
    with pytest.raises(ConfigValueError) as err:
        build(node)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_required_option_nobody_gives_is_named_and_the_caller_must_fit_the_builder():
    with pytest.raises(ConfigValueError, match=r"^part\.frames is missing \(part 'scaled' needs it\)"):
        build_plugin({"name": "scaled"}, REGISTRY, "part", ConfigValueError)
    with pytest.raises(
        ConfigValueError, match=r"^part: part 'scaled' must take classes as keyword arguments"
    ):
        build({"name": "scaled"}, classes=3)


def test_a_bug_inside_the_builder_keeps_its_own_exception():
    with pytest.raises(ZeroDivisionError):
        build({"name": "broken"})
    assert build({"name": "open_ended", "depth": 2}) == {"depth": 2}


# --- latency devices by name ------------------------------------------------------------------------------


def test_devices_are_a_registry_and_a_bad_device_keeps_its_message(monkeypatch):
    assert list(DEVICES) == ["cpu", "cuda"]
    with pytest.raises(TimingError, match=r"^device must be cpu or cuda, got 'tpu'$"):
        DeviceSettings(device="tpu")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(TimingError, match=r"^device=cuda but torch sees no CUDA device$"):
        DeviceSettings(device="cuda")


def test_only_the_cpu_guards_against_other_processes_load(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    timing = TimingSettings(guard_load=0.5)
    assert LoadGuard(DeviceSettings(device="cpu"), timing).enabled
    assert not LoadGuard(DeviceSettings(device="cuda"), timing).enabled
    assert DeviceSettings(device="cpu").describe()["device_name"]


# --- registration where a plug-in is defined, and the listing ---------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

#: The scorers, spaces, models and layouts e3dnas ships.
BUILT_IN = {
    "scorer": {
        "stentr",
        "entropy",
        "flops",
        "params",
        "random",
        "naswot",
        "synflow",
        "snip",
        "grad_norm",
        "zen",
    },
    "space": {"e3d"},
    "model": {"e3d", "x3d_xs", "x3d_s", "x3d_m", "x3d_l"},
    "layout": {"folder", "k400", "sthv1", "sthv2"},
}


def python(code_or_args: list[str], cwd: Path, path: Path | None = None) -> subprocess.CompletedProcess:
    extra = [str(path)] if path else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*extra, str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def installed_plugin(tmp_path) -> Path:
    """docs/extending_search.md's ``my_plugins.py``, installed as a distribution whose ``e3dnas.plugins``
    entry point names it (a ``.dist-info`` on the path, as pip leaves it)."""
    text = (ROOT / "docs" / "extending_search.md").read_text()
    (module,) = re.findall(r"```python\n# my_plugins\.py\n(.*?)```", text, flags=re.S)
    site = tmp_path / "site"
    (site / "my_plugins-1.0.dist-info").mkdir(parents=True)
    (site / "my_plugins.py").write_text(module)
    (site / "my_plugins-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugins\n")
    (site / "my_plugins-1.0.dist-info" / "entry_points.txt").write_text(
        "[e3dnas.plugins]\nmy_plugins = my_plugins\n"
    )
    return site


def test_the_listing_names_every_built_in_plugin_and_the_user_s_own(tmp_path, installed_plugin):
    (tmp_path / "my_conf" / "scorer").mkdir(parents=True)
    (tmp_path / "my_conf" / "scorer" / "widest.yaml").write_text("name: widest\n_target_: my_search.widest\n")
    listed = python(["-m", "e3dnas.plugins", "--config-dir", "my_conf"], tmp_path, installed_plugin)
    assert listed.returncode == 0, listed.stderr
    sections = re.split(r"^(\w+): registered builders", listed.stdout, flags=re.M)[1:]
    bodies = dict(zip(sections[::2], sections[1::2], strict=True))
    names = {
        kind: set(re.findall(r"^  (\w+) +\S", body, flags=re.M)) - {"config"} for kind, body in bodies.items()
    }
    assert names.keys() == BUILT_IN.keys()
    for kind, built_in in BUILT_IN.items():
        assert built_in <= names[kind], kind
    assert names["scorer"] - BUILT_IN["scorer"] == {"stentr_floor", "stentr_authors", "deepest"}
    assert re.search(
        r"^  deepest +power=1\.0 \[my_plugins\]\n +Score: the deepest network wins\.$", listed.stdout, re.M
    )
    assert re.search(
        r"^  stentr +floor=1e-12, rounding='ceil', resolution=None\n +STEntr", listed.stdout, re.M
    )
    assert re.search(
        r"^  e3d +head='authors'.*\n +An E3D network", listed.stdout, re.M
    )  # no arch, num_classes
    assert re.search(r"^    widest +→ my_search\.widest  \[my_conf\]$", listed.stdout, re.M)
    missing = python(["-m", "e3dnas.plugins", "-cd", "nowhere"], tmp_path)
    assert missing.returncode == 2 and missing.stderr == "error: --config-dir nowhere: no such directory\n"


def test_a_scorer_registered_by_an_installed_package_is_searched_by_name(tmp_path, installed_plugin):
    tiny = ["search.iterations=200", "search.population=16", "search.batch=8", "wandb.enabled=false"]
    args = ["+budget=demo", "scorer=entropy", "scorer.name=deepest", "+scorer.power=2.0", *tiny]
    searched = python(["-m", "e3dnas.search", *args, "hydra.run.dir=run"], tmp_path, installed_plugin)
    assert searched.returncode == 0, searched.stderr
    best = yaml.safe_load((tmp_path / "run" / "best.yaml").read_text())
    assert "deepest" in best["meta"]["scores"]


def test_a_closed_form_scorer_imports_no_proxy_and_a_proxy_is_found_when_asked_for(tmp_path):
    code = (
        "import sys; from e3dnas.scores import build_scorer; build_scorer('stentr'); "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('e3dnas.proxies'))); "
        "from e3dnas.registry import SCORERS; SCORERS['zen']; print('e3dnas.proxies.zen' in sys.modules)"
    )
    out = python(["-c", code], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "True"]


def test_a_name_registered_twice_is_refused():
    registry = Registry("part", homes=())
    registry.register("one", scaled)
    registry.register("one", scaled)  # the same builder again: a module imported twice
    with pytest.raises(ValueError, match=r"^part 'one' is registered twice \(test_plugins\)$"):
        registry.register("one", open_ended)
    assert list(registry) == ["one"] and "two" not in registry
