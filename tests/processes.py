"""Child processes started as a user's shell starts them, and waits on what they write, never on their speed.

A CI runner or a ``make test &`` starts pytest with SIGINT ignored, and a child inherits that: Python then
keeps ignoring it, and a Ctrl-C test would wait forever. ``start`` restores the default in the child.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

#: How long a condition may take to come true: a stuck child, not a slow machine, is what it catches.
PATIENCE_S = 300.0


def default_sigint() -> None:
    """``preexec_fn`` of a child that is sent SIGINT: Python installs its KeyboardInterrupt handler only
    when SIGINT is at its default at start."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(cmd: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` with SIGINT at its default in the child."""
    return subprocess.Popen(list(cmd), preexec_fn=default_sigint, **kwargs)


def wait_until(condition: Callable[[], Any], what: str, process: subprocess.Popen | None = None) -> Any:
    """Poll ``condition`` until it returns something true (returned); fails naming ``what`` when
    ``process`` ended first or nothing came within :data:`PATIENCE_S`."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            told = f"{out or ''}{err or ''}"[-4000:]
            raise AssertionError(f"the process exited ({process.returncode}) before {what}: {told}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {PATIENCE_S:.0f} s")
        time.sleep(0.05)
