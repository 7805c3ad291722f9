"""``python -m e3dnas.evaluate ckpt=<path> dataset=<name> [dataset.root=<dir>] [views=multi|single]``"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from e3dnas.command import hydra_command
from e3dnas.evaluate.run import evaluate, summary_line
from e3dnas.evaluate.settings import eval_settings


def run(cfg: DictConfig, run_dir: Path) -> float:
    from hydra.core.hydra_config import HydraConfig

    results = evaluate(cfg, run_dir, list(HydraConfig.get().overrides.task))
    print(summary_line(results))
    return results["top1"]


if __name__ == "__main__":
    hydra_command("eval", eval_settings, run, groups=("dataset", "trainer", "logger"))
