"""Find the search and training runs under a directory and read what each one produced."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from e3dnas.arch import ArchError, read_arch

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
    params: int | None
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

    def row(self) -> dict[str, Any]:
        return asdict(self)

    def flops_by(self, counter: str) -> float | None:
        return {"conv_macs": self.flops, "authors": self.authors_flops}[counter]


def _hydra_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / ".hydra" / "config.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def read_search(run_dir: Path) -> RunRecord:
    summary = json.loads((run_dir / "summary.json").read_text())
    best = read_arch(run_dir / "best.yaml")
    flops = summary.get("best_flops_by_counter") or {"conv_macs": summary["best_flops"]}
    latency = best.meta.get("latency") or {}  # searches with a latency table (docs/latency.md)
    return RunRecord(
        kind="search",
        run_dir=str(run_dir),
        budget=summary["budget"]["name"],
        dataset=None,
        frames=summary["budget"]["frames"],
        resolution=summary["budget"]["resolution"],
        seed=summary["settings"]["seed"],
        model="e3d",
        scorer=summary["scorer"]["name"],
        score=summary["best_score"],
        flops=flops.get("conv_macs"),
        authors_flops=flops.get("authors"),
        params=best.meta.get("params"),
        layers=best.meta.get("layers"),
        budget_flops=summary["budget"]["flops"],
        # Budgets written before the counter was named were in conv MACs.
        budget_counter=summary["budget"].get("counter", "conv_macs"),
        reference=summary["budget"].get("reference"),
        latency_ms=latency.get("predicted_ms"),
        budget_latency_ms=summary["budget"].get("latency_ms"),
        latency_device=latency.get("device"),
        scorer_spec=json.dumps(summary["scorer"], sort_keys=True),
    )


def read_train(run_dir: Path) -> RunRecord:
    results = json.loads((run_dir / "results.json").read_text())
    config = _hydra_config(run_dir)
    return RunRecord(
        kind="train",
        run_dir=str(run_dir),
        budget=results.get("budget"),
        dataset=results.get("dataset"),
        frames=config.get("dataset", {}).get("frames"),
        resolution=config.get("dataset", {}).get("resolution"),
        seed=config.get("seed"),
        model=results.get("arch") or results.get("model"),
        scorer=None,
        score=results.get("score"),
        flops=results.get("flops"),
        authors_flops=results.get("authors_flops"),
        params=results.get("params"),
        layers=results.get("layers"),
        val_top1=results.get("val_top1"),
        test_top1=results.get("test_top1"),
        # runs from before results named it tested on the validation split
        test_split=results.get("test_split", "val") if "test_top1" in results else None,
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
            except (OSError, KeyError, ValueError, ArchError, yaml.YAMLError) as err:
                problems.append(f"{path.parent}: skipped ({type(err).__name__}: {err})")
                log.warning(problems[-1])
    records.sort(key=lambda r: (r.kind, r.budget or "", r.model or "", r.seed if r.seed is not None else -1))
    return records, problems
