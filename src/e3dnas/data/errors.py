"""The data layer's two failure kinds: fatal (DataError) and per sample (SampleError: skipped and counted)."""

from __future__ import annotations

import os

from e3dnas.errors import E3DError


class DataError(E3DError, RuntimeError):
    """A problem the user must fix: missing root, malformed annotation file, failure rate exceeded."""


def where(path: str | os.PathLike, line: int | None = None) -> str:
    """``file`` or ``file:line``: the prefix every DataError message starts with."""
    return f"{os.fspath(path)}:{line}" if line is not None else os.fspath(path)


class SampleError(Exception):
    """One unusable sample or annotation record; the caller logs it with its path, skips it and counts it.

    ``reason`` is a short key (the per-reason breakdown of ``VideoDataModule.skip_counts``); ``detail`` is the
    human-readable why.
    """

    def __init__(self, reason: str, path: str | os.PathLike, detail: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}: {detail}")
        self.reason = reason
        self.path = os.fspath(path)
        self.detail = detail
