"""Per-video predictions, per-class accuracy table and confusion-matrix picture of an evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from e3dnas.atomic import atomic_write_csv
from e3dnas.data.annotations import VideoRecord
from e3dnas.figures import plt, save_png


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


def plot_confusion(
    confusion: MulticlassConfusionMatrix, class_names: list[str], title: str, path: Path
) -> Path:
    """torchmetrics' picture of the confusion matrix (rows: true class); class names and counts in the cells
    only where there are few enough classes to read them."""
    readable = len(class_names) <= 30
    side = min(12.0, 3 + 0.5 * len(class_names))
    fig, ax = plt.subplots(figsize=(side, side))
    confusion.plot(ax=ax, add_text=readable, labels=class_names if readable else None, cmap="Blues")
    ax.tick_params(axis="x", labelrotation=60, labelsize=8)
    ax.tick_params(axis="y", labelrotation=0, labelsize=8)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    ax.set_title(title)
    return save_png(fig, path)
