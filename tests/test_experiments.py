"""experiments/ as a package: every script listed in its README, run as ``python -m experiments.<name>``, no
``sys.path`` edits, and no script importing another (shared helpers live in experiments/common.py)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
#: Modules that are not scripts: the package and the helpers scripts share.
HELPERS = {"__init__", "common"}
SCRIPTS = sorted(p.stem for p in EXPERIMENTS.glob("*.py") if p.stem not in HELPERS)


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def test_the_readme_lists_every_script_with_its_question_target_and_result():
    rows = re.findall(r"^\| `([\w/]+)` .*\|$", (EXPERIMENTS / "README.md").read_text(), flags=re.M)
    assert set(SCRIPTS) <= set(rows), set(SCRIPTS) - set(rows)
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("name", SCRIPTS + sorted(HELPERS))
def test_no_script_imports_another_or_edits_sys_path(name):
    path = EXPERIMENTS / f"{name}.py"
    assert "sys.path" not in path.read_text()
    siblings = {f"experiments.{script}" for script in SCRIPTS} | set(SCRIPTS)
    assert not imported_modules(path) & siblings


@pytest.mark.slow
def test_every_script_imports_as_a_module_of_the_package():
    code = "import importlib, sys; [importlib.import_module(f'experiments.{n}') for n in sys.argv[1:]]"
    out = subprocess.run(
        [sys.executable, "-c", code, *SCRIPTS, "common"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
