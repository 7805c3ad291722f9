"""The package as users get it: a wheel with its configs, console scripts, their own config dirs, the
Python API of docs/api.md, and the run log."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: a search of seconds (the overrides of every command line here)
TINY_SEARCH = ["search.iterations=200", "search.population=16", "search.batch=8", "wandb.enabled=false"]


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", **(env or {})}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def search(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "e3dnas.search", *args], cwd)


@pytest.fixture
def user_conf(tmp_path) -> Path:
    """A config dir of the user's own holding one budget, ``mine``."""
    budget = (ROOT / "conf" / "budget" / "demo.yaml").read_text().replace("name: demo", "name: mine")
    (tmp_path / "user_conf" / "budget").mkdir(parents=True)
    (tmp_path / "user_conf" / "budget" / "mine.yaml").write_text(budget)
    return tmp_path / "user_conf"


@pytest.mark.parametrize("option", ["--config-dir", "hydra.searchpath"])
def test_a_budget_of_a_user_config_dir_runs(tmp_path, user_conf, option):
    where = (
        ["--config-dir", str(user_conf)] if option == "--config-dir" else [f"{option}=[file://{user_conf}]"]
    )
    out = search(tmp_path, *where, "+budget=mine", *TINY_SEARCH, f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "best.yaml").read_text().splitlines()[1] == "name: mine-stentr-seed0"


def test_budget_lists_include_the_users_and_say_where_to_add_one(tmp_path, user_conf):
    out = search(tmp_path, "--config-dir", str(user_conf), "+budget=yours", *TINY_SEARCH)
    assert out.returncode == 2
    assert "unknown budget 'yours' (available: demo, e3d_l" in out.stderr
    assert ", mine;" in out.stderr  # the user's own budget counts as available
    assert "budget/yours.yaml in a config dir of yours and pass --config-dir DIR" in out.stderr
    listed = search(tmp_path, "--config-dir", str(user_conf), *TINY_SEARCH)
    assert listed.returncode == 2 and "no budget given" in listed.stderr and ", mine)" in listed.stderr


def test_the_extending_docs_examples_run(tmp_path):
    """The config files of docs/extending.md, written where their first line says, do what it says."""
    text = (ROOT / "docs" / "extending.md").read_text()
    for path, body in re.findall(r"```yaml\n# (my_conf/[\w/]+\.yaml)[^\n]*\n(.*?)```", text, flags=re.S):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    searched = search(tmp_path, "-cd", "my_conf", "+budget=e3d_s_1g", *TINY_SEARCH, "hydra.run.dir=run")
    assert searched.returncode == 0, searched.stderr
    shown = run(
        [sys.executable, "-m", "e3dnas.train", "-cd", "my_conf", "dataset=my_videos", "--cfg", "job"],
        tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    dataset = yaml.safe_load(shown.stdout)["dataset"]
    assert (dataset["name"], dataset["root"], dataset["layout"]) == ("my_videos", "/data/my_videos", "sthv2")


def test_the_run_log_holds_the_config_and_the_result(tmp_path):
    out = search(tmp_path, "+budget=demo", *TINY_SEARCH, f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert "├── search" in out.stdout  # the config tree
    log = (tmp_path / "search.log").read_text()
    assert "├── search" in log and "iterations: 200" in log
    assert re.search(r"\[e3dnas\.stdout\]\[INFO\] - best stentr .* -> .*best\.yaml", log)


@pytest.mark.slow
def test_the_training_log_holds_lightning_and_the_results(tmp_path, footage_dataset):
    limits = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]
    quick = ["dataset.num_workers=0", "dataset.persistent_workers=false", "logger=csv", "train.test=false"]
    args = ["arch=e3d_s", "+experiment=demo", f"dataset.root={footage_dataset()}", *quick, *limits]
    out = run([sys.executable, "-m", "e3dnas.train", *args, f"hydra.run.dir={tmp_path}"], tmp_path)
    assert out.returncode == 0, out.stderr
    log = (tmp_path / "train.log").read_text()
    assert "├── optim" in log  # the config tree
    assert "[lightning.pytorch" in log and "`Trainer.fit` stopped: `max_epochs=1` reached" in log
    assert "[e3dnas.train][WARNING] - architecture E3D-S was searched for 13×160² clips" in log


def test_print_config_false_shows_no_tree(tmp_path):
    out = search(tmp_path, "+budget=demo", *TINY_SEARCH, "print_config=false", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert "├──" not in out.stdout and "best stentr" in out.stdout


def test_import_e3dnas_is_light_and_exports_the_api():
    light = "import sys, e3dnas; print(*(m for m in ('torch', 'numpy', 'hydra') if m in sys.modules))"
    out = run([sys.executable, "-c", light], ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr
    import e3dnas
    from e3dnas import Budget, build_model, load_arch, run_search, score_arch

    assert all(callable(f) for f in (Budget, build_model, load_arch, run_search, score_arch))
    assert set(e3dnas.__all__) <= set(dir(e3dnas))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        e3dnas.nope  # noqa: B018


def test_the_api_docs_run(tmp_path, monkeypatch):
    """Every ```python block of docs/api.md, in order, in one namespace (as a reader would paste them)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)
    assert (tmp_path / "best.yaml").exists()


def fresh_venv(path: Path) -> Path:
    """A new virtual environment that sees this one's installed packages as a plain path (so torch & co.
    are not downloaded again) but not its ``.pth`` files: an editable e3dnas of this checkout stays out."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], path)
    here = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (Path(site.stdout.strip()) / "host-packages.pth").write_text("\n".join(sorted(here)) + "\n")
    return python


def build_wheel(out: Path) -> Path:
    """The wheel of this checkout, built from a copy of what an sdist holds (the checkout stays clean)."""
    source = out / "source"
    shutil.copytree(ROOT / "src", source / "src", symlinks=True, ignore=shutil.ignore_patterns("*.egg-info"))
    shutil.copytree(ROOT / "conf", source / "conf")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out)]
    built = run([*pip, str(source)], out)
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("e3dnas-*.whl")
    return wheel


@pytest.mark.slow
def test_the_wheel_runs_a_search_from_anywhere(tmp_path):
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    python = fresh_venv(venv)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index"]
    installed = run([*pip, str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    no_checkout = {"PYTHONPATH": ""}
    where = run(
        [str(python), "-c", "import e3dnas.configs as c; print(c.__file__, c.CONF_DIR)"],
        elsewhere,
        no_checkout,
    )
    assert all(Path(p).is_relative_to(venv) for p in where.stdout.split()), where.stdout + where.stderr
    script = str(venv / "bin" / "e3dnas-search")
    out = run([script, "+budget=e3d_s", *TINY_SEARCH, "hydra.run.dir=run"], elsewhere, no_checkout)
    assert out.returncode == 0, out.stderr
    assert (elsewhere / "run" / "best.yaml").exists()
    described = run([str(venv / "bin" / "e3dnas-arch"), "run/best.yaml"], elsewhere, no_checkout)
    assert described.returncode == 0 and "STEntr by objective" in described.stdout, described.stderr
    completion = run([script, "-sc", "install=bash"], elsewhere, no_checkout)
    assert completion.stdout.rstrip().endswith("hydra_bash_completion e3dnas-search")
