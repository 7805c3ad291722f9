"""One trial: a finalist trained by the train stage (:func:`e3dnas.train.run.train`) in its own dir, its
validation accuracy reported to the study after every epoch (:class:`PruneAtRungs`).

``select.fit`` names the function that trains a trial; this module's :func:`train_finalist` is the real one,
a test's stub gives known learning curves instead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from e3dnas.select.finalists import Finalist
from e3dnas.select.study import RungReporter, StudyRef

#: The metric the rungs compare and the selection maximises (the train stage's validation top-1).
MONITOR = "val/top1"


@dataclass(frozen=True)
class TrialRun:
    """What a fit gets: the finalist, its architecture file, its own dir (a rerun resumes from its
    checkpoint there), the training config, and the study trial it reports to."""

    finalist: Finalist
    arch_file: Path
    trial_dir: Path
    training: DictConfig
    study: StudyRef
    trial_id: int
    max_epochs: int

    def reporter(self) -> RungReporter:
        return RungReporter(self.study, self.trial_id)


@dataclass(frozen=True)
class Fitted:
    """The trial's last validation accuracy and the epochs it has trained (fewer than the full recipe:
    the pruner stopped it)."""

    value: float | None
    epochs: int


class PruneAtRungs(Callback):
    """Reports ``val/top1`` after each epoch's validation and stops the fit when the pruner says so.

    The fit ends as any fit does (checkpoint saved, loggers finished); rank zero decides and every rank
    stops (DDP). Optuna-integration's callback raises inside Lightning instead, which skips the epoch's
    checkpoint and leaves the run's loggers open.
    """

    def __init__(self, storage: str, study: str, min_epochs: int, reduction_factor: int, trial_id: int):
        self.reporter = RungReporter(StudyRef(storage, study, min_epochs, reduction_factor), trial_id)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        stop = False
        if trainer.is_global_zero:
            value = trainer.callback_metrics.get(MONITOR)
            if value is not None:
                stop = self.reporter.report(trainer.current_epoch + 1, float(value))
        trainer.should_stop = trainer.should_stop or trainer.strategy.broadcast(stop)


def train_finalist(run: TrialRun) -> Fitted:
    """Train ``run``'s finalist with the train stage, pruned at the rungs."""
    from e3dnas.train.run import train

    cfg = copy.deepcopy(run.training)
    cfg.arch_file = str(run.arch_file)
    ref = run.study
    cfg.callbacks.select_rungs = OmegaConf.create(
        {
            "_target_": f"{__name__}.PruneAtRungs",
            "storage": ref.storage,
            "study": ref.name,
            "min_epochs": ref.min_epochs,
            "reduction_factor": ref.reduction_factor,
            "trial_id": run.trial_id,
        }
    )
    results = train(cfg, run.trial_dir)
    return Fitted(results.get("final_val_top1"), int(results["epochs"]))
