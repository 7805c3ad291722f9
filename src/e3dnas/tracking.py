"""wandb settings shared by search, training and evaluation: one project, one group per experiment.

wandb runs offline unless ``WANDB_MODE`` says otherwise (the cluster nodes of most labs have no internet;
``wandb sync`` uploads later).

**Group.** A search sweep and the trainings and evaluations of its networks share one wandb ``group``:

* the search's group is ``wandb.group`` or, unset, the Hydra sweep dir's name in multirun mode (every job
  of ``-m +budget=a,b`` in one group) and the run dir's name otherwise; the search records it, with its
  run id and the name of the architecture artifact, in ``meta.source.wandb`` of the files it writes;
* training inherits the group recorded in its architecture file (``logger.wandb.group`` overrides it);
  architectures that did not come from a logged search (``arch=e3d_s``, X3D) fall back to the sweep or run
  dir's name as the search does;
* evaluation inherits the group of the training run that wrote the checkpoint.

**Run identity.** Each run dir keeps its wandb run in ``wandb_run.json`` (id, group, project, name): a
restart in the same run dir (``train.resume=auto`` after a crash, ``search.resume=true``) resumes the same
wandb run instead of starting a new one with the same name.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from e3dnas.atomic import atomic_write_text

#: The file in a run dir that names the run's wandb run (id, group, project, entity, name, job type).
RUN_FILE = "wandb_run.json"


def hydra_group() -> str | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.mode == RunMode.MULTIRUN:
        return Path(hydra.sweep.dir).name
    return Path(hydra.runtime.output_dir).name


def recorded_run(run_dir: Path) -> dict[str, Any]:
    """What ``wandb_run.json`` of ``run_dir`` says about its wandb run ({} when there is none)."""
    try:
        recorded = json.loads((Path(run_dir) / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def arch_lineage(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """``meta.source.wandb`` of an architecture file: the search run that found it ({} when none)."""
    source = (meta or {}).get("source")
    lineage = source.get("wandb") if isinstance(source, Mapping) else None
    return dict(lineage) if isinstance(lineage, Mapping) else {}


def new_run_id() -> str:
    """A fresh wandb run id (8 lowercase letters and digits, like wandb's own)."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def wandb_init_kwargs(
    cfg: Mapping[str, Any],
    *,
    job_type: str,
    run_dir: Path,
    name: str,
    config: Mapping[str, Any],
    group: str | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """Keyword arguments for ``wandb.init`` (and Lightning's WandbLogger) from a ``wandb:`` config block.

    The group is ``cfg.group``, else ``group`` (inherited from the search or training upstream), else the
    Hydra sweep or run dir's name. The run id is the one ``wandb_run.json`` of ``run_dir`` names, or a new
    one, and resumes with ``resume="allow"``; ``record`` writes ``wandb_run.json`` (rank zero only in DDP).
    """
    previous = recorded_run(run_dir)
    kwargs = {
        "project": cfg.get("project", "e3dnas"),
        "entity": cfg.get("entity"),
        "group": cfg.get("group") or group or hydra_group(),
        "job_type": job_type,
        "name": name,
        "tags": list(cfg.get("tags") or []),
        "dir": str(run_dir),
        "mode": os.environ.get("WANDB_MODE", "offline"),
        "config": dict(config),
        "id": previous.get("id") or new_run_id(),
        "resume": "allow",
    }
    if record:
        keys = ("id", "group", "project", "entity", "name", "job_type")
        atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps({k: kwargs[k] for k in keys}, indent=2))
    return kwargs
