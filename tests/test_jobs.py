"""Each command reads its config once into a job (e3dnas.command.hydra_command): spies in whole command
runs, in this process through the command's main() as its console script calls it, count how often a search
builds its problem and a training reads its architecture file and its dataset settings."""

import sys
from collections import Counter
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
import tomllib
from hydra.core.global_hydra import GlobalHydra

from e3dnas.arch import save_arch
from e3dnas.arch.released import released_nets
from e3dnas.budget import Budget, BudgetError
from e3dnas.configs import read_conf
from e3dnas.data.config import DatasetConfig
from e3dnas.scores import ScorerSpec
from e3dnas.search.evolution import Evolution
from e3dnas.search.problem import SearchProblem
from e3dnas.search.settings import SearchSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def command(monkeypatch, tmp_path):
    """``command(main, script, *args)``: ``script *args`` run in this process (exit code 0 asserted)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")

    def run(main, script: str, *args: str) -> None:
        GlobalHydra.instance().clear()
        monkeypatch.setattr(sys, "argv", [script, *args])
        try:
            main()
        except SystemExit as stop:
            assert not stop.code, stop.code
        finally:
            GlobalHydra.instance().clear()

    return run


def count_calls(monkeypatch, counts: Counter, owner: object, name: str) -> None:
    """Count each call of ``owner.name`` in ``counts[name]``, still calling it."""
    original = getattr(owner, name)

    def spy(*args, **kwargs):
        counts[name] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)


def count_reads(monkeypatch, counts: Counter, path: Path) -> None:
    """Count each read of the file ``path`` in ``counts[path.name]``."""
    original = Path.read_text

    def read_text(self, *args, **kwargs):
        if self.resolve() == path.resolve():
            counts[path.name] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)


@pytest.mark.slow  # two whole searches in this process
def test_a_search_builds_its_problem_and_budget_once(command, monkeypatch, tmp_path):
    """Once for a new run, once for a resumed one: the job read before Hydra starts is the run's (checked
    for the resume there too), not built again by the resume check and the run."""
    from e3dnas.search.__main__ import main

    run_dir = tmp_path / "run"
    args = ["+budget=demo", "search.iterations=300", "wandb.enabled=false", "progress=false"]
    args += ["print_config=false", f"hydra.run.dir={run_dir}"]
    for extra in ([], ["search.resume=true"]):
        counts: Counter = Counter()
        count_calls(monkeypatch, counts, SearchProblem, "__init__")
        count_calls(monkeypatch, counts, Budget, "__post_init__")
        command(main, "e3dnas-search", *args, *extra)
        assert (run_dir / "best.yaml").exists()
        assert counts == {"__init__": 1, "__post_init__": 1}, extra


@pytest.mark.slow  # two one-batch trainings in this process
def test_a_training_reads_its_architecture_and_dataset_once(command, monkeypatch, tmp_path, footage_dataset):
    """Once for a new run, once for a resumed one (its checkpoint's signature checked before Hydra starts
    and again in the run, from the same job)."""
    from e3dnas.train.__main__ import main

    doc = released_nets()["e3d_s"]
    arch = save_arch(tmp_path / "net.yaml", doc.arch, doc.name, doc.meta)
    run_dir = tmp_path / "run"
    args = [f"arch={arch}", "+experiment=demo", f"dataset.root={footage_dataset()}", "dataset.num_workers=0"]
    args += [
        "dataset.persistent_workers=false",
        "logger=csv",
        "callbacks.progress_bar=none",
        "train.test=false",
    ]
    args += ["+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1", "print_config=false"]
    args += [f"hydra.run.dir={run_dir}"]
    for epochs in (1, 2):
        counts: Counter = Counter()
        count_reads(monkeypatch, counts, arch)
        count_calls(monkeypatch, counts, DatasetConfig, "__post_init__")
        command(main, "e3dnas-train", *args, f"trainer.max_epochs={epochs}")
        assert (run_dir / "results.json").exists()
        assert counts == {arch.name: 1, "__post_init__": 1}, epochs


def test_a_budget_without_a_params_limit_says_nothing_of_params():
    """An impossible budget names each limit the seed network breaks, and only limits the budget sets."""
    budget = Budget.from_config(read_conf("budget", "demo") | {"flops": 1e6})
    problem = SearchProblem(
        budget.space(read_conf("space", "e3d")), ScorerSpec("stentr"), budget, SearchSettings()
    )
    with pytest.raises(BudgetError) as refused:
        Evolution(problem, np.random.default_rng(0))
    message = str(refused.value)
    assert message.startswith("budget demo is impossible: the seed network already needs ")
    assert message.endswith(" > 0.001 GFLOPs (conv_macs)")  # its only broken limit
    assert "params" not in message and "None" not in message


def test_breaches_word_each_limit_set():
    budget = Budget.from_config(read_conf("budget", "demo") | {"params": 1e6})
    assert budget.breaches(2e8, 2e6, 40) == [
        "0.200 > 0.100 GFLOPs (conv_macs)",
        "40 > 35 layers",
        "2.00 > 1.00 M params",
    ]
    assert budget.breaches(1e8, 1e6, 35, latency_ms=9.0) == []  # at the limits; no latency limit


def test_each_console_script_is_its_commands_main():
    """``[project.scripts]`` names each command's importable main() directly (no shim), the function
    ``python -m`` runs."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"e3dnas-search", "e3dnas-train", "e3dnas-evaluate", "e3dnas-arch"} <= set(scripts)
    for script, target in scripts.items():
        module, _, name = target.partition(":")
        assert name == "main" and callable(getattr(import_module(module), name)), script
