"""``python -m e3dnas.search +budget=NAME``: compose the config, run the search (e3dnas.search.run)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from e3dnas.budget import budget_dir
from e3dnas.cli import (
    CONF_DIR,
    check_group_choices,
    check_launcher,
    check_overrides,
    fail,
    given_run_dir,
    start_run,
    user_errors,
)
from e3dnas.search.config import check_config
from e3dnas.search.run import SearchInterrupted, check_resume, run

OmegaConf.register_new_resolver("budget_dir", budget_dir, replace=True)


@hydra.main(config_path=CONF_DIR, config_name="search", version_base="1.3")
def main(cfg: DictConfig) -> float:
    start_run(cfg)
    from hydra.core.hydra_config import HydraConfig

    with user_errors():
        try:
            return run(cfg, Path(HydraConfig.get().runtime.output_dir), sys.argv[1:])
        except SearchInterrupted as err:
            fail(str(err), code=130)


if __name__ == "__main__":
    check_launcher(sys.argv[1:])
    check_group_choices(sys.argv[1:], ("budget", "scorer", "space"))
    run_dir = given_run_dir(sys.argv[1:])
    # Before Hydra writes <run dir>/.hydra: a refused resume leaves the run's records as they were.
    check_overrides("search", sys.argv[1:], lambda cfg: [check_config(cfg), check_resume(cfg, run_dir)])
    main()
