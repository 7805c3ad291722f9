"""Shared bits of the entry points: where the configs live, which options a run can pick (the user's own
config dirs included), how a run starts (config tree, run log) and how it fails cleanly."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import yaml

# Registers the dataset schema in Hydra's ConfigStore, which conf/dataset/*.yaml name in their defaults:
# whatever composes a config finds CONF_DIR here, and the schema with it.
import e3dnas.data.config  # noqa: F401
from e3dnas.errors import E3DError

if TYPE_CHECKING:
    from hydra.core.config_loader import ConfigLoader
    from omegaconf import DictConfig
    from rich.tree import Tree

#: The configs: e3dnas/conf, shipped in the wheel; in a checkout a symlink to the repository's conf/.
CONF_DIR = str(Path(__file__).with_name("conf"))


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


def hydra_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line as Hydra's own parser reads it (overrides, ``--config-dir``, ``--config-name`` …)."""
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


def _options(loader: ConfigLoader, args: argparse.Namespace, group: str) -> list[str]:
    """Options of ``group`` on the loader's search path plus ``hydra.searchpath`` (command line or the
    primary config)."""
    searchpath = [o for o in args.overrides if o.lstrip("+").startswith("hydra.searchpath=")]
    return sorted(loader.get_group_options(group, config_name=args.config_name, overrides=searchpath))


def group_options(group: str, argv: Sequence[str] | None = None) -> list[str]:
    """The options of a config group a run with ``argv`` (default: this command line) can pick, in the
    packaged configs and the user's own config dirs."""
    args = hydra_args(sys.argv[1:] if argv is None else argv)
    return _options(config_loader(args), args, group)


def check_group_choices(argv: list[str], groups: tuple[str, ...]) -> None:
    """Exit 2 with one line when an override names a config-group option that does not exist.

    Hydra would report it too, but with exit code 1 and a page of text; checking here (sweeps included,
    e.g. ``+budget=e3d_s,e3d_x``) gives scripts a usage-error code before anything runs.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = hydra_args(argv)
    try:
        parsed = OverridesParser.create().parse_overrides(args.overrides)
    except Exception:
        return  # a syntax error: Hydra's own message is the clearest
    loader = config_loader(args)
    for override in parsed:
        group = override.key_or_group
        if group not in groups or override.is_delete():
            continue
        values = (
            list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        )
        known = _options(loader, args, group)
        for value in values:
            if str(value) not in known:
                fail(
                    f"unknown {group} {value!r} (available: {', '.join(known)}; to add one, write "
                    f"{group}/{value}.yaml in a config dir of yours and pass --config-dir DIR or "
                    f"hydra.searchpath=[file://DIR])"
                )


def check_launcher(argv: list[str]) -> None:
    """Exit 2 with one line when a multirun asks for ``hydra/launcher=slurm`` where no Slurm controller
    answers, rather than submitit's traceback at the first submission."""
    args = hydra_args(argv)
    if not args.multirun or "hydra/launcher=slurm" not in args.overrides:
        return
    sinfo = shutil.which("sinfo")
    if sinfo is None:
        fail(
            "hydra/launcher=slurm: no Slurm client here (sinfo is not on PATH); submit from a Slurm login "
            "node, or run the sweep with hydra/launcher=local"
        )
    try:
        probe = subprocess.run(
            [sinfo, "--noheader", "--format=%P"], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        fail("hydra/launcher=slurm: the Slurm controller does not answer (sinfo timed out after 60 s)")
    if probe.returncode != 0:
        said = (probe.stderr or probe.stdout).strip().splitlines() or [f"exit {probe.returncode}"]
        fail(f"hydra/launcher=slurm: the Slurm controller does not answer (sinfo: {said[-1]})")


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


class LoggedStream:
    """A console stream that also hands each complete line to ``logger``: the commands report with
    ``print`` (one clean line per result on the console), and the run's log file must hold it too."""

    def __init__(self, stream: TextIO, logger: logging.Logger) -> None:
        self.stream, self.logger = stream, logger
        self.pending = ""
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        from rich.text import Text

        self.stream.write(text)
        with self.lock:
            *lines, pending = (self.pending + text).split("\n")
            # A carriage return starts the line over (progress bars): keep what can still show, so a bar
            # redrawn for hours does not grow the buffer (and each write's copy of it).
            self.pending = pending[pending.rfind("\r", 0, len(pending) - 1) + 1 :]
        for line in lines:
            plain = Text.from_ansi(line).plain  # no colours; a progress bar line as it ended
            if plain.strip():
                self.logger.info(plain)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)  # flush, isatty, fileno, encoding: the console's


def log_console() -> None:
    """Send what the run prints, and what libraries log past the root logger (Lightning, imported before
    Hydra set logging up, keeps its messages to its own console handler), to the job's log files (Hydra's
    ``<run dir>/<job>.log``). A later job of the same process (a local multirun) moves them to its own."""
    for name in ("stdout", "stderr"):
        logger = logging.getLogger(f"e3dnas.{name}")
        logger.setLevel(logging.INFO)
        logger.propagate = False  # to the files only: the console shows the text already
        stream = getattr(sys, name)
        if not isinstance(stream, LoggedStream):
            setattr(sys, name, LoggedStream(stream, logger))
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    for logger in logging.root.manager.loggerDict.values():
        if isinstance(logger, logging.Logger) and not logger.propagate:
            logger.handlers = [h for h in logger.handlers if not isinstance(h, logging.FileHandler)] + files


def config_tree(cfg: DictConfig) -> Tree:
    """The resolved config as the lightning-hydra-template shows it: a branch per top-level group, plain
    settings as leaves."""
    from omegaconf import OmegaConf
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", guide_style="dim")
    for key, value in OmegaConf.to_container(cfg, resolve=True).items():
        group = isinstance(value, dict | list)
        node = tree.add(str(key), style="bold") if group else tree
        text = OmegaConf.to_yaml(value if group else {key: value}).rstrip()
        node.add(Syntax(text, "yaml", background_color="default"))
    return tree


def start_run(cfg: DictConfig) -> None:
    """First call of a run: its console output goes to its log file too, then (``print_config``, default
    on) the resolved config is shown and logged."""
    from rich.console import Console

    log_console()
    if cfg.get("print_config", True):
        Console(file=sys.stdout).print(config_tree(cfg))


def given_run_dir(argv: Sequence[str]) -> Path | None:
    """The run dir given to a single run (``hydra.run.dir=DIR``: how a run is resumed), where a pre-run check
    looks for what an earlier attempt left; None for a new run dir or a multirun."""
    args = hydra_args(argv)
    if args.multirun:
        return None
    given = [o.partition("=")[2] for o in args.overrides if o.startswith("hydra.run.dir=")]
    return Path(given[-1]) if given else None


def check_overrides(config_name: str, argv: list[str], validate: Callable[[DictConfig], object]) -> None:
    """Exit 2 with one line when an override gives a config key a value of the wrong type, names an unknown
    key, or fails ``validate`` (the schema's ranges), for each job of a sweep, before anything runs.

    Hydra would stop too, but with exit code 1 and a page of text. The configs are composed on the search
    path the run will use (``--config-dir``, ``hydra.searchpath``); Hydra's other settings are its own.
    """
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from e3dnas.schema import describe

    args = hydra_args(argv)
    if args.shell_completion:
        return  # its "overrides" are completion commands (install=bash), not config values
    overrides = [o for o in args.overrides if not o.startswith("hydra") or o.startswith("hydra.searchpath=")]
    if args.config_dir is not None and not any(o.startswith("hydra.searchpath=") for o in overrides):
        overrides.append(f"hydra.searchpath=[file://{os.path.abspath(args.config_dir)}]")
    try:
        (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(overrides), None)
        with initialize_config_dir(config_dir=args.config_path or CONF_DIR, version_base="1.3"):
            for job in jobs:
                with user_errors():
                    validate(compose(config_name, overrides=job))
    except HydraException as err:
        if isinstance(err.__cause__, OmegaConfBaseException):
            fail(describe(err.__cause__))
