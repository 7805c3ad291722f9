"""Read what an offline wandb run recorded straight from its ``.wandb`` file, with wandb's own protobuf.

wandb >= 0.2x writes no config.yaml/wandb-metadata.json offline and ships no Python reader: the file is
a LevelDB-style log (7-byte file header, 32 KiB blocks, records ``crc32 u32 | length u16 | type u8``
split into FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4 fragments) of ``wandb_internal_pb2.Record`` messages.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from wandb.proto import wandb_internal_pb2

from processes import wait_until


def wandb_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """Every record of an offline ``.wandb`` file, in order."""
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb transaction log"
    block, pos, chunk, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # the rest of a block too small for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:  # zero padding at the end of a block
            pos += block - pos % block
            continue
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def finished_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """The records of a finished run's file, once they are all there: wandb's service process writes the
    file on its own, and may still be writing it when the run's process has returned from ``finish``."""

    def complete() -> list[wandb_internal_pb2.Record]:
        try:
            records = wandb_records(path)
        except (OSError, AssertionError, DecodeError):  # not there yet, or its last record half written
            return []
        kinds = {record.WhichOneof("record_type") for record in records}
        return records if {"run", "exit"} <= kinds else []

    return wait_until(complete, f"run and exit records in {path}")


def wandb_run_record(path: Path) -> wandb_internal_pb2.RunRecord:
    """The run record of a finished run's offline ``.wandb`` file."""
    return next(r.run for r in finished_records(path) if r.WhichOneof("record_type") == "run")


def _items(items) -> dict[str, Any]:
    """History, summary or config items as a dict: nested keys joined with "/" as wandb shows them."""
    out = {}
    for item in items:
        key = "/".join(item.nested_key) if item.nested_key else item.key
        out[key] = json.loads(item.value_json)
    return out


@dataclass
class WandbRun:
    """What one offline run file holds, decoded."""

    path: Path
    run: wandb_internal_pb2.RunRecord
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, wandb_internal_pb2.MetricRecord] = field(default_factory=dict)
    artifacts: list[wandb_internal_pb2.ArtifactRecord] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def id(self) -> str:
        return self.run.run_id

    @property
    def group(self) -> str:
        return self.run.run_group

    @property
    def job_type(self) -> str:
        return self.run.job_type

    @property
    def logged_artifacts(self) -> list[wandb_internal_pb2.ArtifactRecord]:
        """Artifacts this run produced (output lineage)."""
        return [a for a in self.artifacts if not a.use_after_commit]

    @property
    def used_artifacts(self) -> list[wandb_internal_pb2.ArtifactRecord]:
        """Artifacts this run declared as its inputs (``use_artifact`` of an artifact built here)."""
        return [a for a in self.artifacts if a.use_after_commit]

    def artifact_files(self, artifact: wandb_internal_pb2.ArtifactRecord) -> dict[str, str]:
        """path in the artifact → digest of each file."""
        return {entry.path: entry.digest for entry in artifact.manifest.contents}


def read_wandb_run(path: Path) -> WandbRun:
    """Run record, config, history rows, final summary, metric definitions, artifacts and exit code of a
    finished run."""
    records = finished_records(path)
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    out = WandbRun(path=Path(path), run=run)
    out.config |= _items(run.config.update)
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "config":
            out.config |= _items(record.config.update)
        elif kind == "history":
            out.history.append(_items(record.history.item))
        elif kind == "summary":
            out.summary |= _items(record.summary.update)
        elif kind == "metric":
            out.metrics[record.metric.name or record.metric.glob_name] = record.metric
        elif kind == "artifact":
            out.artifacts.append(record.artifact)
        elif kind == "exit":
            out.exit_code = record.exit.exit_code
    return out


def wandb_runs(root: Path) -> list[WandbRun]:
    """Every offline run under ``root`` (``<root>/**/offline-run-*/run-*.wandb``), oldest first."""
    files = sorted(Path(root).glob("**/offline-run-*/run-*.wandb"), key=lambda p: p.parent.name)
    return [read_wandb_run(p) for p in files]
