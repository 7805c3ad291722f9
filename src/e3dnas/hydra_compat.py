"""Every use of Hydra's private API (``hydra._internal``) in one place, so that a Hydra upgrade that moves
one of them breaks here only: the command-line parser, the config loader on a run's search path, and the
splitting of a sweep into its jobs. ``hydra.main`` keeps no public hook for any of the three."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from e3dnas.configs import CONF_DIR

if TYPE_CHECKING:
    from hydra.core.config_loader import ConfigLoader


def hydra_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line as Hydra's own parser reads it (overrides, ``--config-dir``, ``--help`` …)."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_known_intermixed_args(list(argv))[0]


def config_loader(args: argparse.Namespace) -> ConfigLoader:
    """Hydra's config loader on the search path a run with ``args`` uses: CONF_DIR (or ``--config-path``),
    then ``--config-dir`` ahead of it, as ``hydra.main`` builds it."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery

    search_path = create_config_search_path(args.config_path or CONF_DIR)
    if args.config_dir is not None:
        user_dir = f"file://{os.path.abspath(args.config_dir)}"
        search_path.prepend("command-line", user_dir, anchor=SearchPathQuery(provider="schema"))
    return ConfigLoaderImpl(config_search_path=search_path)


def loader_options(loader: ConfigLoader, args: argparse.Namespace, group: str) -> list[str]:
    """Options of ``group`` on the loader's search path plus ``hydra.searchpath`` (command line or the
    primary config)."""
    searchpath = [o for o in args.overrides if o.lstrip("+").startswith("hydra.searchpath=")]
    return sorted(loader.get_group_options(group, config_name=args.config_name, overrides=searchpath))


def group_options(group: str, argv: Sequence[str] | None = None) -> list[str]:
    """The options of a config group a run with ``argv`` (default: this command line) can pick, in the
    packaged configs and the user's own config dirs."""
    args = hydra_args(sys.argv[1:] if argv is None else argv)
    return loader_options(config_loader(args), args, group)


def sweep_jobs(overrides: Sequence[str]) -> list[list[str]]:
    """The override lists of the jobs a (multi)run of ``overrides`` makes, as Hydra's basic sweeper splits
    them (``search.seed=0,1`` → two jobs)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(list(overrides)), None)
    return jobs
