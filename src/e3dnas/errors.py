"""The one base class of every error e3dnas reports to its user as a single line.

Entry points catch :class:`E3DError` (``e3dnas.command.user_errors``) and exit with its message and its
code; anything else is a bug and keeps its traceback. Subclasses also derive from the builtin that describes
them (``ValueError`` for a bad value, ``RuntimeError`` for a state the user must fix), so library callers
can catch either.
"""

from __future__ import annotations


class E3DError(Exception):
    """A problem the user can fix (a file, a config key, a value); the message names it."""

    #: The command's exit status: 2, a usage error.
    exit_code = 2


class Interrupted(E3DError):
    """Ctrl-C or a signal stopped a run after saving its progress; the message says how to continue."""

    exit_code = 130  # 128 + SIGINT, as a shell reports it
