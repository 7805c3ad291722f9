"""A CSV logger that continues a resumed run's ``metrics.csv`` instead of starting it over.

Lightning's CSVLogger deletes the metrics file it finds in its directory, so a training resumed from
``last.ckpt`` (same run dir, same logger version) would keep only the epochs after the restart.
"""

from __future__ import annotations

import csv

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


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
