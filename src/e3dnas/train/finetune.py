"""Fine-tuning (``train.init_from=<ckpt>``): a new training that starts from another run's weights.

Only the weights are taken (not the optimiser, schedule or step count: that is ``train.resume``). A checkpoint
trained for another number of classes gives everything but the final classifier layer, which keeps its fresh
initialisation; any other difference means another network and is refused.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from e3dnas.schema import ConfigValueError
from e3dnas.train.module import ClipClassifier

logger = logging.getLogger("e3dnas.train")

#: Prefix torch.compile adds to every parameter name: stripped so compiled and plain runs share weights.
COMPILED = "_orig_mod."


def plain_names(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {key.replace(COMPILED, ""): value for key, value in state.items()}


def read_weights(path: str) -> dict[str, Tensor]:
    """The ``state_dict`` of a Lightning checkpoint, loaded without executing pickled code."""
    if not Path(path).is_file():
        raise ConfigValueError(f"train.init_from: no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint["state_dict"]
    except (KeyError, TypeError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
        raise ConfigValueError(
            f"train.init_from: {path} is not an e3dnas training checkpoint ({err})"
        ) from None
    return plain_names(state)


def final_layer(module: ClipClassifier) -> str:
    """Name of the layer that maps features to class logits: the network's last ``nn.Linear``."""
    linears = [name for name, layer in module.named_modules() if isinstance(layer, nn.Linear)]
    return linears[-1].replace(COMPILED, "")


def mismatch(ours: Mapping[str, Tensor], theirs: Mapping[str, Tensor], head: str) -> str | None:
    """Why the checkpoint's weights cannot serve this network (the first parameter that differs), or None.

    The final layer ``head`` may differ in its class dimension only.
    """
    missing, extra = sorted(ours.keys() - theirs.keys()), sorted(theirs.keys() - ours.keys())
    if missing:
        return f"parameter {missing[0]} is missing from the checkpoint"
    if extra:
        return f"parameter {extra[0]} of the checkpoint is not in this network"
    for name, value in ours.items():
        shape, other = tuple(value.shape), tuple(theirs[name].shape)
        if shape != other and not (name.startswith(f"{head}.") and shape[1:] == other[1:]):
            return f"parameter {name} has shape {other} in the checkpoint, {shape} in this network"
    return None


def init_from(module: ClipClassifier, path: str) -> None:
    """Load the weights of checkpoint ``path`` into ``module``; a final layer for another number of classes
    is left as initialised (logged). Raises ConfigValueError naming the checkpoint and parameter when the
    networks differ otherwise."""
    theirs = read_weights(path)
    names = {key.replace(COMPILED, ""): key for key in module.state_dict()}
    ours = plain_names(module.state_dict())
    head = final_layer(module)
    problem = mismatch(ours, theirs, head)
    if problem is not None:
        raise ConfigValueError(f"train.init_from: {path} does not fit this network: {problem}")
    classes, wanted = theirs[f"{head}.weight"].shape[0], ours[f"{head}.weight"].shape[0]
    if classes != wanted:
        theirs = {name: value for name, value in theirs.items() if not name.startswith(f"{head}.")}
        logger.info(
            "train.init_from: %s has %d classes, this dataset %d: final layer %s re-initialised",
            path,
            classes,
            wanted,
            head,
        )
    else:
        logger.info("train.init_from: weights of %s", path)
    module.load_state_dict({names[name]: value for name, value in theirs.items()}, strict=classes == wanted)
