"""The search's config schema (defaults, ranges, one-line errors), scorers and spaces of one's own by
``_target_``, and the released networks by name."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from e3dnas.arch import ArchBatch, read_arch
from e3dnas.arch.released import arch_document, released_nets
from e3dnas.configs import CONF_DIR
from e3dnas.describe import main as arch_main
from e3dnas.errors import E3DError
from e3dnas.report.plots import published_top1
from e3dnas.scores import ScorerError, ScorerSpec, build_scorer
from e3dnas.search import SearchProblem, SearchSettings, SettingsError, run_search
from e3dnas.search.checkpoint import run_signature
from e3dnas.search.config import read_search, search_problem
from e3dnas.search.run import run
from e3dnas.space import SpaceError

ROOT = Path(__file__).resolve().parents[1]

#: A scorer and a space of a user's own package: what docs/extending_search.md walks through.
USER_MODULE = '''
import numpy as np

from e3dnas.space import SearchSpace


def widest(power=1.0):
    """Score: the widest last stage wins."""
    return lambda batch: batch.column("width")[:, -1].astype(np.float64) ** power


def wrong_shape():
    return lambda batch: np.zeros((len(batch), 2))


def broken():
    return lambda batch: 1 / 0


class FixedStem(SearchSpace):
    """The E3D space, but the stem keeps its width."""

    def mutate(self, genes, rng):
        children = super().mutate(genes, rng)
        moved = children[:, 0] != genes[:, 0]
        children[moved] = genes[moved]  # a child that changed the stem stays its parent
        return children
'''

#: conf/scorer/widest.yaml and conf/space/fixed_stem.yaml of the user's own config dir.
USER_CONFIGS = {
    "scorer/widest.yaml": "name: widest\n_target_: my_search.widest\npower: 2.0\n",
    "space/fixed_stem.yaml": "defaults:\n  - e3d\n  - _self_\n_target_: my_search.FixedStem.from_config\n",
}


@pytest.fixture
def user_package(tmp_path, monkeypatch) -> Path:
    """A module ``my_search`` on sys.path and a config dir using it; returns the config dir."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "my_search.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    for name, text in USER_CONFIGS.items():
        (tmp_path / "conf" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "conf" / name).write_text(text)
    return tmp_path / "conf"


def composed(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("search", overrides=list(overrides))


def search_cli(cwd: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    paths = [str(ROOT / "src"), *([str(pythonpath)] if pythonpath else []), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    cmd = [sys.executable, "-m", "e3dnas.search", "progress=false", "wandb.enabled=false", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def one_line_error(run: subprocess.CompletedProcess) -> str:
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


# --- one default per setting, one range check ---------------------------------------------------------------


def test_search_settings_have_one_default_the_cli_and_python_share():
    cfg = composed("+budget=e3d_s")
    settings = search_problem(cfg).settings
    assert settings == SearchSettings()
    assert (settings.iterations, settings.history_every) == (500_000, 5_000)
    assert composed("+budget=e3d_l_authors").search.iterations == 100_000  # a preset overrides what it needs


def test_resume_signatures_of_the_default_searches_are_unchanged():
    """Digests of run_signature for the default CLI searches, as the code before the schema computed them:
    checkpoints written then still resume."""
    digests = {
        "e3d_s": "a6babd43201cd94b3952280bc15cd0c88b425434",
        "e3d_s_authors": "72bc9b425451321212d4f3c6dfe39ccb35155562",
    }
    for name, digest in digests.items():
        problem = search_problem(composed(f"+budget={name}"))
        signature = run_signature(0, problem, problem.settings.iterations)
        text = json.dumps(signature, sort_keys=True, default=str)
        assert hashlib.sha1(text.encode()).hexdigest() == digest, name


def test_a_flat_scorer_option_is_in_the_resume_signature():
    """Flat in the config, the options still sign a checkpoint: changing one refuses the resume."""
    problem = search_problem(composed("+budget=e3d_s"))
    changed = search_problem(composed("+budget=e3d_s", "scorer.floor=1e-9"))
    assert changed.scorer == ScorerSpec("stentr", {"floor": 1e-9, "rounding": "ceil", "resolution": None})
    before, after = (run_signature(0, p, 100) for p in (problem, changed))
    assert {k for k in before if before[k] != after[k]} == {"scorer.options.floor"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"iterations": 0}, "search.iterations must be an integer >= 1, got 0"),
        ({"seed": -1}, "search.seed must be an integer >= 0, got -1"),
        ({"workers": True}, "search.workers must be an integer >= 1, got True"),
        ({"checkpoint_every": 0}, "search.checkpoint_every must be a number of seconds > 0, got 0"),
    ],
)
def test_settings_out_of_range_name_key_and_range(fields, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        SearchSettings(**fields)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["search.seed=1.5"], "search.seed must be an integer >= 0, got 1.5"),
        (["search.population=0"], "search.population must be an integer >= 1, got 0"),
        (["search.resume=maybe"], "search.resume must be true or false, got 'maybe'"),
        (["+search.speed=2"], "search.speed: unknown key (known: iterations, population, batch, seed,"),
        (["budget.frames=abc"], "budget.frames must be an integer >= 1, got 'abc'"),
        (["budget.layers=0"], "budget.layers must be an integer >= 1, got 0 (budget e3d_s)"),
        (["budget.params=-1"], "budget.params must be null or a positive number, got -1.0 (budget e3d_s)"),
        (["+budget.speed=2"], "budget: unknown field(s) ['speed']"),
        (
            ["+scorer.weight=2"],
            "scorer.weight: unknown option of scorer 'stentr' (its options: floor, rounding, resolution)",
        ),
        (["scorer.floor=abc"], "scorer.floor: Value 'abc' of type 'str' could not be converted to Float"),
        (
            ["scorer=random", "scorer.seed=1.5"],
            "scorer.seed: Value '1.5' of type 'float' could not be converted",
        ),
        (["scorer.name=nope"], "scorer: unknown scorer 'nope' (known: stentr, stentr_floor, stentr_authors,"),
        (["+space.speed=2"], "space.speed: unknown option (its options: seed, kernels,"),
        (["scorer._target_=no_such_pkg.scorer"], "scorer._target_: cannot import 'no_such_pkg.scorer'"),
        (
            ["space._target_=e3dnas.scores.COS_FLOOR"],
            "space._target_: 'e3dnas.scores.COS_FLOOR' is not callable",
        ),
        (
            ["space.max_channels=many"],
            "space.max_channels: Value 'many' of type 'str' could not be converted",
        ),
    ],
)
def test_bad_values_exit_2_with_one_line_naming_the_key(tmp_path, overrides, message):
    assert message in one_line_error(
        search_cli(tmp_path, "+budget=e3d_s", "search.iterations=100", *overrides)
    )


def test_a_sweep_with_one_bad_value_stops_before_any_job(tmp_path):
    run = search_cli(tmp_path, "-m", "+budget=demo", "search.iterations=100", "search.seed=0,abc")
    assert "search.seed must be an integer >= 0, got 'abc'" in one_line_error(run)
    assert not (tmp_path / "multirun").exists()


# --- scorers and spaces of one's own ------------------------------------------------------------------------


def test_unknown_scorer_is_an_e3d_error_listing_the_built_in_ones():
    with pytest.raises(ScorerError, match=r"unknown scorer 'nope' \(known: stentr, stentr_floor") as err:
        build_scorer("nope")
    assert isinstance(err.value, E3DError) and not isinstance(err.value, KeyError)


def test_config_files_of_ones_own_add_a_scorer_and_a_space(user_package, tmp_path):
    """conf/scorer/widest.yaml and conf/space/fixed_stem.yaml in a config dir of the user's, on Hydra's
    search path: no edit to e3dnas."""
    cfg = composed(
        "+budget=demo",
        "scorer=widest",
        "space=fixed_stem",
        "search.iterations=3000",
        "wandb.enabled=false",
        "progress=false",
        f"hydra.searchpath=[file://{user_package}]",
    )
    run(read_search(cfg), tmp_path / "run", [])
    best = read_arch(tmp_path / "run" / "best.yaml")
    assert best.name == "demo-widest-seed0"
    assert best.meta["scores"]["widest"] == best.arch.stages[-1].width ** 2
    records = [json.loads(line) for line in (tmp_path / "run" / "population.jsonl").read_text().splitlines()]
    assert {r["arch"]["stem"]["width"] for r in records} == {24}  # the seed's: FixedStem never moved it
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["scorer"] == {"name": "widest", "options": {"power": 2.0}, "_target_": "my_search.widest"}


def test_a_scorer_of_ones_own_by_python(user_package):
    problem = search_problem(composed("+budget=demo"))
    budget, space = problem.budget, problem.space
    scorer = ScorerSpec("widest", {"power": 1.0}, "my_search.widest")
    result = run_search(SearchProblem(space, scorer, budget, SearchSettings(iterations=2000)), progress=False)
    widths = ArchBatch(space.skeleton, result.population.genes).column("width")[:, -1]
    np.testing.assert_array_equal(result.population.scores, widths)
    with pytest.raises(
        ScorerError, match=r"^scorer\.depth: unknown option of my_search\.widest \(its options: power\)"
    ):
        ScorerSpec("widest", {"depth": 1}, "my_search.widest").build()
    with pytest.raises(ScorerError, match="must return one number per architecture"):
        run_search(
            SearchProblem(
                space, ScorerSpec("bad", {}, "my_search.wrong_shape"), budget, SearchSettings(iterations=64)
            )
        )
    with pytest.raises(SpaceError, match="returned a dict, not a SearchSpace"):
        budget.space(dict(composed("+budget=demo").space) | {"_target_": "builtins.dict"})


def test_a_scorer_of_ones_own_on_the_command_line(user_package, tmp_path):
    """Inline, without a config file: any scorer without options as the base, then name and target."""
    args = ["+budget=demo", "search.iterations=2000", f"hydra.run.dir={tmp_path / 'run'}", "scorer=entropy"]
    run_ = search_cli(
        tmp_path,
        *args,
        "scorer.name=widest",
        "scorer._target_=my_search.widest",
        "+scorer.power=1.0",
        "space._target_=my_search.FixedStem.from_config",
        pythonpath=user_package.parent / "pkg",
    )
    assert run_.returncode == 0, run_.stderr
    assert read_arch(tmp_path / "run" / "best.yaml").name == "demo-widest-seed0"
    bad = search_cli(
        tmp_path, *args, "scorer._target_=my_search.wrong_shape", pythonpath=user_package.parent / "pkg"
    )
    assert "scorer entropy returned (1, 2) for a batch of 1" in one_line_error(bad)
    bug = search_cli(
        tmp_path, *args, "scorer._target_=my_search.broken", pythonpath=user_package.parent / "pkg"
    )
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "ZeroDivisionError" in bug.stderr


# --- released networks ------------------------------------------------------------------------------------


def test_released_networks_come_from_their_files_smallest_first():
    nets = released_nets()
    assert list(nets) == ["e3d_s", "e3d_m", "e3d_l"]
    assert arch_document("e3d_s") is nets["e3d_s"]
    assert arch_document(str(ROOT / "conf" / "arch" / "e3d_s.yaml")).arch == nets["e3d_s"].arch
    assert published_top1("sthv1")["E3D-M"] == (4.7, 49.4) and published_top1("sthv2") == {
        "E3D-L": (18.3, 65.7)
    }


def test_arch_command_takes_a_released_name(capsys):
    assert arch_main(["e3d_s"]) == 0
    assert "E3D-S @ 13×160²" in capsys.readouterr().out
    assert arch_main(["e3d_x"]) == 2
    assert "unknown released network 'e3d_x' (known: e3d_s, e3d_m, e3d_l)" in capsys.readouterr().err
