"""Counting skipped samples and stopping when too many fail (docs/data.md: log, replace, count; fail clearly
past a threshold).

Workers count into a shared-memory table (one row per process, so no locks); the main process reads it and
checks the failure rate of the current epoch. Each skip is logged by the process that hit it, with its path.
"""

from __future__ import annotations

import logging
from collections import Counter

import torch

from e3dnas.data.annotations import Split
from e3dnas.data.errors import DataError, SampleError

logger = logging.getLogger("e3dnas.data")

#: Reasons a sample fails at load time; column 0 of a counter table counts the samples that loaded.
LOAD_REASONS = ("missing", "empty", "corrupt", "unreadable")
LOG_HINT = "the WARNING lines of logger 'e3dnas.data' (\"skipped <path>: <reason>\") name each file and why"


def _tally(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason}={count}" for reason, count in counts.items() if count)


def log_skip(error: SampleError) -> None:
    logger.warning("skipped %s: %s: %s", error.path, error.reason, error.detail)


def counter_table(processes: int) -> torch.Tensor:
    """Shared int64 table ``[processes, 1 + len(LOAD_REASONS)]``: row 0 the main process, row i worker i-1."""
    return torch.zeros(processes, 1 + len(LOAD_REASONS), dtype=torch.int64).share_memory_()


class FailureMonitor:
    """Totals of every skip (annotation records at setup, samples at load time); the per-epoch rate check."""

    def __init__(self, max_rate: float, min_samples: int) -> None:
        if not 0.0 <= max_rate <= 1.0:
            raise ValueError(f"max_failure_rate must be in [0, 1], got {max_rate}")
        self.max_rate = max_rate
        self.min_samples = min_samples
        self.setup_counts: Counter[str] = Counter()
        self._tables: dict[str, torch.Tensor] = {}
        self._windows: dict[str, tuple[object, torch.Tensor]] = {}  # split → (epoch, totals when it began)
        self._seen: dict[str, torch.Tensor] = {}  # split → totals at the last check

    @property
    def counts(self) -> Counter[str]:
        """Skips by reason, setup and load time together."""
        total = Counter(self.setup_counts)
        for table in self._tables.values():
            for reason, count in zip(LOAD_REASONS, table.sum(0)[1:].tolist(), strict=True):
                total[reason] += count
        return +total

    def add_split(self, name: str, split: Split) -> None:
        """Log and count the records an annotation split skipped; fail when the split is unusable or skips
        more than the allowed share of what it lists."""
        for error in split.skipped:
            log_skip(error)
            self.setup_counts[error.reason] += 1
        skipped, listed = len(split.skipped), split.listed
        if skipped:
            reasons = Counter(error.reason for error in split.skipped)
            logger.warning(
                "%s split: skipped %d of %d listed records (%s)", name, skipped, listed, _tally(reasons)
            )
        if not split.records:
            raise DataError(
                f"{name} split has no usable samples ({listed} listed, {skipped} skipped); {LOG_HINT}"
            )
        self._check(f"{skipped} of {listed} {name} records were skipped at setup", skipped, listed)

    def watch(self, name: str, table: torch.Tensor) -> None:
        """Follow the load-time counter table of dataset ``name`` (see ``counter_table``)."""
        self._tables[name] = table
        self._windows.pop(name, None)
        self._seen[name] = table.sum(0)

    def check(self, name: str, epoch: object) -> None:
        """Raise DataError when the load failures of split ``name`` in ``epoch`` pass the threshold."""
        table = self._tables.get(name)
        if table is None:
            return
        current = table.sum(0)
        if name not in self._windows or self._windows[name][0] != epoch:
            # The epoch began after the previous check: samples the workers loaded since then belong to it.
            self._windows[name] = (epoch, self._seen[name])
        self._seen[name] = current
        delta = current - self._windows[name][1]
        failures, attempts = int(delta[1:].sum()), int(delta.sum())
        reasons = _tally(dict(zip(LOAD_REASONS, delta[1:].tolist(), strict=True)))
        self._check(
            f"{failures} of {attempts} {name} samples failed to load in epoch {epoch} ({reasons})",
            failures,
            attempts,
        )

    def _check(self, what: str, failures: int, attempts: int) -> None:
        if attempts >= self.min_samples and failures > self.max_rate * attempts:
            raise DataError(
                f"{what}: failure rate {failures / attempts:.1%} > max_failure_rate {self.max_rate:.1%};"
                f" {LOG_HINT}"
            )
