"""What the study has measured, one CSV row per measurement, and the pool that measures the rest.

The ledgers live beside the results and are committed with them: a training or a proxy score that is in a
ledger is never redone, on this machine or another, so the study can be continued across sessions.
Each ledger is rewritten atomically after every row, so a killed study loses at most the jobs in flight.
"""

from __future__ import annotations

import csv
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from e3dnas.atomic import atomic_write_csv


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Ledger:
    """Rows of ``columns`` keyed by the values of ``key`` columns (read back as strings)."""

    def __init__(self, path: Path, columns: Sequence[str], key: Sequence[str]):
        self.path, self.columns, self.key = path, list(columns), list(key)
        self.rows: list[dict[str, str]] = []
        if path.exists():
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                found = reader.fieldnames or []
                if found != self.columns[: len(found)] or not set(self.key) <= set(found):
                    raise SystemExit(f"{path}: columns {found}, expected {self.columns}")
                # A ledger from before a column was added: its rows have that column empty.
                self.rows = [{c: row.get(c) or "" for c in self.columns} for row in reader]

    def key_of(self, row: dict) -> tuple[str, ...]:
        return tuple(str(row[k]) for k in self.key)

    def has(self, *key: object) -> bool:
        return tuple(map(str, key)) in {self.key_of(row) for row in self.rows}

    def add(self, row: dict) -> None:
        self.rows.append({c: str(row[c]) for c in self.columns})
        self.rows.sort(key=self.key_of)
        atomic_write_csv(self.path, self.columns, [[row[c] for c in self.columns] for row in self.rows])


@dataclass
class Job:
    """One command whose output ``collect`` (given the job's wall seconds) turns into ledger rows once it
    has succeeded."""

    label: str
    command: list[str]
    collect: Callable[[float], None]
    cwd: Path
    #: Collect even when the command fails: a sweep whose other trainings finished keeps them.
    partial: bool = False


def run_jobs(jobs: Iterable[Job], slots: int, threads: int) -> int:
    """Run ``jobs`` ``slots`` at a time, each with ``threads`` torch/OpenMP threads; collect each as it ends.

    A failed job is reported with its output's tail and the others go on; returns the number of failures.
    """
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": str(threads)}
    env["MKL_NUM_THREADS"] = str(threads)
    pending = list(jobs)
    failures = 0

    def execute(job: Job) -> subprocess.CompletedProcess:
        return subprocess.run(job.command, cwd=job.cwd, env=env, capture_output=True, text=True)

    with ThreadPoolExecutor(slots) as pool:
        running: dict[Future, tuple[Job, float]] = {}
        total = len(pending)
        done = 0
        while pending or running:
            while pending and len(running) < slots:
                job = pending.pop(0)
                running[pool.submit(execute, job)] = (job, time.perf_counter())
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                job, started = running.pop(future)
                result = future.result()
                done += 1
                seconds = time.perf_counter() - started
                if result.returncode == 0:
                    job.collect(seconds)
                    log(f"{done}/{total} {job.label} ({seconds:.0f} s)")
                else:
                    failures += 1
                    if job.partial:
                        job.collect(seconds)
                    tail = (result.stdout[-1500:] + result.stderr[-1500:]).strip()
                    log(f"{done}/{total} FAILED {job.label} (exit {result.returncode}):\n{tail}")
    return failures
