"""Video data layer: official Something-Something V1/V2 and Kinetics-400 layouts, decord decoding, segment and
dense sampling, batched (optionally on-GPU) augmentation, a LightningDataModule and a real-footage demo
dataset.

``VideoDataModule`` is imported on first use so that ``python -m e3dnas.data.demo`` does not load Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from e3dnas.data.errors import DataError

if TYPE_CHECKING:
    from e3dnas.data.datamodule import VideoDataModule

__all__ = ["DataError", "VideoDataModule"]


def __getattr__(name: str) -> Any:
    if name == "VideoDataModule":
        from e3dnas.data.datamodule import VideoDataModule

        return VideoDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
