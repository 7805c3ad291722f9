"""One selection worker: open the study, train waiting finalists until none is left, write the results.

Every worker of a selection runs this; each ends when no trial waits or runs, so the last one to finish
writes the final files (each writes the same files from the same study, under the study's lock).
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from e3dnas.arch import save_arch
from e3dnas.errors import E3DError
from e3dnas.select.finalists import Finalist
from e3dnas.select.fit import TrialRun
from e3dnas.select.outputs import write_outputs
from e3dnas.select.settings import SelectJob
from e3dnas.select.study import (
    ERROR_ATTR,
    PARAM,
    StudyRef,
    finalist_attrs,
    finalist_of,
    locked,
    open_shared,
    prepare,
    put_back,
    run_waiting_trial,
    signature,
)

log = logging.getLogger("e3dnas.select")


class SelectInterrupted(Exception):
    """Ctrl-C stopped a trial; it waits in the study again and resumes from its checkpoint."""


def study_ref(job: SelectJob, home: Path) -> StudyRef:
    s = job.settings
    storage = s.storage or f"sqlite:///{(home / 'study.db').resolve()}"
    return StudyRef(storage, f"select-{home.name}", s.min_epochs, s.reduction_factor)


def trial_config(job: SelectJob, name: str):
    """The training config of each trial: its wandb runs in one group, the selection's (unless
    ``logger.wandb.group`` names one)."""
    training = copy.deepcopy(job.training)
    wandb = training.logger.get("wandb")
    if wandb is not None and not wandb.get("group"):
        wandb.group = name
    return training


def finalist_file(home: Path, finalist: Finalist) -> Path:
    return home / "finalists" / f"{finalist.name}.yaml"


def run(job: SelectJob, home: Path) -> float:
    """Work on the selection in ``home`` (the study, finalists/, trials/ and the results); return the
    selected network's validation accuracy."""
    home.mkdir(parents=True, exist_ok=True)  # select.dir may be new
    ref = study_ref(job, home)
    s = job.settings
    lock = home / ".study.lock"
    study = open_shared(ref, lock, s.heartbeat_s, s.grace_s)
    for finalist in job.finalists:
        path = finalist_file(home, finalist)
        if not path.exists():
            save_arch(path, finalist.arch, name=finalist.name, meta={"select": finalist_attrs(finalist)})
    prepare(
        study, job.finalists, signature(job.finalists, s.min_epochs, s.reduction_factor), lock, ref.storage
    )
    print(
        f"select: {len(job.finalists)} finalists, rungs at {list(job.rungs)} of {job.max_epochs} epochs "
        f"(reduction factor {s.reduction_factor}); study {ref.name} in {ref.storage} "
        f"(optuna-dashboard {ref.storage})"
    )
    work(job, study, ref, home, lock)
    with locked(lock):
        summary = write_outputs(job, study, home, ref.storage)
    chosen, c = summary["selected"], summary["cost"]
    print(
        f"selected {chosen['finalist']}: val top-1 {chosen['val_top1']:.4f} after {job.max_epochs} epochs "
        f"(search score {chosen['score']:.4f}, {chosen['flops'] / 1e9:.3f} GFLOPs); "
        f"{c['trainings']} trainings, {c['epochs']} epochs of {c['epochs_full_recipe_each']} for all at "
        f"full recipe, {c['device_hours']:.3f} {c['accelerator']} device-hours -> {chosen['file']}"
    )
    return chosen["val_top1"]


def work(job: SelectJob, study: optuna.Study, ref: StudyRef, home: Path, lock: Path) -> None:
    """Run waiting trials one at a time (each claimed under ``lock``); while others run elsewhere, wait for
    them (a dead worker's trial goes stale and waits again); return when every trial has finished."""
    by_name = {f.name: f for f in job.finalists}
    training = trial_config(job, ref.name)
    current: dict[str, int] = {}

    def objective(trial: optuna.Trial) -> float:
        if finalist_of(trial.storage.get_trial(trial._trial_id)) is None:
            raise E3DError(
                f"trial {trial.number} of {ref.name} names no finalist: a process outside e3dnas.select "
                "took a trial from the study"
            )
        current["number"] = trial.number
        finalist = by_name[trial.suggest_categorical(PARAM, list(by_name))]
        trial_run = TrialRun(
            finalist=finalist,
            arch_file=finalist_file(home, finalist),
            trial_dir=home / "trials" / finalist.name,
            training=training,
            study=ref,
            trial_id=trial._trial_id,
            max_epochs=job.max_epochs,
        )
        try:
            fitted = job.fit(trial_run)
        except E3DError as err:
            trial.set_user_attr(ERROR_ATTR, str(err))
            raise
        except Exception as err:
            if not is_interruption(err):
                trial.set_user_attr(ERROR_ATTR, f"{type(err).__name__}: {err}")
            raise
        trial.set_user_attr("epochs", fitted.epochs)
        if fitted.epochs < job.max_epochs:
            raise optuna.TrialPruned(f"{finalist.name} stopped after {fitted.epochs} epochs")
        if fitted.value is None:
            raise E3DError(f"{finalist.name}: the training reported no {PARAM} validation accuracy")
        return fitted.value

    poll_s = min(job.settings.heartbeat_s, 10.0)
    try:
        while True:
            if run_waiting_trial(study, lock, objective):
                current.clear()  # finished: nothing to put back
            elif study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                # others' trials: wait for them, or for them to go stale
                time.sleep(poll_s)
                optuna.storages.fail_stale_trials(study)
            else:
                return
    except BaseException as err:
        if not is_interruption(err):
            raise
        if "number" not in current:
            raise SelectInterrupted("interrupted between trials") from None
        put_back(study, current["number"])
        raise SelectInterrupted(f"interrupted in trial {current['number']}") from None


def is_interruption(err: BaseException) -> bool:
    """Ctrl-C, as Python raises it or as the train stage reports a fit it stopped."""
    from e3dnas.train.run import TrainingInterrupted

    return isinstance(err, KeyboardInterrupt | TrainingInterrupted)
