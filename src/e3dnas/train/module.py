"""The LightningModule: clip classification with any registered model, single- or multi-view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from e3dnas.arch import arch_from_dict
from e3dnas.models import build_model, model_options, prepare_model
from e3dnas.train.optim import build_optimizer, check_optimizer, warmup_cosine


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
        label_smoothing: float = 0.0,
        arch: Mapping[str, Any] | None = None,
        class_names: list[str] | None = None,
        dataset: Mapping[str, Any] | None = None,  # the data config it was trained on (evaluate's default)
    ):
        super().__init__()
        self.save_hyperparameters()
        check_optimizer(optim["name"])
        arch_value = arch_from_dict(dict(arch), source="checkpoint arch").arch if arch else None
        network = build_model(
            model["name"],
            arch=arch_value,
            num_classes=num_classes,
            frames=frames,
            resolution=resolution,
            **model_options(model),
        )
        self.channels_last = bool(model.get("channels_last_3d", False))
        self.model = prepare_model(
            network, channels_last_3d=self.channels_last, compile=model.get("compile", False)
        )
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.train_metrics = accuracy_metrics(num_classes, "train/")
        self.val_metrics = accuracy_metrics(num_classes, "val/")
        self.test_metrics = accuracy_metrics(num_classes, "test/")
        self.collect_predictions = False
        #: With ``collect_predictions``: (probabilities, labels, dataset indices) of every evaluated batch.
        self.predictions: list[tuple[Tensor, Tensor, Tensor]] = []

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
    ) -> None:
        labels = batch["label"]
        metrics.update(probs, labels)
        stage = metrics.prefix
        if loss is not None:
            self.log(f"{stage}loss", loss, batch_size=len(labels), sync_dist=True)
        self.log_dict(metrics, prog_bar=True, batch_size=len(labels))
        if self.collect_predictions:
            index = batch["index"].detach().cpu()
            self.predictions.append((probs.detach().float().cpu(), labels.detach().cpu(), index))

    def validation_step(self, batch: Mapping[str, Tensor], _index: int) -> None:
        logits = self(batch["clip"])
        loss = self.criterion(logits, batch["label"])
        self._evaluate(logits.softmax(-1), batch, self.val_metrics, loss)

    def test_step(self, batch: Mapping[str, Tensor], _index: int) -> None:
        """Average the softmax of the V views (clips × crops) of each video."""
        clips = batch["clip"]
        views = clips.shape[1] if clips.ndim == 6 else 1
        flat = clips.flatten(0, 1) if clips.ndim == 6 else clips
        probs = self(flat).softmax(-1).view(-1, views, self.hparams.num_classes).mean(1)
        self._evaluate(probs, batch, self.test_metrics, None)

    def configure_optimizers(self):
        cfg = self.hparams.optim
        optimizer = build_optimizer(self.model, cfg)
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1))
        warmup = int(cfg.get("warmup_epochs", 0) * per_epoch)
        factor = warmup_cosine(total, warmup, cfg.get("min_lr", 0.0) / cfg["lr"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
