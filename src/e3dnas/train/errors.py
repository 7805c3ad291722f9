"""Config errors of the training and evaluation stages: the entry points print them as one line, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import InstantiationException
from lightning.fabric.utilities.exceptions import MisconfigurationException

from e3dnas.errors import E3DError


class ConfigError(E3DError, ValueError):
    """The training config cannot work; the message names the key."""


@contextmanager
def config_errors(group: str) -> Iterator[None]:
    """Turn a constructor's rejection of its arguments into a one-line ConfigError naming the config group
    (for ``hydra.utils.instantiate``, the constructor's own error, not Hydra's page around it).

    Only around construction: an error raised while training keeps its traceback.
    """
    try:
        yield
    except E3DError:
        raise
    except (ValueError, TypeError, KeyError, MisconfigurationException, InstantiationException) as err:
        if isinstance(err.__cause__, E3DError):  # raised by a constructor that instantiate called
            raise err.__cause__ from None
        raise ConfigError(f"{group}: {reason(err)}") from err


def reason(err: Exception) -> str:
    """One line saying why: the called constructor's own error (of any type: Lightning's
    MisconfigurationException, a missing optional package …) rather than Hydra's wrapper around the call,
    Hydra's own message (without its advice on stack traces) when the target could not even be found."""
    called = (
        isinstance(err, InstantiationException)
        and err.__cause__ is not None
        and str(err).startswith("Error in call to target")
    )
    text = str(err.__cause__ if called else err).split(", set env var HYDRA_FULL_ERROR")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(err.__cause__ if called else err).__name__
