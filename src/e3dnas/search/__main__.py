"""``python -m e3dnas.search +budget=NAME``: compose the config, run the search (e3dnas.search.run)."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from e3dnas.budget import budget_dir
from e3dnas.command import hydra_command
from e3dnas.errors import Interrupted
from e3dnas.search.config import search_problem
from e3dnas.search.run import SearchInterrupted, check_resume, run

OmegaConf.register_new_resolver("budget_dir", budget_dir, replace=True)


def search(cfg: DictConfig, run_dir: Path) -> float:
    try:
        return run(cfg, run_dir, sys.argv[1:])
    except SearchInterrupted as err:  # its message holds the resume command
        raise Interrupted(str(err)) from None


if __name__ == "__main__":
    hydra_command("search", search_problem, search, groups=("budget", "scorer", "space"), resume=check_resume)
