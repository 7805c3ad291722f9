"""One way for every Hydra command to start, read its config and fail: :func:`hydra_command`.

A command reads each composed config once into its job (``read(cfg, overrides) -> Job``: a frozen value
holding everything the command needs, each file and config node read once) and hands that job to its
resume check and its run. Before Hydra runs, and so before any config tree is printed or any run dir is
made, each job of the command line is composed and read: a config-group option that does not exist, a
value of the wrong type or out of range, an unknown or a missing key is one line (``error: …``) and exit
code 2. The run then gets the job read there (read again only where Hydra composed another config).
Inside the run an :class:`E3DError` is one line too, with its exit code (2, or 130 for an interrupted run
that says how to continue); any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from omegaconf import DictConfig, OmegaConf

from e3dnas.configs import CONF_DIR
from e3dnas.console import start_run
from e3dnas.errors import E3DError
from e3dnas.hydra_compat import config_loader, hydra_args, loader_options, sweep_jobs

#: A command's job: everything one run needs, read from its config (a frozen dataclass).
Job = Any
#: A command's reader: one job's composed config and the command line's overrides of it (which say what
#: the user set) -> its job; raises an E3DError for what cannot work.
Read = Callable[[DictConfig, Sequence[str]], Job]
#: A command's run: the job and the run dir Hydra made; returns the sweep's objective, if any.
Run = Callable[[Job, Path], object]
#: What a command checks of an earlier run's records in the run dir it is given, before Hydra writes there.
ResumeCheck = Callable[[Job, Path], object]


def fail(message: str, code: int = 2) -> NoReturn:
    """End the program with one clear line instead of a traceback."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an :class:`E3DError` raised inside into :func:`fail`'s one line with the error's exit code;
    any other exception is a bug and keeps its traceback."""
    try:
        yield
    except E3DError as err:
        fail(str(err), err.exit_code)


def check_group_choices(args: argparse.Namespace, groups: Sequence[str]) -> None:
    """Exit 2 with one line when an override names an option of one of ``groups`` that does not exist.

    Hydra would report it too, but with exit code 1 and a page of text; checking here (sweeps included,
    e.g. ``+budget=e3d_s,e3d_x``) gives scripts a usage-error code before anything runs.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

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
        known = loader_options(loader, args, group)
        for value in values:
            if str(value) not in known:
                fail(
                    f"unknown {group} {value!r} (available: {', '.join(known)}; to add one, write "
                    f"{group}/{value}.yaml in a config dir of yours and pass --config-dir DIR or "
                    f"hydra.searchpath=[file://DIR])"
                )


def given_run_dir(args: argparse.Namespace) -> Path | None:
    """The run dir given to a single run (``hydra.run.dir=DIR``: how a run is resumed), where a pre-run check
    looks for what an earlier attempt left; None for a new run dir or a multirun."""
    if args.multirun:
        return None
    given = [o.partition("=")[2] for o in args.overrides if o.startswith("hydra.run.dir=")]
    return Path(given[-1]) if given else None


def check_launcher(args: argparse.Namespace) -> None:
    """Exit 2 with one line when a multirun asks for ``hydra/launcher=slurm`` where no Slurm controller
    answers, rather than submitit's traceback at the first submission."""
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


def job_key(cfg: DictConfig) -> str:
    """What a job was read from: its config as composed, unresolved (Hydra's run composes the same for the
    same overrides, which it writes in another form: ``x=False`` for ``x=false``)."""
    return OmegaConf.to_yaml(cfg)


def read_jobs(
    config_name: str, args: argparse.Namespace, read: Read, resume: ResumeCheck | None = None
) -> dict[str, Job]:
    """Each job of the command line read, by :func:`job_key`; exit 2 with one line when one cannot be
    composed (a value of the wrong type, an unknown key, a group left unchosen) or read, for each job of a
    sweep, before any runs. With ``resume`` and a given run dir, also when that dir's earlier run cannot be
    continued with these settings: Hydra has written nothing there yet, so a refused resume leaves the
    run's records as they were.

    The configs are composed on the search path the run will use (``--config-dir``, ``hydra.searchpath``);
    Hydra's other settings are its own.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from e3dnas.overrides import check_added_keys
    from e3dnas.schema import describe

    overrides = [o for o in args.overrides if not o.startswith("hydra") or o.startswith("hydra.searchpath=")]
    if args.config_dir is not None and not any(o.startswith("hydra.searchpath=") for o in overrides):
        overrides.append(f"hydra.searchpath=[file://{os.path.abspath(args.config_dir)}]")
    run_dir = given_run_dir(args)
    jobs = {}
    try:
        with initialize_config_dir(config_dir=args.config_path or CONF_DIR, version_base="1.3"):
            loader = config_loader(args)
            for job_overrides in sweep_jobs(overrides):
                cfg = compose(config_name, overrides=job_overrides)
                with user_errors():  # the search path stays in: a reader may compose (a budget's preset)
                    check_added_keys(
                        job_overrides,
                        cfg,
                        lambda name: bool(loader_options(loader, args, name)),
                        partial(compose, config_name),
                    )
                    job = jobs[job_key(cfg)] = read(cfg, job_overrides)
                    if resume is not None and run_dir is not None:
                        resume(job, run_dir)
    except OmegaConfBaseException as err:
        fail(describe(err, overrides))
    except HydraException as err:
        if isinstance(err.__cause__, OmegaConfBaseException):
            fail(describe(err.__cause__, overrides))
        fail(hydra_message(err))
    return jobs


def hydra_message(err: Exception) -> str:
    """Hydra's message in one line: its first, and the options it lists after "Available options:"."""
    first, *rest = str(err).split(", set env var HYDRA_FULL_ERROR")[0].strip().splitlines()
    if "Available options:" in rest:
        options = [line.strip() for line in rest[rest.index("Available options:") + 1 :] if line.strip()]
        return f"{first} (available: {', '.join(options)})"
    return first


def groups_help(args: argparse.Namespace, groups: Sequence[str]) -> str:
    """The ``--help`` lines of a command's config groups: each with the options it can pick."""
    loader = config_loader(args)
    return "\n".join(f"{group}: {', '.join(loader_options(loader, args, group))}" for group in groups)


def hydra_command(
    config_name: str,
    read: Read,
    run: Run,
    groups: Sequence[str] = (),
    resume: ResumeCheck | None = None,
) -> None:
    """Run the Hydra command of ``conf/<config_name>.yaml`` on this command line.

    ``read`` turns each composed job config into the command's job and raises an :class:`E3DError` for
    what cannot work; ``run`` then runs one job, after the run's console is teed to its log and the config
    tree shown (``print_config``). ``groups`` are the config groups the command offers: an option they do
    not have is refused up front, and ``--help`` lists them (conf/hydra/help/e3dnas.yaml). ``resume``
    checks an earlier run in the run dir given by ``hydra.run.dir=`` before Hydra writes into it. A sweep on
    ``hydra/launcher=slurm`` first asks whether a Slurm controller answers.
    """
    import hydra
    from hydra.core.hydra_config import HydraConfig

    args = hydra_args(sys.argv[1:])
    OmegaConf.register_new_resolver("command_groups", partial(groups_help, args, groups), replace=True)
    jobs: dict[str, Job] = {}
    if not (args.help or args.hydra_help or args.shell_completion):
        check_launcher(args)
        check_group_choices(args, groups)
        if not (args.cfg or args.info):
            jobs = read_jobs(config_name, args, read, resume)

    @hydra.main(config_path=CONF_DIR, config_name=config_name, version_base="1.3")
    def main(cfg: DictConfig) -> object:
        start_run(cfg)
        hydra_cfg = HydraConfig.get()
        overrides = list(hydra_cfg.overrides.task)
        key = job_key(cfg)
        with user_errors():
            # The job read before Hydra started, unless Hydra composed another config (a launcher's job).
            job = jobs.pop(key) if key in jobs else read(cfg, overrides)
            return run(job, Path(hydra_cfg.runtime.output_dir))

    main()
