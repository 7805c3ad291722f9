"""``python -m e3dnas.search +budget=NAME``: read the config into a search job, run it (e3dnas.search.run)."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from e3dnas.command import hydra_command
from e3dnas.errors import Interrupted
from e3dnas.search.config import SearchJob, budget_dir, read_search
from e3dnas.search.run import SearchInterrupted, check_resume, run

OmegaConf.register_new_resolver("budget_dir", budget_dir, replace=True)


def search(job: SearchJob, run_dir: Path) -> float:
    try:
        return run(job, run_dir, sys.argv[1:])
    except SearchInterrupted as err:  # its message holds the resume command
        raise Interrupted(str(err)) from None


def main() -> None:
    """``e3dnas-search``."""
    hydra_command("search", read_search, search, groups=("budget", "scorer", "space"), resume=check_resume)


if __name__ == "__main__":
    main()
