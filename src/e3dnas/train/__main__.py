"""``python -m e3dnas.train arch=<path/to/best.yaml>|<released name> dataset=<name> [trainer=gpu] ...``"""

from __future__ import annotations

import sys
from pathlib import Path

from e3dnas.command import hydra_command
from e3dnas.errors import E3DError, Interrupted
from e3dnas.overrides import command_line
from e3dnas.train.job import TrainJob, read_train
from e3dnas.train.resume import check_resume
from e3dnas.train.run import TrainingInterrupted, discard_unstarted, run_training

GROUPS = ("arch", "dataset", "model", "optim", "trainer", "logger", "callbacks", "experiment")


def route_arch_files(argv: list[str]) -> list[str]:
    """Hand ``arch=<file.yaml>`` to Hydra as ``arch_file=<file.yaml>``.

    conf/arch/ is a config group (``arch=e3d_s`` picks a released network), so Hydra would read a path
    as a group option and fail; a value naming YAML files is an architecture file from a search instead.
    Hydra reads sys.argv itself and has no hook to take a file path for a config-group option.
    """
    routed = []
    for arg in argv:
        key, _, value = arg.partition("=")
        is_file = value and all(v.strip().endswith((".yaml", ".yml")) for v in value.split(","))
        routed.append(f"arch_file={value}" if key == "arch" and is_file else arg)
    return routed


def run(job: TrainJob, run_dir: Path) -> float | None:
    try:
        results = run_training(job, run_dir)
    except E3DError:
        discard_unstarted(run_dir)
        raise
    except TrainingInterrupted as stop:
        again = [a for a in sys.argv[1:] if not a.startswith("hydra.run.dir=")]
        resume = command_line("e3dnas.train", [*again, f"hydra.run.dir={run_dir}"])
        raise Interrupted(f"{stop}. Resume: {resume}") from None
    return results.get("val_top1")


def main() -> None:
    """``e3dnas-train``."""
    sys.argv = route_arch_files(sys.argv)
    hydra_command("train", read_train, run, groups=GROUPS, resume=check_resume)


if __name__ == "__main__":
    main()
