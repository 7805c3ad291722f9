"""``python -m e3dnas.evaluate ckpt=<path> dataset=<name> [dataset.root=<dir>] [views=multi|single]``"""

from __future__ import annotations

from pathlib import Path

from e3dnas.command import hydra_command
from e3dnas.evaluate.run import run_evaluation, summary_line
from e3dnas.evaluate.settings import EvalJob, eval_settings


def run(job: EvalJob, run_dir: Path) -> float:
    results = run_evaluation(job, run_dir)
    print(summary_line(results))
    return results["top1"]


def main() -> None:
    """``e3dnas-evaluate``."""
    hydra_command("eval", eval_settings, run, groups=("dataset", "trainer", "logger"))


if __name__ == "__main__":
    main()
