"""The selection's Optuna study: storage, the finalists enqueued once, the pruner, and a trial's reports.

Every worker opens the same study. The finalists are enqueued as fixed trials (``study.enqueue_trial``)
by the first worker, under a lock file beside the study; Optuna hands each waiting trial to one worker
only. A running trial beats a heartbeat; one silent for ``select.grace_s`` (a killed worker's) is failed
and put back as a waiting trial with its reported epochs (``RetryHeartbeatStaleTrialCallback``), and its
training resumes from its checkpoint. A trial stopped by Ctrl-C is put back the same way at once; one that
failed with an error is put back by the next run.
"""

from __future__ import annotations

import fcntl
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.pruners import SuccessiveHalvingPruner
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from e3dnas.errors import E3DError
from e3dnas.select.finalists import Finalist

#: The trial parameter that names the finalist (its fixed value, as enqueued).
PARAM = "finalist"
#: A trial's user attribute: the error that failed it (such a trial is retried by the next run).
ERROR_ATTR = "error"
SQLITE_TIMEOUT_S = 60


class StudyMismatch(E3DError):
    """The storage holds a selection of other finalists or rungs; the message says which differ."""


@dataclass(frozen=True)
class StudyRef:
    """Where a study is and how it prunes: enough for any process (a training's callback, a DDP rank) to
    open it again."""

    storage: str
    name: str
    min_epochs: int
    reduction_factor: int

    def open(self, heartbeat_s: float | None = None, grace_s: float | None = None) -> optuna.Study:
        """The study as a trial's reporter sees it; with ``heartbeat_s``, a worker's (created if new): its
        trials beat a heartbeat, and stale ones are retried with the epochs they reported."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            heartbeat = {}
            if heartbeat_s is not None:
                heartbeat = {
                    "heartbeat_interval": max(1, round(heartbeat_s)),
                    "grace_period": max(2, round(grace_s or 3 * heartbeat_s)),
                    "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(
                        inherit_intermediate_values=True
                    ),
                }
            engine = (
                {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if self.storage.startswith("sqlite") else {}
            )
            storage = RDBStorage(self.storage, engine_kwargs=engine, **heartbeat)
            if self.storage.startswith("sqlite"):
                serialise_sqlite(storage.engine)
            pruner = SuccessiveHalvingPruner(
                min_resource=self.min_epochs, reduction_factor=self.reduction_factor
            )
            if heartbeat_s is None:
                return optuna.load_study(storage=storage, study_name=self.name, pruner=pruner)
            return optuna.create_study(
                storage=storage,
                study_name=self.name,
                direction="maximize",
                pruner=pruner,
                load_if_exists=True,
            )


class RungReporter:
    """Reports one trial's validation accuracy after each epoch and says whether the pruner stops it."""

    def __init__(self, study: StudyRef, trial_id: int):
        self.study_ref, self.trial_id = study, trial_id
        self._trial: optuna.Trial | None = None

    def report(self, epochs: int, value: float) -> bool:
        """``value`` after ``epochs`` epochs (the step: rungs are at min_epochs × reduction_factor^k
        epochs trained); True when the trial should stop here."""
        if self._trial is None:
            self._trial = optuna.Trial(self.study_ref.open(), self.trial_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a step reported again after a resume
            self._trial.report(float(value), step=epochs)
        return self._trial.should_prune()


def serialise_sqlite(engine: Any) -> None:
    """Make each SQLite transaction take the write lock when it begins (``BEGIN IMMEDIATE``).

    Optuna claims a waiting trial by reading its state and then writing RUNNING, with a row lock that
    SQLite does not have: two workers that read at once both claim it (seen under load: one finalist
    trained by two workers). Taking the write lock first serialises the read and the write; this is
    SQLAlchemy's documented recipe for SQLite transactions (pysqlite's own BEGIN is turned off).
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_driver_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners reconnect with them


def signature(finalists: tuple[Finalist, ...], min_epochs: int, reduction_factor: int) -> dict[str, Any]:
    """What a study was made with: the finalists (by architecture) and the rungs."""
    return {
        "finalists": [f"{f.name}:{f.digest}" for f in finalists],
        "min_epochs": min_epochs,
        "reduction_factor": reduction_factor,
    }


def open_shared(ref: StudyRef, lock: Path, heartbeat_s: float, grace_s: float) -> optuna.Study:
    """A worker's study, opened (created if new) under the lock: processes that create one storage at
    once race on its schema tables (seen with two Slurm workers: ``UNIQUE constraint failed:
    alembic_version``)."""
    with locked(lock):
        return ref.open(heartbeat_s, grace_s)


@contextmanager
def locked(path: Path) -> Iterator[Callable[[], None]]:
    """An exclusive lock on ``path`` (created) across processes; workers on other hosts share it through
    the file system the select dir is on. Yields a function that releases it early."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield lambda: fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_waiting_trial(study: optuna.Study, lock: Path, objective: Callable[[optuna.Trial], float]) -> bool:
    """Run one waiting trial with ``objective`` and return True, or return False when none waits.

    The trial is claimed under the lock, released as the objective starts (trainings still run side by
    side): Optuna's ask takes a waiting trial if one is left and otherwise creates a new, empty one, so two
    workers that both saw the last waiting trial left an empty failed trial in the study (seen in CI).
    """
    with locked(lock) as release:
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return False

        def claimed(trial: optuna.Trial) -> float:
            release()
            return objective(trial)

        study.optimize(claimed, n_trials=1)
        return True


def finalist_of(trial: FrozenTrial) -> str | None:
    return trial.params.get(PARAM) or (trial.system_attrs.get("fixed_params") or {}).get(PARAM)


def prepare(
    study: optuna.Study, finalists: tuple[Finalist, ...], wanted: dict[str, Any], lock: Path, where: str
) -> None:
    """Enqueue the finalists once (the first worker), refuse a study of other finalists or rungs, and put
    back each trial an error failed in an earlier run (its finalist has no newer trial)."""
    with locked(lock):
        made_with = study.user_attrs.get("signature")
        if made_with is None:
            for finalist in finalists:
                study.enqueue_trial({PARAM: finalist.name}, user_attrs=finalist_attrs(finalist))
            study.set_user_attr("signature", wanted)
            return
        differing = sorted(k for k in wanted if made_with.get(k) != wanted[k])
        if differing:
            raise StudyMismatch(
                f"the study {study.study_name} in {where} was made with other {', '.join(differing)}: "
                "select into a new dir (without hydra.run.dir=), or rerun with the study's settings"
            )
        latest: dict[str, FrozenTrial] = {}
        for trial in study.get_trials(deepcopy=False):
            latest[finalist_of(trial)] = trial
        for trial in latest.values():
            if trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs:
                put_back(study, trial.number)


def finalist_attrs(finalist: Finalist) -> dict[str, Any]:
    """What the dashboard shows beside a trial: the finalist's search score and cost."""
    return {
        "score": finalist.score,
        "flops": finalist.flops,
        "params_backbone": finalist.params_backbone,
        "temporal_pattern": finalist.pattern,
        "search_rank": finalist.search_rank,
    }


def put_back(study: optuna.Study, trial_number: int) -> None:
    """Enqueue an interrupted trial again, with the epochs it reported and its rung records (failed
    first if the interruption left it running; one that finished before it is left as it is)."""
    trial = study.get_trials(deepcopy=True)[trial_number]
    if trial.state.is_finished() and trial.state != TrialState.FAIL:
        return
    if trial.state == TrialState.RUNNING:
        study.tell(trial_number, state=TrialState.FAIL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)(study, trial)
