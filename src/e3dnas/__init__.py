"""e3dnas: training-free search of efficient 3D CNNs by maximising spatio-temporal entropy (E3D).

The Python API (docs/api.md) is importable from here: ``from e3dnas import load_arch, build_model,
run_search``. Each name is imported on first use, so ``import e3dnas`` stays light (torch is loaded only by
``build_model``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name → the module that defines it
_EXPORTS = {
    "Arch": "e3dnas.arch",
    "ArchBatch": "e3dnas.arch",
    "ArchError": "e3dnas.arch",
    "load_arch": "e3dnas.arch",
    "read_arch": "e3dnas.arch",
    "save_arch": "e3dnas.arch",
    "released_arch": "e3dnas.arch.released",
    "score_arch": "e3dnas.scores",
    "Budget": "e3dnas.budget",
    "ScorerSpec": "e3dnas.search",
    "SearchProblem": "e3dnas.search",
    "SearchResult": "e3dnas.search",
    "SearchSettings": "e3dnas.search",
    "run_search": "e3dnas.search",
    "SearchSpace": "e3dnas.space",
    "build_model": "e3dnas.models",
    "read_conf": "e3dnas.configs",
    "E3DError": "e3dnas.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is asked for."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'e3dnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
