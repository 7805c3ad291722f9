"""Config errors of the training and evaluation stages: the entry points print them as one line, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lightning.fabric.utilities.exceptions import MisconfigurationException

from e3dnas.errors import E3DError


class ConfigError(E3DError, ValueError):
    """The training config cannot work; the message names the key."""


@contextmanager
def config_errors(group: str) -> Iterator[None]:
    """Turn a constructor's rejection of its arguments into a ConfigError naming the config group.

    Only around construction: an error raised while training keeps its traceback.
    """
    try:
        yield
    except (ValueError, TypeError, KeyError, MisconfigurationException) as err:
        raise ConfigError(f"{group}: {err}") from err
