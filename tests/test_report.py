"""``python -m e3dnas.report`` over real search and training runs."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import yaml

from e3dnas.report.__main__ import main as report_main

ROOT = Path(__file__).resolve().parents[1]


def test_report_compares_searches_and_trainings(tmp_path, footage_dataset):
    sweep = tmp_path / "sweep"
    for budget in ("demo", "e3d_s"):
        for seed in (0, 1):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "e3dnas.search",
                    f"+budget={budget}",
                    f"search.seed={seed}",
                    "search.iterations=10000",
                    "wandb.enabled=false",
                    "progress=false",
                    f"hydra.run.dir={sweep / f'{budget}-{seed}'}",
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
    data = footage_dataset()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "e3dnas.train",
            f"arch={sweep / 'demo-0' / 'best.yaml'}",
            "+experiment=demo",
            f"dataset.root={data}",
            "dataset.num_workers=0",
            "dataset.persistent_workers=false",
            "logger=csv",
            "trainer.max_epochs=1",
            "train.test=false",
            "callbacks.progress_bar=none",
            f"hydra.run.dir={sweep / 'train'}",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (sweep / "broken").mkdir()
    (sweep / "broken" / "summary.json").write_text("{not json")

    assert report_main([str(sweep)]) == 0
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [(r["kind"], r["budget"], r["seed"]) for r in rows] == [
        ("search", "demo", "0"),
        ("search", "demo", "1"),
        ("search", "e3d_s", "0"),
        ("search", "e3d_s", "1"),
        ("train", "demo", "0"),
    ]
    # Each search is within its budget in the budget's own count; both counts are reported.
    counted = {"conv_macs": "flops", "authors": "authors_flops"}
    for r in rows:
        if r["kind"] == "search":
            assert float(r[counted[r["budget_counter"]]]) <= float(r["budget_flops"])
            assert float(r["authors_flops"]) > 0 and float(r["flops"]) > 0
    assert [r["budget_counter"] for r in rows[:4]] == ["conv_macs", "conv_macs", "authors", "authors"]
    assert 0 <= float(rows[-1]["val_top1"]) <= 1 and rows[-1]["model"] == "demo-stentr-seed0"
    # Both parameter counts, named: the searched backbone (best.yaml's) and the trained network with its head.
    results = json.loads((sweep / "train" / "results.json").read_text())
    best = yaml.safe_load((sweep / "demo-0" / "best.yaml").read_text())
    assert results["params_backbone"] == best["meta"]["params_backbone"] == int(rows[-1]["params_backbone"])
    assert results["params_total"] == int(rows[-1]["params_total"]) > results["params_backbone"]
    assert "params" not in results and "params" not in best["meta"]
    assert rows[0]["params_backbone"] and not rows[0]["params_total"]  # a search has no classifier
    document = (sweep / "report.md").read_text()
    assert "| search | e3d_s-1 |  | e3d_s | 1 | e3d | stentr |" in document
    assert "| GFLOPs (authors') | GFLOPs (conv MACs) | params backbone (M) | params total (M) |" in document
    assert "| train | train | demo | demo | 0 | demo-stentr-seed0 |" in document
    assert "![scores](scores.png)" in document and "![accuracy](accuracy.png)" in document
    assert f"- {sweep / 'broken' / 'summary.json'}: not JSON (Expecting property name" in document
    for picture in ("scores.png", "accuracy.png"):
        assert (sweep / picture).read_bytes()[:4] == b"\x89PNG"


def test_report_on_an_empty_or_missing_dir(tmp_path, capsys):
    assert report_main([str(tmp_path)]) == 2
    assert "no search (summary.json) or training (results.json) runs" in capsys.readouterr().err
    assert report_main([str(tmp_path / "nope")]) == 2


def test_report_reads_searches_written_before_the_counter_was_named(tmp_path, capsys):
    """An older summary.json has one ``best_flops`` (conv MACs) and a budget without ``counter``."""
    from e3dnas.arch import save_arch
    from e3dnas.arch.released import released_arch
    from e3dnas.report.collect import read_search

    run = tmp_path / "old"
    save_arch(
        run / "best.yaml", released_arch("e3d_s").arch, "old", {"flops": 1.86e9, "params": 1, "layers": 83}
    )
    budget = {"name": "e3d_s", "frames": 13, "resolution": 160, "flops": 2e9, "layers": 83, "params": None}
    summary = {"budget": budget, "settings": {"seed": 0}, "scorer": {"name": "stentr"}}
    (run / "summary.json").write_text(json.dumps(summary | {"best_score": 203.0, "best_flops": 1.86e9}))
    record = read_search(run)
    assert (record.flops, record.authors_flops, record.budget_counter) == (1.86e9, None, "conv_macs")
    # The report says where each file it wrote is, pictures included.
    assert report_main([str(tmp_path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    written = ["report.md", "report.csv", "scores.png"]
    assert last == f"1 runs (0 skipped) -> {', '.join(str(tmp_path / name) for name in written)}"


def test_the_released_net_is_scored_with_the_searchs_scorer_options(tmp_path):
    """A search under ``stentr`` with the authors' options (floored sides, 160 px) compares with the released
    network scored the same way, not under the plain ``stentr`` of the same name."""
    from e3dnas.arch import save_arch
    from e3dnas.arch.released import released_arch
    from e3dnas.report.collect import read_search
    from e3dnas.report.plots import released
    from e3dnas.scores import score_arch

    arch = released_arch("e3d_m").arch
    run = tmp_path / "run"
    save_arch(run / "best.yaml", arch, "run", {"params": 1, "layers": 83})
    budget = {"name": "e3d_m", "frames": 16, "resolution": 224, "flops": 5e9, "layers": 83, "params": None}
    scorer = {"name": "stentr", "options": {"rounding": "floor", "resolution": 160}, "_target_": None}
    summary = {"budget": budget | {"counter": "authors", "reference": "e3d_m"}, "settings": {"seed": 0}}
    summary |= {"scorer": scorer, "best_score": 1.0, "best_flops": 1e9}
    (run / "summary.json").write_text(json.dumps(summary))
    _, score = released(read_search(run))
    at_budget = arch.with_input(16, 224)
    assert score == score_arch(at_budget, "stentr_authors") != score_arch(at_budget, "stentr")


def test_a_test_top1_measured_on_the_validation_split_says_so():
    from e3dnas.report.collect import RunRecord
    from e3dnas.report.tables import markdown

    trained = dict(kind="train", run_dir="r", budget=None, dataset="demo", frames=8, resolution=56, seed=0)
    trained |= dict(model="E3D-S", scorer=None, score=None, flops=None, authors_flops=None)
    trained |= dict(params_backbone=None)
    tested = [RunRecord(**trained, layers=None, test_top1=0.5, test_split=split) for split in ("val", "test")]
    rows = [line for line in markdown(tested).splitlines() if line.startswith("| train")]
    assert rows[0].endswith("| 50.0 (val split) |") and rows[1].endswith("| 50.0 |")


def test_trainings_of_one_network_on_two_datasets_are_told_apart_by_run_dir_and_dataset(tmp_path):
    from e3dnas.report.collect import RunRecord
    from e3dnas.report.tables import markdown

    trained = dict(kind="train", budget=None, frames=8, resolution=64, seed=0, model="E3D-S", scorer=None)
    trained |= dict(score=None, flops=None, authors_flops=None, params_backbone=788256, layers=None)
    runs = [
        RunRecord(**trained, run_dir=str(tmp_path / "multirun" / str(i)), dataset=dataset, params_total=total)
        for i, (dataset, total) in enumerate([("ucf9", 1857321), ("arid6", 1851171)])
    ]
    header, _, *rows = markdown(runs, tmp_path).splitlines()
    assert header.startswith("| kind | run dir | dataset | budget | seed | model |")
    assert rows[0].startswith("| train | multirun/0 | ucf9 |  | 0 | E3D-S |")
    assert rows[1].startswith("| train | multirun/1 | arid6 |  | 0 | E3D-S |")
    assert "| 0.788 | 1.857 |" in rows[0] and "| 0.788 | 1.851 |" in rows[1]
    elsewhere = markdown(runs[:1], tmp_path / "other").splitlines()[2]  # outside the root: the whole path
    assert elsewhere.startswith(f"| train | {tmp_path / 'multirun' / '0'} | ucf9 |")
