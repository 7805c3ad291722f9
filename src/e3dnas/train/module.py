"""The LightningModule: clip classification with any registered model, single- or multi-view."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from e3dnas.arch import arch_from_dict
from e3dnas.models import build_model, model_options, model_settings, prepare_model
from e3dnas.schema import ConfigValueError, config_errors
from e3dnas.train.optim import ScaledRate, global_batch, param_groups
from e3dnas.train.settings import rate_options

log = logging.getLogger("e3dnas.train")


def accuracy_metrics(num_classes: int, prefix: str) -> MetricCollection:
    metrics = {"top1": MulticlassAccuracy(num_classes, top_k=1, average="micro")}
    if num_classes > 5:
        metrics["top5"] = MulticlassAccuracy(num_classes, top_k=5, average="micro")
    return MetricCollection(metrics, prefix=prefix)


class ClipClassifier(L.LightningModule):
    """Cross-entropy training of ``model`` on clips; test batches carry V views that are averaged.

    Everything needed to rebuild the network (model config, architecture, classes) is a hyperparameter,
    so ``ClipClassifier.load_from_checkpoint(path)`` needs nothing else.
    """

    def __init__(
        self,
        *,
        model: Mapping[str, Any],
        num_classes: int,
        frames: int,
        resolution: int,
        optim: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        decay_norm_and_bias: bool = False,
        label_smoothing: float = 0.0,
        arch: Mapping[str, Any] | None = None,
        class_names: list[str] | None = None,
        dataset: Mapping[str, Any] | None = None,  # the data config it was trained on (evaluate's default)
    ):
        super().__init__()
        self.save_hyperparameters()
        # Built now so that a wrong _target_ fails before fitting: partials awaiting parameters / optimiser.
        # optim.lr is the rate of optim.reference_batch clips per step (not an optimiser argument).
        options, self.base_lr, self.reference_batch = rate_options(optim)
        with config_errors("optim"):
            self.optimizer_factory = instantiate(options)
        self.rate: ScaledRate | None = None  # set by configure_optimizers, once the trainer knows its batch
        with config_errors("scheduler"):
            self.scheduler_factory = instantiate(scheduler) if scheduler else None
        arch_value = arch_from_dict(dict(arch), source="checkpoint arch").arch if arch else None
        settings = model_settings(model)
        network = build_model(
            settings.name,
            arch=arch_value,
            num_classes=num_classes,
            frames=frames,
            resolution=resolution,
            **model_options(model),
        )
        self.channels_last = settings.channels_last_3d
        self.model = prepare_model(network, channels_last_3d=self.channels_last, compile=settings.compile)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        # One clip: Lightning's model summary counts the FLOPs of a forward pass on it (0 without one).
        self.example_input_array = torch.zeros(1, 3, frames, resolution, resolution)
        self.train_metrics = accuracy_metrics(num_classes, "train/")
        self.val_metrics = accuracy_metrics(num_classes, "val/")
        self.test_metrics = accuracy_metrics(num_classes, "test/")

    def forward(self, clips: Tensor) -> Tensor:
        if self.channels_last:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        return self.model(clips)

    def training_step(self, batch: Mapping[str, Tensor], _index: int) -> Tensor:
        logits = self(batch["clip"])
        loss = self.criterion(logits, batch["label"])
        self.train_metrics.update(logits, batch["label"])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(logits))
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, batch_size=len(logits))
        return loss

    def _evaluate(
        self, probs: Tensor, batch: Mapping[str, Tensor], metrics: MetricCollection, loss: Tensor | None
    ) -> Tensor:
        """Log the metrics of one batch; its class probabilities are the step's output (for callbacks)."""
        labels = batch["label"]
        metrics.update(probs, labels)
        if loss is not None:
            self.log(f"{metrics.prefix}loss", loss, batch_size=len(labels), sync_dist=True)
        self.log_dict(metrics, prog_bar=True, batch_size=len(labels))
        return probs

    def validation_step(self, batch: Mapping[str, Tensor], _index: int) -> Tensor:
        logits = self(batch["clip"])
        loss = self.criterion(logits, batch["label"])
        return self._evaluate(logits.softmax(-1), batch, self.val_metrics, loss)

    def test_step(self, batch: Mapping[str, Tensor], _index: int) -> Tensor:
        """Average the softmax of the V views (clips × crops) of each video."""
        clips = batch["clip"]
        views = clips.shape[1] if clips.ndim == 6 else 1
        flat = clips.flatten(0, 1) if clips.ndim == 6 else clips
        probs = self(flat).softmax(-1).view(-1, views, self.hparams.num_classes).mean(1)
        return self._evaluate(probs, batch, self.test_metrics, None)

    def per_device_batch(self) -> int:
        """Clips per device and step: the data module's batch, else the recorded data config's."""
        batch = getattr(self.trainer.datamodule, "batch_size", None)
        if batch is None:
            batch = (self.hparams.dataset or {}).get("batch_size")
        if batch is None:
            raise ConfigValueError(
                "optim.reference_batch: the per-device batch size is unknown (no dataset config)"
            )
        return int(batch)

    def scaled_rate(self) -> ScaledRate:
        """``optim.lr`` scaled linearly from ``optim.reference_batch`` to the clips of one optimiser step."""
        trainer = self.trainer
        batch = global_batch(self.per_device_batch(), trainer.world_size, trainer.accumulate_grad_batches)
        return ScaledRate(self.base_lr, self.reference_batch, batch)

    def configure_optimizers(self):
        """The configured optimiser over :func:`param_groups`, at :meth:`scaled_rate` (logged once, recorded
        in the loggers' hyperparameters); the scheduler, if any, is called with the optimiser and the run's
        length in steps (``total_steps``, ``steps_per_epoch``), stepped per step."""
        self.rate = self.scaled_rate()
        if self.trainer.is_global_zero:
            log.info("%s", self.rate.describe())
        for logger in self.trainer.loggers:
            logger.log_hyperparams({"lr_scaling": self.rate.as_dict()})
        groups = param_groups(self.model, self.hparams.decay_norm_and_bias)
        optimizer = self.optimizer_factory(groups, lr=self.rate.lr)
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        epochs = self.trainer.max_epochs
        if epochs is not None and epochs >= 1:
            per_epoch = max(1, total // epochs)
        else:  # no epoch limit (-1, bounded by trainer.max_steps): the steps of one pass over the data
            per_epoch = max(1, int(self.trainer.num_training_batches) // self.trainer.accumulate_grad_batches)
        scheduler = self.scheduler_factory(optimizer, total_steps=total, steps_per_epoch=per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
