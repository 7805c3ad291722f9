"""Every Hydra command behaves the same (e3dnas.command.hydra_command): ``print_config=false`` is accepted; a
bad key, a bad value, a missing key or a base config chosen as an option is one line and exit code 2 before
any config tree is printed and before any run dir is made; ``--help`` names the command and lists its own
config groups only.

The refusals run in this process, as the console scripts do (``runpy``), since they end before Hydra starts;
``--help`` and the runs, which Hydra sets up, start a Python of their own.
"""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

ROOT = Path(__file__).resolve().parents[1]

#: module → the config groups its --help lists
GROUPS = {
    "e3dnas.search": ("budget", "scorer", "space"),
    "e3dnas.train": ("arch", "dataset", "model", "optim", "trainer", "logger", "callbacks", "experiment"),
    "e3dnas.select": ("dataset", "model", "optim", "trainer", "logger", "callbacks", "experiment"),
    "e3dnas.evaluate": ("dataset", "trainer", "logger"),
    "e3dnas.export": (),
    "e3dnas.profile": ("budget", "space"),
    "e3dnas.data.prepare": ("dataset",),
}
SCRIPT = {
    "e3dnas.search": "e3dnas-search",
    "e3dnas.train": "e3dnas-train",
    "e3dnas.select": "e3dnas-select",
    "e3dnas.evaluate": "e3dnas-evaluate",
    "e3dnas.export": "e3dnas-export",
    "e3dnas.profile": "e3dnas-profile",
    "e3dnas.data.prepare": "e3dnas-prepare",
}
#: module → (a command line that passes the checks, a bad value for it, the start of its message)
BAD_VALUE = {
    "e3dnas.search": (["+budget=demo"], "search.seed=abc", "search.seed must be an integer >= 0"),
    "e3dnas.train": (
        ["arch=e3d_s", "dataset.root=/data"],
        "dataset.batch_size=0",
        "dataset.batch_size must be an integer",
    ),
    "e3dnas.select": (["run=x"], "select.finalists=0", "select.finalists must be an integer >= 1"),
    "e3dnas.evaluate": (["ckpt=x.ckpt"], "views=all", "views must be one of multi, single"),
    "e3dnas.export": (["ckpt=x.ckpt"], "batch_size=0", "batch_size must be an integer >= 1"),
    "e3dnas.profile": (["+budget=demo"], "threads=0", "threads must be an integer >= 1"),
    "e3dnas.data.prepare": (["dataset=demo", "out=x"], "workers=0", "workers must be null or an integer"),
}
#: module → (a command line missing a mandatory key, the start of its message)
MISSING = {
    "e3dnas.search": ([], "no budget given: add +budget=NAME (available: demo,"),
    "e3dnas.train": (["arch=e3d_s", "dataset=sthv2"], "dataset.root is missing"),
    "e3dnas.select": ([], "run is missing"),
    "e3dnas.evaluate": ([], "ckpt is missing"),
    "e3dnas.export": ([], "ckpt is missing"),
    "e3dnas.profile": ([], "no budget given: add +budget=NAME"),
    "e3dnas.data.prepare": (["dataset=demo"], "out is missing"),
}


@pytest.fixture
def command(tmp_path, monkeypatch, capsys):
    """``command(module, *args)`` → (exit code, stdout, stderr) of ``python -m module *args`` run in this
    process from an empty folder, as the console scripts run it."""
    monkeypatch.chdir(tmp_path)

    def run(module: str, *args: str) -> tuple[int, str, str]:
        GlobalHydra.instance().clear()
        monkeypatch.setattr(sys, "argv", [SCRIPT[module], *args])
        with pytest.raises(SystemExit) as stop:
            runpy.run_module(module, run_name="__main__", alter_sys=False)
        out, err = capsys.readouterr()
        return stop.value.code or 0, out, err

    yield run
    GlobalHydra.instance().clear()


def assert_refused(tmp_path: Path, code: int, out: str, err: str, message: str) -> None:
    """One line on stderr holding ``message``, exit 2, no config tree, no run dir."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert "├──" not in out and out.strip() == ""
    assert list(tmp_path.iterdir()) == []  # no outputs/, no multirun/


@pytest.mark.parametrize("module", BAD_VALUE)
def test_a_bad_value_is_one_line_before_anything_runs(module, command, tmp_path):
    valid, bad, message = BAD_VALUE[module]
    assert_refused(tmp_path, *command(module, *valid, bad), message)


@pytest.mark.parametrize("module", BAD_VALUE)
def test_an_unknown_key_is_one_line_before_anything_runs(module, command, tmp_path):
    valid, _, _ = BAD_VALUE[module]
    assert_refused(tmp_path, *command(module, *valid, "nope=1"), "nope")


@pytest.mark.parametrize("module", MISSING)
def test_a_missing_key_is_one_line_before_anything_runs(module, command, tmp_path):
    args, message = MISSING[module]
    assert_refused(tmp_path, *command(module, *args), message)


def test_an_added_key_no_schema_knows_is_refused(command, tmp_path):
    code, out, err = command("e3dnas.export", "ckpt=x.ckpt", "+nope=1")
    assert_refused(tmp_path, code, out, err, "nope: unknown key (known: ckpt, format,")


@pytest.mark.parametrize(
    ("module", "choice", "available"),
    [
        ("e3dnas.train", "trainer=base", "(available: cpu, ddp, ddp_slurm, gpu;"),
        ("e3dnas.train", "model=x3d", "(available: e3d, x3d_l, x3d_m, x3d_s, x3d_xs;"),
        ("e3dnas.train", "dataset=something", "(available: demo, folder, k400, sthv1, sthv2;"),
        ("e3dnas.train", "dataset=schema", "(available: demo, folder, k400, sthv1, sthv2;"),
        ("e3dnas.evaluate", "trainer=base", "(available: cpu, ddp, ddp_slurm, gpu;"),
        ("e3dnas.data.prepare", "dataset=something", "(available: demo, folder, k400, sthv1, sthv2;"),
    ],
)
def test_a_base_config_is_no_choice(module, choice, available, command, tmp_path):
    group, option = choice.split("=")
    code, out, err = command(module, choice)
    assert_refused(tmp_path, code, out, err, f"unknown {group} '{option}' {available}")


@pytest.mark.parametrize("module", GROUPS)
def test_help_names_the_command_and_its_own_groups(module, tmp_path):
    """In a Python of its own: Hydra's help sets up its logging and run config in the process."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {SCRIPT[module]} (python -m {module}) ")
    assert "powered by Hydra" not in done.stdout
    listed = done.stdout.split("== Config groups (group=option) ==\n")[1].split("\n\n")[0]
    assert [line.split(":")[0] for line in listed.splitlines()] == list(GROUPS[module])
    if "dataset" in GROUPS[module]:
        assert "dataset: demo, folder, k400, sthv1, sthv2\n" in done.stdout  # base files are not offered
    assert list(tmp_path.iterdir()) == []


def cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    cmd = [sys.executable, "-m", module, *args, "print_config=false"]
    if module == "e3dnas.search":
        cmd.append("wandb.enabled=false")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # six Python start-ups and a search: a minute, several on a busy 2-core machine
def test_every_command_takes_print_config_false(tmp_path, footage_dataset):
    """Each run gets past its checks and starts (a search to its end; the others to the first thing they
    read, made to fail so that nothing long runs), showing no config tree."""
    stale = tmp_path / "profile"
    stale.mkdir()
    (stale / "cache.json").write_text(json.dumps({"header": {}, "timings": {}}))
    runs = {
        "e3dnas.search": (["+budget=demo", "search.iterations=200", "progress=false"], "best stentr"),
        "e3dnas.train": (["arch=e3d_s", "dataset.root=/nonexistent", "logger=none"], "/nonexistent"),
        "e3dnas.evaluate": (["ckpt=/nonexistent.ckpt", "logger=none"], "no checkpoint at"),
        "e3dnas.export": (["ckpt=/nonexistent.ckpt"], "no checkpoint at"),
        "e3dnas.profile": (
            ["+budget=demo", "progress=false", f"hydra.run.dir={stale}"],
            "holds timings under other settings",
        ),
        "e3dnas.data.prepare": (
            ["dataset=sthv2", f"dataset.root={footage_dataset('sthv2')}", f"out={tmp_path / 'prepared'}"],
            "Train with dataset.root=",
        ),
    }
    for module, (args, said) in runs.items():
        done = cli(module, *args, cwd=tmp_path)
        assert "├──" not in done.stdout, module
        assert said in done.stdout + done.stderr, (module, done.stdout, done.stderr)
