"""wandb settings shared by the search and the trainer: one project, runs of a sweep in one group.

wandb runs offline unless ``WANDB_MODE`` says otherwise (the cluster nodes of most labs have no internet;
``wandb sync`` uploads later). The group defaults to the Hydra sweep dir's name in multirun mode (so every
job of ``-m +budget=a,b`` lands in one group) and to the run dir's name otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def hydra_group() -> str | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.mode == RunMode.MULTIRUN:
        return Path(hydra.sweep.dir).name
    return Path(hydra.runtime.output_dir).name


def wandb_init_kwargs(
    cfg: Mapping[str, Any], *, job_type: str, run_dir: Path, name: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    """Keyword arguments for ``wandb.init`` (and Lightning's WandbLogger) from a ``wandb:`` config block."""
    return {
        "project": cfg.get("project", "e3dnas"),
        "entity": cfg.get("entity"),
        "group": cfg.get("group") or hydra_group(),
        "job_type": job_type,
        "name": name,
        "tags": list(cfg.get("tags") or []),
        "dir": str(run_dir),
        "mode": os.environ.get("WANDB_MODE", "offline"),
        "config": dict(config),
    }
