"""``python -m e3dnas.data.prepare dataset=<name> dataset.root=<dir> out=<dir> [short_side=] [quality=]``"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from e3dnas.command import hydra_command
from e3dnas.data.prepare import MANIFEST, prepare, summary
from e3dnas.data.prepare.config import prepare_inputs


def run(cfg: DictConfig, run_dir: Path) -> None:
    data, settings, out, splits, workers = prepare_inputs(cfg)
    manifest = prepare(data.layout, settings, out, splits, workers)
    print(
        f"{summary(manifest)} at short side {settings.short_side} in {out}. "
        f"Train with dataset.root={out} ({MANIFEST} tells the loader)."
    )


if __name__ == "__main__":
    hydra_command("prepare", prepare_inputs, run, groups=("dataset",))
