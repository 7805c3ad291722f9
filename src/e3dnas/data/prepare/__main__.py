"""``python -m e3dnas.data.prepare dataset=<name> dataset.root=<dir> out=<dir> [short_side=] [quality=]``"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from e3dnas.cli import CONF_DIR, check_group_choices, fail
from e3dnas.data.config import DatasetConfig
from e3dnas.data.prepare import MANIFEST, PrepareSettings, prepare, summary
from e3dnas.errors import E3DError
from e3dnas.schema import read_node


@hydra.main(config_path=CONF_DIR, config_name="prepare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from e3dnas.data.datamodule import VideoDataModule

    try:
        dataset = read_node(DatasetConfig, cfg.dataset, "dataset")
        data = VideoDataModule(dataset)
        settings = PrepareSettings(
            layout=dataset.layout,
            source=str(Path(dataset.root).resolve()),
            short_side=int(cfg.short_side or max(data.max_short.values())),
            quality=int(cfg.quality),
            subsampling=str(cfg.subsampling),
            media_dir=dataset.media_dir,
            annotation_dir=dataset.annotation_dir,
        )
        workers = int(cfg.workers or len(os.sched_getaffinity(0)))
        manifest = prepare(data.layout, settings, Path(cfg.out), tuple(cfg.splits), workers)
    except (E3DError, TypeError, ValueError) as error:
        fail(str(error))
    print(
        f"{summary(manifest)} at short side {settings.short_side} in {cfg.out}. "
        f"Train with dataset.root={cfg.out} ({MANIFEST} tells the loader)."
    )


if __name__ == "__main__":
    check_group_choices(sys.argv[1:], ("dataset",))
    main()
