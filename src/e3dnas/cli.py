"""Shared bits of the Hydra entry points: where the configs live and how a run fails cleanly."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from e3dnas.errors import E3DError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from e3dnas.search.budget import Budget

#: The repository's conf/ (the package is installed editable: src/e3dnas → ../../conf).
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


def fail(message: str, code: int = 2) -> NoReturn:
    """End the program with one clear line instead of a traceback."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an :class:`E3DError` raised inside into :func:`fail`'s one line; any other exception is a
    bug and keeps its traceback."""
    try:
        yield
    except E3DError as err:
        fail(str(err))


def read_conf(group: str, name: str) -> dict[str, Any]:
    """``conf/<group>/<name>.yaml`` as plain data, for scripts that use one config outside Hydra."""
    return yaml.safe_load((Path(CONF_DIR) / group / f"{name}.yaml").read_text())


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


def check_group_choices(argv: list[str], groups: tuple[str, ...]) -> None:
    """Exit 2 with one line when an override names a config-group option that does not exist.

    Hydra would report it too, but with exit code 1 and a page of text; checking here (sweeps included,
    e.g. ``+budget=e3d_s,e3d_x``) gives scripts a usage-error code before anything runs.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in argv if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:
        return  # a syntax error: Hydra's own message is the clearest
    for override in parsed:
        group = override.key_or_group
        if group not in groups or override.is_delete():
            continue
        values = (
            list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        )
        known = group_options(group)
        for value in values:
            if str(value) not in known:
                fail(
                    f"unknown {group} {value!r} "
                    f"(available: {', '.join(known)}; add conf/{group}/{value}.yaml)"
                )


def route_arch_files(argv: list[str]) -> list[str]:
    """Hand ``arch=<file.yaml>`` to Hydra as ``arch_file=<file.yaml>``.

    conf/arch/ is a config group (``arch=e3d_s`` picks a released network), so Hydra would read a path
    as a group option and fail; a value naming YAML files is an architecture file from a search instead.
    """
    routed = []
    for arg in argv:
        key, _, value = arg.partition("=")
        is_file = value and all(v.strip().endswith((".yaml", ".yml")) for v in value.split(","))
        routed.append(f"arch_file={value}" if key == "arch" and is_file else arg)
    return routed


def composed_budget(node: DictConfig) -> Budget:
    """The budget of the composed config, fingerprinted when the command line overrode any of its fields
    (``+budget=e3d_s budget.flops=1e9`` must not pass for ``e3d_s``)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from e3dnas.search.budget import Budget

    budget = Budget.from_config(OmegaConf.to_container(node, resolve=True))
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    if any(override.lstrip("+~").startswith("budget.") for override in overrides):
        return budget.fingerprinted()
    return budget


def budget_dir(node: DictConfig | None) -> str:
    """``${budget_dir:...}`` in run-dir patterns: a folder named like the budget's outputs."""
    from e3dnas.search.budget import BudgetError

    try:
        return "no-budget" if node is None else composed_budget(node).name
    except BudgetError:
        return "invalid-budget"  # the run stops with the budget's own message


def check_overrides(config_name: str, argv: list[str], validate: Callable[[DictConfig], object]) -> None:
    """Exit 2 with one line when an override gives a config key a value of the wrong type, names an unknown
    key, or fails ``validate`` (the schema's ranges), for each job of a sweep, before anything runs.

    Hydra would stop too, but with exit code 1 and a page of text. Of Hydra's own settings only
    ``hydra.searchpath`` applies here; anything else Hydra reports itself.
    """
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from e3dnas.schema import describe

    overrides = [
        a
        for a in argv
        if "=" in a
        and not a.startswith("-")
        and (not a.startswith("hydra") or a.startswith("hydra.searchpath="))
    ]
    try:
        (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(overrides), None)
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            for job in jobs:
                with user_errors():
                    validate(compose(config_name, overrides=job))
    except HydraException as err:
        if isinstance(err.__cause__, OmegaConfBaseException):
            fail(describe(err.__cause__))
