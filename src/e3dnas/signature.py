"""The one rule for resuming a run: a checkpoint records what it was made with (its signature, dotted keys),
and a resume that asks for anything else is refused naming each setting that differs.

The search and the training both sign their checkpoints this way; each says which of its settings belong
in the signature (what the result depends on) and which only watch or feed the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from e3dnas.schema import ConfigValueError


class ResumeError(ConfigValueError):
    """A checkpoint is missing, unsigned or was written under other settings; the message names them."""


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``: a signature compares leaf by leaf."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ, sorted; where a component's ``name`` differs (another scorer), the
    differences of its ``options`` are those of another component and are not named."""
    differing = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k))
    others = tuple(k.removesuffix("name") + "options." for k in differing if k.endswith(".name"))
    return [k for k in differing if not (others and k.startswith(others))]


def check_signature(path: Path, saved: Mapping[str, Any], now: Mapping[str, Any], advice: str) -> None:
    """ResumeError unless ``path``'s signature ``saved`` is ``now``: the first four differing settings with
    both values, then what to do instead (``advice``)."""
    differing = differences(saved, now)
    if not differing:
        return
    shown = ", ".join(f"{k} (checkpoint {saved.get(k)!r}, now {now.get(k)!r})" for k in differing[:4])
    more = f" and {len(differing) - 4} more" if len(differing) > 4 else ""
    raise ResumeError(f"cannot resume {path}: settings differ: {shown}{more}. {advice}")
