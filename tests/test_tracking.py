"""wandb joins a search to the trainings and evaluations of its networks: one group, the search's
best.yaml as a versioned artifact the training declares as input, restarts resuming the same run, live
search history, model cost and summaries. Read back from the offline run files with wandb's own protobuf
records (tests/wandb_records.py), no mocking."""

from __future__ import annotations

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from e3dnas.configs import CONF_DIR
from e3dnas.evaluate.run import evaluate
from e3dnas.train.run import train
from processes import start, wait_until
from wandb_records import WandbRun, wandb_runs

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
SMALL_TRAIN = [
    "+experiment=demo",
    "dataset.num_workers=0",
    "dataset.persistent_workers=false",
    "callbacks.progress_bar=none",
    "+trainer.limit_train_batches=1",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
]


@pytest.fixture(autouse=True)
def offline_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def compose_cfg(name: str, *overrides: str):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides))


def search(*args: str, wait: bool = True):
    flags = [a for a in args if a.startswith("-")]  # before the overrides (argparse)
    overrides = [a for a in args if not a.startswith("-")]
    cmd = [sys.executable, "-m", "e3dnas.search", *flags, "+budget=demo", "progress=false", *overrides]
    if not wait:
        return start(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run


def only_run(root: Path) -> WandbRun:
    (run,) = wandb_runs(root)
    return run


def history_rows(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / "history.csv").open()))


@pytest.mark.parametrize("workers", [1, 2])
def test_search_logs_history_live_and_its_best_yaml_as_a_versioned_artifact(tmp_path, workers):
    run_dir = tmp_path / "search"
    search(
        "search.iterations=2000",
        "search.history_every=500",
        f"search.workers={workers}",
        f"hydra.run.dir={run_dir}",
    )
    run = only_run(run_dir)
    recorded = json.loads((run_dir / "wandb_run.json").read_text())
    assert (run.id, run.group, run.job_type) == (recorded["id"], "search", "search")
    assert run.exit_code == 0

    # Every history.csv row went to wandb, each as it came (logged before the result: table, artifact).
    logged = sorted((row["island"], row["evaluated"]) for row in run.history if "island" in row)
    assert logged == sorted((int(r["island"]), int(r["evaluated"])) for r in history_rows(run_dir))
    assert len(logged) == 4  # 2000 candidates, a row every 500 (per island)
    assert run.metrics["*"].step_metric == "evaluated"

    # best.yaml: an artifact per budget and objective, this search's version named by an alias.
    (artifact,) = [a for a in run.logged_artifacts if a.type == "architecture"]
    assert artifact.name == "arch-demo-stentr" and f"run-{run.id}" in artifact.aliases
    assert list(run.artifact_files(artifact)) == ["best.yaml"]
    meta = yaml.safe_load((run_dir / "best.yaml").read_text())["meta"]
    assert meta["source"]["wandb"] == {
        "project": "e3dnas",
        "entity": None,
        "group": "search",
        "run_id": run.id,
        "run_name": "search-demo-stentr-seed0",
        "artifact": f"arch-demo-stentr:run-{run.id}",
    }
    top2 = yaml.safe_load((run_dir / "top" / "02.yaml").read_text())["meta"]["source"]["wandb"]
    assert top2["group"] == "search" and "artifact" not in top2

    # Summary and the top-k table: entropy, both FLOPs counts, structure, files relative to the run dir.
    assert run.summary["best_entropy"] == pytest.approx(meta["scores"]["entropy"])
    assert run.summary["flops_conv_macs"] == meta["flops"]["conv_macs"]
    assert run.summary["flops_authors"] == meta["flops"]["authors"]
    table = json.loads((run.path.parent / "files" / run.summary["top_k/path"]).read_text())
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert len(rows) == 10 and rows[0]["file"] == "top/01.yaml" and rows[9]["file"] == "top/10.yaml"
    best = yaml.safe_load((run_dir / "best.yaml").read_text())
    for i, stage in enumerate(best["stages"], start=1):
        assert rows[0][f"stage{i}_width"] == stage["width"]
        assert rows[0][f"stage{i}_depth"] == stage["depth"]
        assert rows[0][f"stage{i}_bottleneck"] == stage["bottleneck"]
        assert rows[0][f"stage{i}_kernel"] == "x".join(map(str, stage["kernel"]))
    assert rows[0]["entropy"] == pytest.approx(meta["scores"]["entropy"])
    assert {"score", "flops_conv_macs", "flops_authors", "params_backbone", "layers"} <= rows[0].keys()


def test_interrupted_search_finishes_its_run_and_the_resume_continues_it(tmp_path):
    run_dir = tmp_path / "search"
    args = ["search.iterations=100000", "search.checkpoint_every=0.2", f"hydra.run.dir={run_dir}"]
    victim = search(*args, wait=False)
    checkpoint = run_dir / "checkpoint" / "island0.pkl"

    def checkpointed_history() -> bool:  # rows are logged as they come, before the checkpoint holds them
        return checkpoint.exists() and bool(pickle.loads(checkpoint.read_bytes())["state"]["history"])

    wait_until(checkpointed_history, "a checkpoint holding a history row", victim)
    victim.send_signal(signal.SIGINT)
    _, err = victim.communicate(timeout=120)
    assert victim.returncode == 130, err
    interrupted = only_run(run_dir)
    assert interrupted.exit_code == 130 and interrupted.summary.get("interrupted") is True
    assert interrupted.history, "history rows are logged while the search runs, not at its end"
    assert not interrupted.logged_artifacts

    search(*args, "search.resume=true")
    first, resumed = wandb_runs(run_dir)
    assert first.id == interrupted.id == resumed.id  # the same wandb run, resumed
    assert resumed.exit_code == 0 and resumed.logged_artifacts
    last_before = max(row["evaluated"] for row in first.history if "island" in row)
    assert min(row["evaluated"] for row in resumed.history if "island" in row) > last_before


def test_sweep_trainings_and_evaluation_share_one_group_with_lineage_and_resume(tmp_path, footage_dataset):
    """A search sweep, the training of its best net (1 epoch, then restarted for a second) and the
    evaluation: one group (the sweep's), training uses the search's artifact version, one training run."""
    sweep = tmp_path / "sweep"
    search("-m", "search.iterations=2000", "search.seed=0", f"hydra.sweep.dir={sweep}")
    searched = only_run(sweep)
    (arch_artifact,) = [a for a in searched.logged_artifacts if a.type == "architecture"]
    best_yaml = sweep / "0" / "best.yaml"

    train_dir = tmp_path / "train"
    overrides = [
        *SMALL_TRAIN,
        f"arch_file={best_yaml}",
        f"dataset.root={footage_dataset()}",
        "logger=wandb",
        "logger.wandb.log_checkpoint=true",
        "train.test=false",
    ]
    train(compose_cfg("train", *overrides, "trainer.max_epochs=1"), train_dir)
    results = train(compose_cfg("train", *overrides, "trainer.max_epochs=2"), train_dir)  # a restart
    assert results["global_step"] == 2
    first, restarted = wandb_runs(train_dir)
    assert first.id == restarted.id == json.loads((train_dir / "wandb_run.json").read_text())["id"]
    for run in (first, restarted):
        assert (run.group, run.job_type) == ("sweep", "train")
        (used,) = run.used_artifacts
        assert (used.name, used.type, used.digest) == (
            "arch-demo-stentr",
            "architecture",
            arch_artifact.digest,
        )
        assert run.config["lineage"]["artifact"] == f"arch-demo-stentr:run-{searched.id}"
        assert set(run.summary["val/top1"]) == {"max"} and set(run.summary["val/loss"]) == {"min"}
        assert run.summary["model/params_total"] == results["params_total"]
        assert run.summary["model/params_backbone"] == results["params_backbone"] < results["params_total"]
        assert run.summary["model/flops_conv_macs"] == results["flops"]
        assert run.summary["model/flops_authors"] == results["authors_flops"]
        (model,) = run.logged_artifacts
        assert model.name == f"model-{run.id}" and set(model.aliases) == {"best", "latest"}
    # The restart logs only its own (second) epoch, after the first's.
    epochs = [[row["epoch"] for row in run.history if "val/top1" in row] for run in (first, restarted)]
    assert epochs == [[0], [1]]

    evaluated = evaluate(
        compose_cfg(
            "eval",
            f"ckpt={results['best_checkpoint']}",
            f"dataset.root={footage_dataset()}",
            "dataset.num_workers=0",
            "dataset.persistent_workers=false",
        ),
        tmp_path / "eval",
    )
    run = only_run(tmp_path / "eval")
    assert (run.group, run.job_type) == ("sweep", "eval")
    assert run.config["train_run"]["id"] == first.id
    assert run.summary["eval/top1"] == pytest.approx(evaluated["top1"])
    assert run.summary["eval/confusion_matrix_table/_type"] == "table-file"
    assert run.summary["eval/confusion/_type"] == "image-file"


def test_x3d_training_logs_its_flops_and_params(tmp_path, footage_dataset):
    """Models without an architecture file get fvcore's conv count, traced once at the start of fitting."""
    overrides = [
        *SMALL_TRAIN,
        "model=x3d_xs",
        f"dataset.root={footage_dataset()}",
        "logger=wandb",
        "logger.wandb.group=baselines",
        "trainer.max_epochs=1",
        "train.test=false",
    ]
    train(compose_cfg("train", *overrides), tmp_path)
    run = only_run(tmp_path)
    assert (run.group, run.job_type) == ("baselines", "train") and not run.used_artifacts
    assert (
        run.summary["model/flops_conv_macs"] > 1e6
        and run.summary["model/flops_fvcore_total"] >= (run.summary["model/flops_conv_macs"])
    )
    assert run.summary["model/params_total"] > 1e5
    assert run.config["lineage"] is None
