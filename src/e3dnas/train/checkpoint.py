"""Rebuild the trained network of a checkpoint: evaluation and export read checkpoints the same way."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from e3dnas.schema import ConfigValueError
from e3dnas.train.module import ClipClassifier


def load_checkpoint(path: str | os.PathLike) -> ClipClassifier:
    """The LightningModule of a training checkpoint, on the CPU; a ConfigValueError of one
    line (``ckpt: ...``) when ``path`` is missing or is not an e3dnas training checkpoint.

    The hyperparameters carry everything that rebuilds the network (model config, architecture, classes,
    clip size), so nothing else is read.
    """
    if not Path(path).is_file():
        raise ConfigValueError(f"ckpt: no checkpoint at {path}")
    try:
        return ClipClassifier.load_from_checkpoint(path, map_location="cpu")
    except (KeyError, RuntimeError, TypeError, EOFError, pickle.UnpicklingError) as err:
        # torch's unpickling errors are a page of advice about weights_only: their type says enough
        lines = [] if isinstance(err, pickle.UnpicklingError) else str(err).strip().splitlines()
        reason = ": ".join([type(err).__name__, *lines[:1]])
        raise ConfigValueError(f"ckpt: {path} is not an e3dnas training checkpoint ({reason})") from None
