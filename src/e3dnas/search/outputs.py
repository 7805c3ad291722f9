"""Files a search leaves in its run dir: best.yaml, top/<rank>.yaml, history.csv, population.jsonl."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from e3dnas import __version__, cost, scores
from e3dnas.arch import Arch, ArchBatch, arch_to_dict, save_arch
from e3dnas.atomic import atomic_write_csv, atomic_write_text
from e3dnas.records import SearchSummary, write_record
from e3dnas.search.evolution import HISTORY_COLUMNS, SearchResult
from e3dnas.search.problem import SearchProblem

#: Scorers recorded in every architecture's metadata: STEntr under each objective and its ablation.
RECORDED_SCORES = (*scores.OBJECTIVES, "entropy")


def flops_meta(c: cost.Cost) -> dict[str, float]:
    """Both FLOPs counts, as an architecture's ``meta.flops`` holds them."""
    return {counter: c.flops_by(counter) for counter in cost.FLOPS_COUNTERS}


def population_archs(result: SearchResult, skeleton) -> list[Arch]:
    batch = ArchBatch(skeleton, result.population.genes)
    return [batch.arch(i) for i in range(len(batch))]


def arch_meta(
    arch: Arch,
    rank: int,
    score: float,
    problem: SearchProblem,
    wandb: Mapping[str, Any] | None = None,
    latency: Mapping[str, Any] | None = None,
):
    """``meta`` of a searched architecture file. ``wandb`` (the search's run, when it logs one) goes to
    ``source.wandb``: trainings inherit its group and declare its artifact as their input. ``latency``
    (:meth:`LatencyConstraint.meta`) when the budget has a latency table."""
    c = cost.cost(arch)
    scorer, settings = problem.scorer, problem.settings
    source = {
        "tool": f"e3dnas {__version__} search",
        "rank": rank,
        "scorer": scorer.name,
        "budget": problem.budget.as_dict(),
        "seed": settings.seed,
        "iterations": settings.iterations,
        "workers": settings.workers,
    }
    if wandb:
        source["wandb"] = dict(wandb)
    return {
        "flops": flops_meta(c),
        "params_backbone": c.params,  # the whole network's count depends on the dataset's classes
        "layers": c.layers,
        **({"latency": dict(latency)} if latency else {}),
        "scores": {**{n: scores.score_arch(arch, n) for n in RECORDED_SCORES}, scorer.name: score},
        "source": source,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_outputs(
    result: SearchResult,
    archs: list[Arch],
    run_dir: Path,
    problem: SearchProblem,
    wandb: Mapping[str, Any] | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Write the architecture files and tables; return best.yaml's path and the top-k rows (scores, both
    FLOPs counts, per-stage structure and the file, relative to ``run_dir``).

    ``wandb`` is the search's wandb run (:meth:`SearchTracker.lineage`): every file records its group;
    best.yaml also the artifact version it is logged as (the top-k files are not logged).
    """
    pop, settings, constraint = result.population, problem.settings, problem.latency
    name = problem.run_name
    joined = {k: v for k, v in (wandb or {}).items() if k != "artifact"}
    latency = None if constraint is None else constraint.predict(ArchBatch(archs[0].skeleton, pop.genes))
    metas = [
        arch_meta(
            arch,
            rank,
            float(pop.scores[rank - 1]),
            problem,
            wandb if rank == 1 else joined,
            None if latency is None else constraint.meta(latency[rank - 1]),
        )
        for rank, arch in enumerate(archs[: settings.top_k], start=1)
    ]
    best = save_arch(run_dir / "best.yaml", archs[0], name=name, meta=metas[0])
    digits = len(str(settings.top_k))
    top_files = [
        save_arch(run_dir / "top" / f"{rank:0{digits}d}.yaml", arch, name=f"{name}-top{rank}", meta=meta)
        for rank, (arch, meta) in enumerate(zip(archs, metas, strict=False), start=1)
    ]

    atomic_write_csv(run_dir / "history.csv", HISTORY_COLUMNS, result.history)

    records: list[dict[str, Any]] = [
        {
            "rank": rank,
            "score": float(pop.scores[rank - 1]),
            "flops": flops_meta(cost.cost(arch)),
            "params_backbone": int(pop.params[rank - 1]),
            "layers": cost.cost(arch).layers,
            **({} if latency is None else {"latency_ms": float(latency[rank - 1])}),
            "arch": arch_to_dict(arch),
        }
        for rank, arch in enumerate(archs, start=1)
    ]
    atomic_write_text(run_dir / "population.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    write_record(
        run_dir / "summary.json",
        SearchSummary.from_dict(
            {
                "budget": problem.budget.as_dict(),
                "scorer": asdict(problem.scorer) | {"options": dict(problem.scorer.options)},
                "settings": asdict(settings),
                "best_score": float(pop.scores[0]),
                "best_flops": float(pop.flops[0]),
                "best_flops_by_counter": flops_meta(cost.cost(archs[0])),
                **({} if latency is None else {"best_latency_ms": float(latency[0])}),
                "evaluated": result.evaluated,
                "accepted": result.accepted,
                "seconds": result.total_seconds,  # every attempt of a resumed search
                "candidates_per_second": result.overall_rate,
                "evaluated_here": result.evaluated_here,
                "seconds_here": result.seconds,
            }
        ),
    )
    top = [
        {k: v for k, v in record.items() if k not in ("arch", "flops")}
        | {"entropy": meta["scores"]["entropy"]}
        | {f"flops_{counter}": value for counter, value in record["flops"].items()}
        | structure_columns(arch)
        | {"file": str(path.relative_to(run_dir))}
        for record, arch, meta, path in zip(records, archs, metas, top_files, strict=False)
    ]
    return best, top


def structure_columns(arch: Arch) -> dict[str, Any]:
    """Stem, per-stage and head shape of a network as flat table columns (``stage1_width``, …; kernels as
    ``<temporal>x<spatial>``)."""
    columns: dict[str, Any] = {"stem_width": arch.stem.width}
    for i, stage in enumerate(arch.stages, start=1):
        columns |= {
            f"stage{i}_width": stage.width,
            f"stage{i}_depth": stage.depth,
            f"stage{i}_kernel": "x".join(map(str, stage.kernel)),
            f"stage{i}_bottleneck": stage.bottleneck,
            f"stage{i}_stride": stage.stride,
        }
    return columns | {"head_width": arch.head_width}
