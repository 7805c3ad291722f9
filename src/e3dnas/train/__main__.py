"""``python -m e3dnas.train arch=<path/to/best.yaml>|<released name> dataset=<name> [trainer=gpu] ...``"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from e3dnas.cli import (
    CONF_DIR,
    check_group_choices,
    check_launcher,
    check_overrides,
    fail,
    given_run_dir,
    route_arch_files,
    start_run,
    user_errors,
)
from e3dnas.train.resume import check_resume
from e3dnas.train.run import TrainingInterrupted, train
from e3dnas.train.settings import check_config

GROUPS = ("arch", "dataset", "model", "optim", "trainer", "logger", "callbacks", "experiment")


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    start_run(cfg)
    from hydra.core.hydra_config import HydraConfig

    with user_errors():
        try:
            results = train(cfg, Path(HydraConfig.get().runtime.output_dir))
        except TrainingInterrupted as stop:
            again = " ".join(a for a in sys.argv[1:] if not a.startswith("hydra.run.dir="))
            fail(f"{stop}. Resume: python -m e3dnas.train {again} hydra.run.dir={stop.run_dir}", code=130)
    return results.get("val_top1")


if __name__ == "__main__":
    # Hydra reads sys.argv itself and has no hook to take a file path for a config-group option.
    sys.argv = route_arch_files(sys.argv)
    check_launcher(sys.argv[1:])
    check_group_choices(sys.argv[1:], GROUPS)
    run_dir = given_run_dir(sys.argv[1:])
    # Before Hydra writes <run dir>/.hydra: a refused resume leaves the run's records as they were.
    check_overrides("train", sys.argv[1:], lambda cfg: [check_config(cfg), check_resume(cfg, run_dir)])
    main()
