"""What an evaluation keeps of each batch, outside the LightningModule (which only computes and logs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix

from e3dnas.data.annotations import NO_LABEL


class PredictionCollector(L.Callback):
    """The class probabilities each test or validation step returns, with the batch's labels and dataset
    indices, and their confusion matrix (unlabelled videos left out of it)."""

    def __init__(self, num_classes: int):
        self.confusion = MulticlassConfusionMatrix(num_classes, ignore_index=NO_LABEL)
        self.parts: list[tuple[Tensor, Tensor, Tensor]] = []

    def collect(self, probs: Tensor, batch: Mapping[str, Tensor]) -> None:
        probs, labels = probs.detach().float().cpu(), batch["label"].detach().cpu()
        self.parts.append((probs, labels, batch["index"].detach().cpu()))
        self.confusion.update(probs, labels)

    def on_test_batch_end(
        self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int, dataloader_idx=0
    ):
        self.collect(outputs, batch)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int, dataloader_idx=0
    ):
        self.collect(outputs, batch)

    def predictions(self) -> tuple[Tensor, Tensor, Tensor]:
        """(probabilities [N, C], labels [N], dataset indices [N]) of every video evaluated."""
        probs, labels, indices = zip(*self.parts, strict=True)
        return torch.cat(probs), torch.cat(labels), torch.cat(indices)
