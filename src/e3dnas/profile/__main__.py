"""``python -m e3dnas.profile +budget=NAME``: time the space's ops on this device into a latency table."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from e3dnas.budget import budget_dir
from e3dnas.cli import CONF_DIR, check_group_choices, fail, user_errors
from e3dnas.latency.profiler import ProfileError, ProfileSettings, profile
from e3dnas.latency.timing import DeviceSettings, TimingError, TimingSettings
from e3dnas.search.config import budget_and_space

TABLE_FILE = "latency.json"
CACHE_FILE = "cache.json"


def profile_tag(device: str, threads: int, batch: int, dtype: str, channels_last: bool, compile: bool) -> str:
    """``cpu-2t-b1-float32-cl``: the run dir's name, one per setting a table depends on."""
    tag = f"{device}-{threads}t-b{batch}-{dtype}"
    return tag + ("-cl" if channels_last else "") + ("-compiled" if compile else "")


OmegaConf.register_new_resolver("budget_dir", budget_dir, replace=True)
OmegaConf.register_new_resolver("profile_tag", profile_tag, replace=True)


@hydra.main(config_path=CONF_DIR, config_name="profile", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with user_errors():
        budget, space = budget_and_space(cfg)
    try:
        device = DeviceSettings(cfg.device, cfg.threads, cfg.batch, cfg.dtype, cfg.channels_last, cfg.compile)
        timing = TimingSettings(**OmegaConf.to_container(cfg.timing, resolve=True))
        settings = ProfileSettings(cfg.grid_ratio, cfg.calibration.networks, cfg.calibration.seed)
    except (TimingError, ProfileError, TypeError) as err:
        fail(str(err))
    try:
        table = profile(space, budget, device, timing, settings, run_dir / CACHE_FILE, cfg.progress)
    except ProfileError as err:
        fail(str(err))
    except KeyboardInterrupt:
        fail(f"interrupted; timings so far are in {run_dir / CACHE_FILE}: the same command continues", 130)
    path = table.save(run_dir / TABLE_FILE)
    c = table.calibration
    points = sum(int((e.ms == e.ms).sum()) for e in table.entries.values())
    print(
        f"{points} op timings, {len(c.networks)} calibration networks: network ms = {c.scale:.3f} · Σ ops "
        f"+ {c.per_block_ms:.3f} · blocks; {table.describe()} -> {path}"
    )
    if table.timing["contended"]:
        print(
            f"note: {table.timing['contended']} timings of this run were taken while other processes used "
            f"the CPU; for a cleaner table profile again when the machine is quiet (delete {CACHE_FILE})"
        )


if __name__ == "__main__":
    check_group_choices(sys.argv[1:], ("budget", "space"))
    main()
