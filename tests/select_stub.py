"""A stub ``select.fit`` for tests/test_select.py: known learning curves instead of training.

Each finalist's accuracy after each epoch comes from ``E3DNAS_TEST_CURVES`` (JSON ``{name: [acc of epoch 1,
…]}``; a finalist not listed learns ``0.5 - 0.01 × its index + 0.001 × epoch``). Like a real training it keeps
a checkpoint (``<trial dir>/epoch``: the epochs done) and resumes from it, and it logs each epoch it trains
(``trained.log``: epoch and process id). With ``E3DNAS_TEST_GATE=<dir>`` an epoch (from
``E3DNAS_TEST_GATE_EPOCH``, default 1) first waits until ``<dir>/open`` exists, after writing
``<dir>/<finalist>-<epoch>-<pid>`` (where a test sees it running).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from e3dnas.select.fit import Fitted, TrialRun


def accuracy(name: str, epoch: int) -> float:
    curves = json.loads(os.environ.get("E3DNAS_TEST_CURVES") or "{}")
    if name in curves:
        return float(curves[name][epoch - 1])
    return 0.5 - 0.01 * int(name[1:]) + 0.001 * epoch


def wait_for_gate(name: str, epoch: int) -> None:
    gate = os.environ.get("E3DNAS_TEST_GATE")
    if not gate or epoch < int(os.environ.get("E3DNAS_TEST_GATE_EPOCH", "1")):
        return
    (Path(gate) / f"{name}-{epoch}-{os.getpid()}").touch()
    deadline = time.monotonic() + 900
    while not (Path(gate) / "open").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{gate}/open never appeared")
        time.sleep(0.05)


def fit(run: TrialRun) -> Fitted:
    run.trial_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run.trial_dir / "epoch"
    done = int(checkpoint.read_text()) if checkpoint.exists() else 0
    name, reporter = run.finalist.name, run.reporter()
    for epoch in range(done + 1, run.max_epochs + 1):
        wait_for_gate(name, epoch)
        with open(run.trial_dir / "trained.log", "a") as log:
            log.write(f"{epoch} {os.getpid()}\n")
        checkpoint.write_text(str(epoch))
        if reporter.report(epoch, accuracy(name, epoch)):
            return Fitted(accuracy(name, epoch), epoch)
    return Fitted(accuracy(name, run.max_epochs), run.max_epochs)
