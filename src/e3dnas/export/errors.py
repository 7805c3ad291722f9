"""The export's own failure: the entry point prints it as one line and exits 2."""

from __future__ import annotations

from e3dnas.errors import E3DError


class ExportError(E3DError, RuntimeError):
    """An export that cannot be made or does not match the eager network; the message says which."""
