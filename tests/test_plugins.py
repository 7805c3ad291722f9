"""The one plug-in rule (e3dnas.schema.build_plugin): a registry name or a _target_, flat options checked
against the builder's signature before it runs, one line naming <key>.<option> when one is wrong."""

from __future__ import annotations

import pytest

from e3dnas.latency.devices import DEVICES
from e3dnas.latency.guard import LoadGuard
from e3dnas.latency.timing import DeviceSettings, TimingError, TimingSettings
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
