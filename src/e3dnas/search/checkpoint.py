"""An island's checkpoint: its evolution's state, signed with what the state depends on (the one resume rule
of :mod:`e3dnas.signature`), written atomically and read back only under the same settings."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from e3dnas.atomic import atomic_write_bytes
from e3dnas.search.problem import SearchProblem
from e3dnas.signature import ResumeError, check_signature, flatten

#: What a refused resume suggests instead.
ADVICE = "Search them in a new run dir (without hydra.run.dir=), or resume with the checkpoint's settings"


def run_signature(island: int, problem: SearchProblem, iterations: int) -> dict[str, Any]:
    """Everything a checkpoint's state depends on, flattened to dotted keys: a resume must match it."""
    return flatten({"island": island, "iterations": iterations, **problem.signature()})


def write_checkpoint(
    path: Path, signature: Mapping[str, Any], state: Mapping[str, Any], seconds: float
) -> None:
    """``state`` and the ``seconds`` spent so far, signed, replacing ``path`` atomically."""
    atomic_write_bytes(path, pickle.dumps({"signature": dict(signature), "state": state, "seconds": seconds}))


def read_checkpoint(path: Path, signature: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint written under ``signature`` (its state and the seconds spent); ResumeError naming each
    setting that differs."""
    saved = pickle.loads(path.read_bytes())
    if not isinstance(saved, dict) or "signature" not in saved:
        raise ResumeError(f"{path}: written by an older e3dnas without its settings; start a new search")
    check_signature(path, _settings(saved["signature"]), _settings(signature), ADVICE)
    return saved


def _settings(signature: Mapping[str, Any]) -> dict[str, Any]:
    """The signature as settings: an island's share of the iterations follows from ``search.iterations``
    and ``search.workers``, both in it, and is named through them."""
    return {k: v for k, v in signature.items() if k != "iterations"}
