"""``python -m e3dnas.data.prepare dataset=<name> dataset.root=<dir> out=<dir> [short_side=] [quality=]``"""

from __future__ import annotations

from pathlib import Path

from e3dnas.command import hydra_command
from e3dnas.data.prepare import MANIFEST, prepare, summary
from e3dnas.data.prepare.config import PrepareInputs, prepare_inputs


def run(job: PrepareInputs, run_dir: Path) -> None:
    data, settings, out, splits, workers = job
    manifest = prepare(data.layout, settings, out, splits, workers)
    print(
        f"{summary(manifest)} at short side {settings.short_side} in {out}. "
        f"Train with dataset.root={out} ({MANIFEST} tells the loader)."
    )


def main() -> None:
    """``e3dnas-prepare``."""
    hydra_command("prepare", prepare_inputs, run, groups=("dataset",))


if __name__ == "__main__":
    main()
