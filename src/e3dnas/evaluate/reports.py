"""Per-video predictions, per-class accuracy table and confusion-matrix picture of an evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from e3dnas.atomic import atomic_write_csv
from e3dnas.data.annotations import VideoRecord
from e3dnas.figures import plt, save_png


def confusion(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts, rows = true class, columns = predicted class."""
    return multiclass_confusion_matrix(probs.argmax(-1), labels, num_classes)


def write_per_class_csv(matrix: torch.Tensor, class_names: list[str], path: Path) -> Path:
    rows = []
    for i, name in enumerate(class_names):
        support, correct = int(matrix[i].sum()), int(matrix[i, i])
        rows.append([i, name, support, correct, f"{correct / support:.4f}" if support else ""])
    return atomic_write_csv(path, ["class_index", "class_name", "support", "correct", "top1"], rows)


def write_predictions_csv(
    probs: torch.Tensor,
    labels: torch.Tensor,
    indices: torch.Tensor,
    records: Sequence[VideoRecord],
    class_names: list[str],
    path: Path,
    top: int = 5,
) -> Path:
    """One row per evaluated video (``indices`` into ``records``): true and predicted class, then the ``top``
    classes with their probabilities (the view-averaged softmax the metrics use), for error analysis. A video
    that failed to load is replaced by the next one, in these rows as in the metrics."""
    k = min(top, probs.shape[1])
    top_probs, top_classes = probs.topk(k, dim=1)
    header = ["video_id", "path", "label", "label_name", "predicted", "predicted_name"]
    header += [column for rank in range(1, k + 1) for column in (f"top{rank}_class", f"top{rank}_prob")]
    rows = []
    for row, (label, index) in enumerate(zip(labels.tolist(), indices.tolist(), strict=True)):
        record, predicted = records[index], int(probs[row].argmax())
        pairs = zip(top_classes[row].tolist(), top_probs[row].tolist(), strict=True)
        ranked = [value for c, p in pairs for value in (c, f"{p:.6f}")]
        name = class_names[label] if label >= 0 else ""
        rows.append([record.video_id, record.path, label, name, predicted, class_names[predicted], *ranked])
    return atomic_write_csv(path, header, rows)


def plot_confusion(matrix: torch.Tensor, class_names: list[str], title: str, path: Path) -> Path:
    """Row-normalised confusion matrix; class names on the axes when there are few enough to read."""
    rows = matrix.float() / matrix.sum(1, keepdim=True).clamp(min=1)
    n = len(class_names)
    size = min(12.0, 3 + 0.5 * n)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046)
    if n <= 30:
        ax.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), class_names, fontsize=8)
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    color = "white" if rows[i, j] > 0.5 else "black"
                    ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save_png(fig, path)
