"""A training's wandb run: joined to its search, resumed across restarts, with model cost and checkpoint.

:class:`TrackedWandbLogger` is Lightning's WandbLogger plus, once the run is open (on rank zero):

* lineage: when the architecture file came from a logged search (``meta.source.wandb.artifact``), the run
  declares that artifact version as its input. Online it is looked up by ``name:alias``; offline (where
  wandb refuses ``use_artifact``) and when the search's run is not synced yet, the file itself is declared
  as a use of the artifact of that name, which wandb stores by content: the unmodified best.yaml is the
  very version the search logged;
* summaries: ``val/top1`` and ``val/top5`` keep their maximum, losses their minimum;
* model cost: ``model/params`` (all trainable parameters) and ``model/flops_conv_macs`` per clip at the
  training input, for every model: E3D's closed form (plus ``model/flops_authors``), fvcore's conv count
  for the others (X3D), traced once at the start of fitting;
* with ``logger.wandb.log_checkpoint=true``, the best checkpoint as a ``model`` artifact at the end of
  fitting (``model-<run id>``, aliases ``best`` and ``latest``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)

#: Summary aggregation of the metrics the module logs.
METRIC_SUMMARIES = {
    "val/top1": "max",
    "val/top5": "max",
    "val/loss": "min",
    "train/top1": "max",
    "train/loss": "min",
}


def conv_flops(model: torch.nn.Module, frames: int, resolution: int) -> tuple[float, float]:
    """fvcore's (conv MACs, total) of one 1×3×T×R×R clip through ``model`` (the search's conv_macs
    convention, and fvcore's count of every op it knows)."""
    from fvcore.nn import FlopCountAnalysis

    model = getattr(model, "_orig_mod", model)  # torch.compile's wrapper
    device = next(model.parameters()).device
    clip = torch.zeros(1, 3, frames, resolution, resolution, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            counter = FlopCountAnalysis(model, clip)
            counter.unsupported_ops_warnings(False)
            counter.uncalled_modules_warnings(False)
            by_operator = counter.by_operator()
            return float(by_operator.get("conv", 0)), float(counter.total())
    finally:
        model.train(was_training)


class TrackedWandbLogger(WandbLogger):
    def __init__(
        self,
        *,
        arch_file: str | None = None,
        lineage: Mapping[str, Any] | None = None,
        arch_cost: Mapping[str, Any] | None = None,
        log_checkpoint: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self._arch_file = arch_file
        self._lineage = dict(lineage or {})
        self._arch_cost = dict(arch_cost or {})
        self._log_checkpoint = log_checkpoint
        self._prepared = False
        self._logged_checkpoints: set[str] = set()
        self._best_callback: ModelCheckpoint | None = None

    @property
    def experiment(self):
        """The run; never another one left open in this process (Lightning would adopt it)."""
        if self._experiment is None and rank_zero_only.rank == 0:
            import wandb

            if wandb.run is not None and wandb.run.id != self._wandb_init.get("id"):
                wandb.run.finish()
        return super().experiment

    @rank_zero_only
    def log_graph(self, model: torch.nn.Module, input_array: torch.Tensor | None = None) -> None:
        """Called by the Trainer as each stage starts: set the run up once (lineage, summaries, cost)."""
        if self._prepared:
            return
        self._prepared = True
        run = self.experiment
        for name, summary in METRIC_SUMMARIES.items():
            run.define_metric(name, step_metric="trainer/global_step", summary=summary)
        self._declare_arch_input(run)
        run.summary.update(self._model_cost(model))

    def _model_cost(self, module: torch.nn.Module) -> dict[str, float]:
        network = getattr(module, "model", module)
        cost = {"model/params_total": sum(p.numel() for p in network.parameters())}  # as results.json
        if self._arch_cost.get("flops") is not None:
            cost |= {
                "model/flops_conv_macs": float(self._arch_cost["flops"]),
                "model/flops_authors": float(self._arch_cost["authors_flops"]),
                "model/params_backbone": self._arch_cost["params_backbone"],
            }
        else:
            hparams = getattr(module, "hparams", {})
            frames, resolution = hparams.get("frames"), hparams.get("resolution")
            if frames and resolution:
                macs, total = conv_flops(network, frames, resolution)
                cost |= {"model/flops_conv_macs": macs, "model/flops_fvcore_total": total}
        return cost

    def _declare_arch_input(self, run) -> None:
        reference = self._lineage.get("artifact")
        if not reference or not self._arch_file or not Path(self._arch_file).is_file():
            return
        import wandb

        name = reference.split(":")[0]
        if not run.settings._offline:
            project = self._lineage.get("project")
            entity = self._lineage.get("entity")
            qualified = reference
            if project and project != run.project:
                qualified = f"{entity + '/' if entity else ''}{project}/{reference}"
            try:
                run.use_artifact(qualified, type="architecture")
                return
            except Exception as err:  # not found: the search's offline run is not synced (yet)
                log.warning("wandb: artifact %s not found (%s); declaring the file itself", qualified, err)
        artifact = wandb.Artifact(name, type="architecture", metadata={"search_artifact": reference})
        artifact.add_file(str(self._arch_file), name="best.yaml")
        if not run.offline:
            run.use_artifact(artifact)
            return
        # Offline, run.use_artifact refuses; what it does internally for a new artifact (log it "to use
        # after commit", replayed by `wandb sync`) is a private call, so a wandb without it costs only the
        # lineage link, never the training.
        try:
            run._log_artifact(artifact, is_user_created=True, use_after_commit=True)
        except (AttributeError, TypeError) as err:
            log.warning("wandb: cannot declare %s as this run's input offline (%s)", name, err)

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        super().after_save_checkpoint(checkpoint_callback)
        if checkpoint_callback.monitor is not None:
            self._best_callback = checkpoint_callback

    @rank_zero_only
    def finalize(self, status: str) -> None:
        super().finalize(status)
        callback = self._best_callback
        if status != "success" or not self._log_checkpoint or callback is None or self._experiment is None:
            return
        best = callback.best_model_path
        if not best or best in self._logged_checkpoints or not Path(best).is_file():
            return
        import wandb

        score = callback.best_model_score
        artifact = wandb.Artifact(
            f"model-{self.experiment.id}",
            type="model",
            metadata={
                "monitor": callback.monitor,
                "score": float(score) if score is not None else None,
                "file": Path(best).name,
                "search_artifact": self._lineage.get("artifact"),
            },
        )
        artifact.add_file(best, name=Path(best).name)
        self.experiment.log_artifact(artifact, aliases=["best", "latest"])
        self._logged_checkpoints.add(best)


def finish_tracking(loggers: list, results: Mapping[str, Any]) -> None:
    """End of a training: its results in the wandb summary (``results/<key>``), then the run finished,
    so a later run in this process starts its own."""
    for logger in loggers:
        if (
            isinstance(logger, TrackedWandbLogger)
            and logger._experiment is not None
            and rank_zero_only.rank == 0
        ):
            scalars = {
                f"results/{key}": value
                for key, value in results.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            }
            logger.experiment.summary.update(scalars)
            logger.experiment.finish()
