"""The run records (e3dnas.records): summary.json, results.json and metrics.json read and written as one
typed, versioned record each; an old file is read with its documented fallback, a foreign one is one line."""

import json

import pytest

from e3dnas.records import (
    SCHEMA_VERSION,
    EvalMetrics,
    RecordError,
    SearchSummary,
    TrainResults,
    read_record,
    write_record,
)

TRAINED = {
    "model": "e3d",
    "dataset": "ucf9",
    "arch": "demo-stentr-seed0",
    "flops": 1.0e8,
    "authors_flops": 1.1e8,
    "params_backbone": 788256,
    "layers": 40,
    "budget": "demo",
    "score": 80.5,
    "params_total": 1857321,
    "val_top1": 0.6,
    "test_top1": 0.5,
    "test_top5": 0.9,  # a metric the record does not declare: kept, written back flat
    "test_split": "val",
    "skipped_samples": 0,
}


def test_a_record_is_written_with_its_version_and_read_back_unchanged(tmp_path):
    write_record(tmp_path / "results.json", TrainResults.from_dict(TRAINED))
    written = json.loads((tmp_path / "results.json").read_text())
    unset = ("best_checkpoint", "last_checkpoint", "final_val_top1", "frames", "resolution", "epochs")
    unset += ("global_step", "init_from", "lr_scaling")
    assert written == {"schema_version": SCHEMA_VERSION} | TRAINED | dict.fromkeys(unset)
    record = read_record(tmp_path / "results.json", TrainResults)
    assert (record.params_backbone, record.params_total, record.extra) == (
        788256,
        1857321,
        {"test_top5": 0.9},
    )
    assert record.schema_version == SCHEMA_VERSION


def test_fields_a_model_without_an_architecture_lacks_stay_out_of_the_file(tmp_path):
    x3d = {"model": "x3d_s", "dataset": "ucf9", "params_total": 3_000_000}
    write_record(tmp_path / "results.json", TrainResults.from_dict(x3d))
    written = json.loads((tmp_path / "results.json").read_text())
    assert not {"arch", "flops", "params_backbone", "score", "test_top1", "test_split"} & written.keys()


def test_an_old_file_reads_its_params_as_the_backbones(tmp_path):
    old = {k: v for k, v in TRAINED.items() if k not in ("params_backbone", "params_total")} | {
        "params": 788256
    }
    (tmp_path / "results.json").write_text(json.dumps(old))
    record = read_record(tmp_path / "results.json", TrainResults)
    assert (record.params_backbone, record.params_total, record.schema_version) == (788256, None, 0)


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        (
            SearchSummary,
            {"best_score": 1.0},
            "summary.json: field 'budget' is missing (not a search summary record?)",
        ),
        (
            TrainResults,
            {"model": "e3d", "dataset": 3},
            "results.json: field 'dataset' must be a string, got 3",
        ),
        (
            EvalMetrics,
            {"ckpt": "a", "dataset": "d", "root": "r", "frames": "8"},
            "metrics.json: field 'frames' must be an integer, got '8'",
        ),
        (TrainResults, [1, 2], "results.json: not a training results record (a JSON object), got list"),
        (
            TrainResults,
            {"schema_version": 99},
            "results.json: schema_version 99 is not one this e3dnas reads (<= 1); update e3dnas",
        ),
    ],
)
def test_a_foreign_or_newer_file_is_one_line_naming_the_file_and_the_field(tmp_path, kind, content, message):
    path = tmp_path / kind.filename
    path.write_text(json.dumps(content))
    with pytest.raises(RecordError) as err:
        read_record(path, kind)
    assert str(err.value) == f"{tmp_path}/{message}"
    path.write_text("{not json")
    with pytest.raises(RecordError, match=rf"^{path}: not JSON \("):
        read_record(path, kind)
