"""``python -m e3dnas.evaluate ckpt=<path> dataset=<name> [dataset.root=<dir>] [views=multi|single]``"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from e3dnas.cli import CONF_DIR, check_group_choices, check_overrides, start_run, user_errors
from e3dnas.evaluate.run import evaluate
from e3dnas.evaluate.settings import eval_settings


@hydra.main(config_path=CONF_DIR, config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> float:
    start_run(cfg)
    from hydra.core.hydra_config import HydraConfig

    with user_errors():
        hydra_cfg = HydraConfig.get()
        results = evaluate(cfg, Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task))
    top = {k: v for k, v in results.items() if k.startswith("top")}
    print(
        f"{results['videos']} videos, {results['views']} view: "
        + ", ".join(f"{k} {v:.4f}" for k, v in top.items())
    )
    return results["top1"]


if __name__ == "__main__":
    check_group_choices(sys.argv[1:], ("dataset", "trainer", "logger"))
    check_overrides("eval", sys.argv[1:], eval_settings)
    main()
