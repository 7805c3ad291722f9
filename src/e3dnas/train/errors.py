"""Config errors of the training and evaluation stages: the entry points print them as one line, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import InstantiationException
from lightning.fabric.utilities.exceptions import MisconfigurationException

from e3dnas.errors import ConfigError, E3DError

__all__ = ["ConfigError", "config_errors"]


@contextmanager
def config_errors(group: str) -> Iterator[None]:
    """Turn a constructor's rejection of its arguments into a one-line ConfigError naming the config group
    (for ``hydra.utils.instantiate``, the constructor's own error, not Hydra's page around it).

    Only around construction: an error raised while training keeps its traceback.
    """
    try:
        yield
    except (ValueError, TypeError, KeyError, MisconfigurationException, InstantiationException) as err:
        cause = err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ else err
        if isinstance(cause, E3DError):
            raise cause from None
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise ConfigError(f"{group}: {first}") from err
