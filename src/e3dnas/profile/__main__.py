"""``python -m e3dnas.profile +budget=NAME``: time the space's ops on this device into a latency table."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from e3dnas.command import hydra_command
from e3dnas.errors import Interrupted
from e3dnas.profile.config import ProfileInputs, profile_inputs
from e3dnas.profile.profiler import profile
from e3dnas.search.config import budget_dir

TABLE_FILE = "latency.json"
CACHE_FILE = "cache.json"


def profile_tag(device: str, threads: int, batch: int, dtype: str, channels_last: bool, compile: bool) -> str:
    """``cpu-2t-b1-float32-cl``: the run dir's name, one per setting a table depends on."""
    tag = f"{device}-{threads}t-b{batch}-{dtype}"
    return tag + ("-cl" if channels_last else "") + ("-compiled" if compile else "")


OmegaConf.register_new_resolver("budget_dir", budget_dir, replace=True)
OmegaConf.register_new_resolver("profile_tag", profile_tag, replace=True)


def run(job: ProfileInputs, run_dir: Path) -> None:
    budget, space, device, timing, settings, progress = job
    try:
        table = profile(space, budget, device, timing, settings, run_dir / CACHE_FILE, progress)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; timings so far are in {run_dir / CACHE_FILE}: the same command continues"
        ) from None
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


def main() -> None:
    """``e3dnas-profile``."""
    hydra_command("profile", profile_inputs, run, groups=("budget", "space"))


if __name__ == "__main__":
    main()
