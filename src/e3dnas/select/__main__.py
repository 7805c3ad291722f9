"""``python -m e3dnas.select run=<search run dir> dataset=<name> [select.finalists=32] ...``"""

from __future__ import annotations

import sys
from pathlib import Path

from e3dnas.command import hydra_command
from e3dnas.errors import Interrupted
from e3dnas.overrides import command_line
from e3dnas.select.run import SelectInterrupted
from e3dnas.select.run import run as select
from e3dnas.select.settings import SelectJob, read

GROUPS = ("dataset", "model", "optim", "trainer", "logger", "callbacks", "experiment")


def select_dir(job: SelectJob, run_dir: Path) -> Path:
    """Where the study and results live: ``select.dir``, else the sweep dir of a multirun (its jobs are
    the workers of one selection), else the run dir."""
    if job.settings.dir:
        return Path(job.settings.dir)
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    return Path(hydra.sweep.dir) if hydra.mode == RunMode.MULTIRUN else run_dir


def run(job: SelectJob, run_dir: Path) -> float:
    home = select_dir(job, run_dir)
    try:
        return select(job, home)
    except SelectInterrupted as stop:
        again = [a for a in sys.argv[1:] if not a.startswith("hydra.run.dir=")]
        where = [] if home != run_dir else [f"hydra.run.dir={run_dir}"]
        resume = command_line("e3dnas.select", [*again, *where])
        raise Interrupted(f"{stop}; the study resumes it. Resume: {resume}") from None


def main() -> None:
    hydra_command("select", read, run, groups=GROUPS)


if __name__ == "__main__":
    main()
