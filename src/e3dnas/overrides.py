"""What a command line's overrides mean beyond Hydra's parse: the keys a ``+`` adds where nothing reads
them, and a command line written back so that a shell reads it as it was given."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

from omegaconf import DictConfig

from e3dnas.schema import ConfigValueError, unknown_key


def override_key(override: str) -> str:
    """The dotted key of ``key=value``, without Hydra's ``+``/``++``/``~`` prefix."""
    return override.split("=", 1)[0].lstrip("+~")


def check_added_keys(
    job: Sequence[str],
    cfg: DictConfig,
    is_group: Callable[[str], bool],
    compose: Callable[[list[str]], DictConfig],
) -> None:
    """ConfigValueError when a ``+key=value`` of ``job`` made a new top-level key of ``cfg`` (a mistyped
    group, ``+datset.frames=8``): no command reads one, so the run would go on with the setting ignored.

    ``is_group`` says which names are config groups (their ``+group=option`` is a choice); ``compose``
    composes the job without some of its overrides, which is done only when a ``+`` names a top-level key
    that is not a group, to tell a key the config already had from one the ``+`` made.
    """
    added = [o for o in job if o.startswith("+") and not o.startswith("++") and "=" in o]
    tops = {override_key(o).split(".")[0] for o in added}
    suspect = sorted(top for top in tops if top in cfg and not is_group(top))
    if not suspect:
        return
    base = compose([o for o in job if o not in added or override_key(o).split(".")[0] not in suspect])
    for top in suspect:
        if top not in base:
            given = next(o for o in added if override_key(o).split(".")[0] == top)
            known = [str(k) for k in base if k != "hydra"]
            raise ConfigValueError(unknown_key(top, known, f"; {given} adds a key that nothing reads"))


def command_line(module: str, args: Sequence[str]) -> str:
    """``python -m module args…`` with each argument quoted for a POSIX shell (a regex with parentheses or
    backslashes, a path with spaces), so that pasting it runs the command that was given."""
    return shlex.join(["python", "-m", module, *args])
