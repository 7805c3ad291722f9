"""The one base class of every error e3dnas reports to its user as a single line.

Entry points catch :class:`E3DError` (``e3dnas.cli.user_errors``) and exit 2 with its message; anything
else is a bug and keeps its traceback. Subclasses also derive from the builtin that describes them
(``ValueError`` for a bad value, ``RuntimeError`` for a state the user must fix), so library callers can
catch either.
"""

from __future__ import annotations


class E3DError(Exception):
    """A problem the user can fix (a file, a config key, a value); the message names it."""
