"""Find the search and training runs under a directory and read what each one produced."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from e3dnas.arch import ArchError, read_arch
from e3dnas.records import RecordError, SearchSummary, TrainResults, read_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRecord:
    kind: str  # "search" | "train"
    run_dir: str
    budget: str | None
    dataset: str | None
    frames: int | None
    resolution: int | None
    seed: int | None
    model: str | None
    scorer: str | None
    score: float | None
    flops: float | None  # conv MACs
    authors_flops: float | None
    params_backbone: int | None  # the searched backbone (what budgets count)
    layers: int | None
    budget_flops: float | None = None
    budget_counter: str | None = None
    reference: str | None = None  # the released network the budget is aligned with
    val_top1: float | None = None
    test_top1: float | None = None
    test_split: str | None = None  # the split test_top1 was measured on: test, or val where none is labelled
    latency_ms: float | None = None  # predicted, by the latency table of the search's budget
    budget_latency_ms: float | None = None
    latency_device: str | None = None
    #: The search's scorer (name, options, _target_) as JSON: a released net is scored by the same one.
    scorer_spec: str | None = None
    #: The whole trained network (head and classifier included), which depends on the class count: trainings.
    params_total: int | None = None

    def row(self) -> dict[str, Any]:
        return asdict(self)

    def flops_by(self, counter: str) -> float | None:
        return {"conv_macs": self.flops, "authors": self.authors_flops}[counter]


def _hydra_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / ".hydra" / "config.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def read_search(run_dir: Path) -> RunRecord:
    summary = read_record(run_dir / "summary.json", SearchSummary)
    best = read_arch(run_dir / "best.yaml")
    flops = summary.best_flops_by_counter or {"conv_macs": summary.best_flops}
    latency = best.meta.get("latency") or {}  # searches with a latency table (docs/latency.md)
    budget = summary.budget
    return RunRecord(
        kind="search",
        run_dir=str(run_dir),
        budget=budget["name"],
        dataset=None,
        frames=budget["frames"],
        resolution=budget["resolution"],
        seed=summary.settings["seed"],
        model="e3d",
        scorer=summary.scorer["name"],
        score=summary.best_score,
        flops=flops.get("conv_macs"),
        authors_flops=flops.get("authors"),
        # best.yaml files written before the count was named hold the same number as "params"
        params_backbone=best.meta.get("params_backbone", best.meta.get("params")),
        layers=best.meta.get("layers"),
        budget_flops=budget["flops"],
        # Budgets written before the counter was named were in conv MACs.
        budget_counter=budget.get("counter", "conv_macs"),
        reference=budget.get("reference"),
        latency_ms=latency.get("predicted_ms"),
        budget_latency_ms=budget.get("latency_ms"),
        latency_device=latency.get("device"),
        scorer_spec=json.dumps(summary.scorer, sort_keys=True),
    )


def read_train(run_dir: Path) -> RunRecord:
    results = read_record(run_dir / "results.json", TrainResults)
    config = _hydra_config(run_dir)
    return RunRecord(
        kind="train",
        run_dir=str(run_dir),
        budget=results.budget,
        dataset=results.dataset,
        # the size trained at (a dataset config may leave it to the architecture)
        frames=results.frames or config.get("dataset", {}).get("frames"),
        resolution=results.resolution or config.get("dataset", {}).get("resolution"),
        seed=config.get("seed"),
        model=results.arch or results.model,
        scorer=None,
        score=results.score,
        flops=results.flops,
        authors_flops=results.authors_flops,
        params_backbone=results.params_backbone,
        params_total=results.params_total,
        layers=results.layers,
        val_top1=results.val_top1,
        test_top1=results.test_top1,
        # runs from before results named it tested on the validation split
        test_split=(results.test_split or "val") if results.test_top1 is not None else None,
    )


def collect(root: Path) -> tuple[list[RunRecord], list[str]]:
    """Every run below ``root`` (search: summary.json + best.yaml; train: results.json), and the problems.

    A run whose files are unreadable is reported and skipped, never silently dropped.
    """
    records, problems = [], []
    readers = {"summary.json": read_search, "results.json": read_train}
    for marker, reader in readers.items():
        for path in sorted(root.rglob(marker)):
            try:
                records.append(reader(path.parent))
            except RecordError as err:  # names the file and the field
                problems.append(f"{err} (skipped)")
            except (OSError, KeyError, ValueError, ArchError, yaml.YAMLError) as err:
                problems.append(f"{path.parent}: skipped ({type(err).__name__}: {err})")
            else:
                continue
            log.warning(problems[-1])
    records.sort(key=lambda r: (r.kind, r.budget or "", r.model or "", r.seed if r.seed is not None else -1))
    return records, problems
