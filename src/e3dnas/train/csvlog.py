"""A CSV logger that continues a resumed run's ``metrics.csv`` instead of starting it over.

Lightning's CSVLogger deletes the metrics file it finds in its directory, so a training resumed from
``last.ckpt`` (same run dir, same logger version) would keep only the epochs after the restart; kept as it
is, the file would hold twice the steps an interrupted attempt logged past its last checkpoint, so those
rows are dropped when the resume starts (:meth:`ContinuedCSVLogger.drop_rows_after`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from e3dnas.atomic import atomic_write_csv


class ContinuedExperimentWriter(ExperimentWriter):
    """Keeps the rows an earlier attempt wrote; new rows are appended under the same header (widened, and
    the file rewritten, only when a new metric appears)."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = sorted(csv.DictReader(file).fieldnames or [])


class ContinuedCSVLogger(CSVLogger):
    """Lightning's CSVLogger, writing through :class:`ContinuedExperimentWriter`."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuedExperimentWriter(log_dir=self.log_dir)
        return self._experiment

    @rank_zero_only
    def drop_rows_after(self, step: int) -> int:
        """Remove the rows of ``metrics.csv`` logged after ``step`` (the loggers' step a resumed checkpoint
        restores); how many there were. Called before this attempt logs anything."""
        path = Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE
        if not path.is_file():
            return 0
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            header, rows = reader.fieldnames or [], list(reader)
        kept = [row for row in rows if not row.get("step") or int(row["step"]) < step]
        if len(kept) < len(rows):
            atomic_write_csv(path, header, ([row[key] for key in header] for row in kept))
        return len(rows) - len(kept)
