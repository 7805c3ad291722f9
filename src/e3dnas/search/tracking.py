"""A search's wandb run, live: opened before the evolution, history rows logged as they come, then the
top-k table, plots, summary and best.yaml as a versioned artifact; finished on every exit (130 when
interrupted, 2 on a refused budget or resume)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from e3dnas.search.evolution import HISTORY_COLUMNS, SearchResult
from e3dnas.tracking import wandb_init_kwargs

#: Artifact type of architecture files.
ARCH_ARTIFACT_TYPE = "architecture"


def arch_artifact_name(budget_name: str, scorer_name: str) -> str:
    """One artifact per budget and objective; each search adds a version (overridden budgets carry their
    fields' hash in their name, so they never add versions to the original's artifact)."""
    return f"arch-{budget_name}-{scorer_name}"


class SearchTracker:
    """The wandb run of one search (``python -m e3dnas.search`` with ``wandb.enabled=true``)."""

    def __init__(
        self,
        wandb_cfg: Mapping[str, Any],
        *,
        run_dir: Path,
        name: str,
        config: Mapping[str, Any],
        artifact: str,
    ):
        import wandb

        self.run = wandb.init(
            **wandb_init_kwargs(wandb_cfg, job_type="search", run_dir=run_dir, name=name, config=config)
        )
        self.run_dir = Path(run_dir)
        self.artifact = artifact
        self.run.define_metric("evaluated")
        self.run.define_metric("*", step_metric="evaluated")

    @property
    def alias(self) -> str:
        """The artifact alias that names this run's version of the architecture artifact."""
        return f"run-{self.run.id}"

    def lineage(self) -> dict[str, Any]:
        """What the architecture files record in ``meta.source.wandb``: group, run and artifact version
        (``name:alias``, known before any upload, so a training can name it even offline)."""
        return {
            "project": self.run.project,
            "entity": self.run.entity or None,
            "group": self.run.group,
            "run_id": self.run.id,
            "run_name": self.run.name,
            "artifact": f"{self.artifact}:{self.alias}",
        }

    def log_history(self, row: tuple) -> None:
        self.run.log(dict(zip(HISTORY_COLUMNS, row, strict=True)))

    def log_result(
        self,
        result: SearchResult,
        top: list[dict[str, Any]],
        plots: Mapping[str, Path],
        best_yaml: Path,
    ) -> None:
        import wandb

        columns = list(top[0])
        table = wandb.Table(columns=columns, data=[[row.get(c) for c in columns] for row in top])
        self.run.log({"top_k": table, **{key: wandb.Image(str(path)) for key, path in plots.items()}})
        best = top[0]
        self.run.summary.update(
            {
                "best_score": best["score"],
                "best_entropy": best["entropy"],
                **{key: value for key, value in best.items() if key.startswith("flops_")},
                "best_params_backbone": best["params_backbone"],
                "best_layers": best["layers"],
                "evaluated_total": result.evaluated,
                "candidates_per_second": result.overall_rate,
            }
        )
        artifact = wandb.Artifact(
            self.artifact,
            type=ARCH_ARTIFACT_TYPE,
            metadata={k: v for k, v in best.items() if k != "file"},
        )
        artifact.add_file(str(best_yaml), name="best.yaml")
        self.run.log_artifact(artifact, aliases=["latest", self.alias])

    def finish(self, exit_code: int = 0) -> None:
        if exit_code == 130:
            self.run.summary["interrupted"] = True
        self.run.finish(exit_code=exit_code)
