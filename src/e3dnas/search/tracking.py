"""Log a finished search to wandb: config, history, top-k table, plots, best.yaml as an artifact."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from e3dnas.search.evolution import HISTORY_COLUMNS
from e3dnas.search.islands import SearchResult
from e3dnas.tracking import wandb_init_kwargs


def log_search(
    wandb_cfg: Mapping[str, Any],
    *,
    run_dir: Path,
    name: str,
    config: Mapping[str, Any],
    result: SearchResult,
    top: list[dict[str, Any]],
    plots: Mapping[str, Path],
    best_yaml: Path,
) -> str:
    """Returns the wandb run directory (offline runs are synced later with ``wandb sync``)."""
    import wandb

    run = wandb.init(
        **wandb_init_kwargs(wandb_cfg, job_type="search", run_dir=run_dir, name=name, config=config)
    )
    try:
        run.define_metric("evaluated")
        run.define_metric("*", step_metric="evaluated")
        for row in result.history:
            run.log(dict(zip(HISTORY_COLUMNS, row, strict=True)))
        columns = list(top[0])
        run.log({"top_k": wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in top])})
        run.log({key: wandb.Image(str(path)) for key, path in plots.items()})
        run.summary.update(
            {
                "best_score": top[0]["score"],
                **{key: value for key, value in top[0].items() if key.startswith("flops_")},
                "best_params": top[0]["params"],
                "best_layers": top[0]["layers"],
                "candidates_per_second": result.rate,
            }
        )
        artifact = wandb.Artifact(f"arch-{name}", type="architecture")
        artifact.add_file(str(best_yaml), name="best.yaml")
        run.log_artifact(artifact)
        return run.dir
    finally:
        run.finish()
