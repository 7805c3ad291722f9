"""The run's console, teed: what a command prints (and what libraries log past the root logger) also goes to
the run's log file, and the run starts by showing its resolved config as a tree (``print_config``)."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from rich.tree import Tree


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
