"""``python -m e3dnas.evaluate ckpt=<path> dataset=<name> [dataset.root=<dir>] [views=multi|single]``"""

from __future__ import annotations

from pathlib import Path

from e3dnas.command import hydra_command
from e3dnas.evaluate.run import run_evaluation
from e3dnas.evaluate.settings import EvalJob, eval_settings


def run(job: EvalJob, run_dir: Path) -> float:
    results = run_evaluation(job, run_dir)
    top = {k: v for k, v in results.items() if k.startswith("top")}
    print(
        f"{results['videos']} videos, {results['views']} view: "
        + ", ".join(f"{k} {v:.4f}" for k, v in top.items())
    )
    return results["top1"]


def main() -> None:
    """``e3dnas-evaluate``."""
    hydra_command("eval", eval_settings, run, groups=("dataset", "trainer", "logger"))


if __name__ == "__main__":
    main()
