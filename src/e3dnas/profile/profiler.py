"""Measure a latency table: every planned op point, then a few whole networks to calibrate the sum.

Every timing is taken ``timing.rounds`` times, in separate passes over all of them, and the lowest kept:
this machine's speed drifts by ±15 % over seconds (other tenants of its host), and a pass minutes later
rarely hits the same slow spell.

Resumable: each timing goes into a cache file beside the table as soon as it is taken (rewritten
atomically every few seconds and on interruption); a rerun with the same settings times only what is
missing, a rerun with other settings is refused, naming them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from e3dnas.arch import Arch, ArchBatch
from e3dnas.atomic import atomic_write_text
from e3dnas.budget import Budget
from e3dnas.errors import E3DError
from e3dnas.latency.calibrate import fit_calibration
from e3dnas.latency.guard import LoadGuard
from e3dnas.latency.modules import op_module
from e3dnas.latency.plan import PlannedEntry, plan
from e3dnas.latency.predict import LatencyPredictor
from e3dnas.latency.table import LatencyTable, TableEntry, skeleton_to_dict
from e3dnas.latency.timing import DeviceSettings, TimingSettings, network_ms, time_ms
from e3dnas.profile.sample import genes_key, sample_archs
from e3dnas.space import SearchSpace

#: Networks sampled to choose the calibration networks from.
CALIBRATION_POOL = 128


class ProfileError(E3DError, ValueError):
    """The cache was written under other settings; the message names them."""


@dataclass(frozen=True)
class ProfileSettings:
    """What the table covers: grid spacing and how many whole networks calibrate it."""

    grid_ratio: float = 1.5
    calibration_networks: int = 12
    calibration_seed: int = 0

    def __post_init__(self) -> None:
        ratio = self.grid_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio <= 1:
            raise ProfileError(f"grid_ratio must be a number > 1, got {ratio!r}")
        networks = self.calibration_networks
        if (
            isinstance(networks, bool)
            or not isinstance(networks, int)
            or not 3 <= networks <= CALIBRATION_POOL
        ):
            raise ProfileError(
                f"calibration.networks must be an integer in 3..{CALIBRATION_POOL}, got {networks!r}"
            )


@dataclass
class Cache:
    """Timings taken so far (one per round), keyed by op point or network, under one header of settings."""

    path: Path
    header: dict[str, Any]
    timings: dict[str, list[float]] = field(default_factory=dict)
    flush_every: float = 5.0
    _flushed: float = field(default_factory=time.monotonic)

    @classmethod
    def open(cls, path: Path, header: dict[str, Any]) -> Cache:
        header = json.loads(json.dumps(header))  # as it will read back: tuples as lists
        if not path.exists():
            return cls(path, header)
        saved = json.loads(path.read_text())
        differing = sorted(
            k for k in header.keys() | saved["header"].keys() if header.get(k) != saved["header"].get(k)
        )
        if differing:
            shown = "; ".join(f"{k}: cache {saved['header'].get(k)}, now {header.get(k)}" for k in differing)
            raise ProfileError(
                f"{path} holds timings under other settings ({shown}); delete it to start again, or "
                "profile into another directory (hydra.run.dir=...)"
            )
        return cls(path, header, saved["timings"])

    def record(self, key: str, ms: float) -> None:
        self.timings.setdefault(key, []).append(ms)
        if time.monotonic() - self._flushed >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        atomic_write_text(self.path, json.dumps({"header": self.header, "timings": self.timings}))
        self._flushed = time.monotonic()


def op_key(planned: PlannedEntry, point: tuple[int, ...]) -> str:
    return f"{planned.entry.name}:{','.join(map(str, point))}"


def network_key(arch: Arch) -> str:
    return f"network:{genes_key(arch)}"


def measure(
    jobs: list[tuple[str, Callable[[], float]]],
    rounds: int,
    cache: Cache,
    guard: LoadGuard,
    progress: bool,
    desc: str,
) -> dict[str, float]:
    """Run each timing job (key, callable → ms) ``rounds`` times, a pass over all jobs per round, skipping
    what ``cache`` holds; the lowest of each job's rounds."""
    done = sum(min(len(cache.timings.get(key, [])), rounds) for key, _ in jobs)
    with tqdm(total=rounds * len(jobs), initial=done, desc=desc, disable=not progress) as bar:
        for round_ in range(1, rounds + 1):
            for key, job in jobs:
                if len(cache.timings.get(key, [])) < round_:
                    cache.record(key, guard.measure(job))
                    bar.update()
                    bar.set_postfix(retaken=guard.retaken, contended=guard.contended, refresh=False)
    return {key: min(cache.timings[key][:rounds]) for key, _ in jobs}


def profile(
    space: SearchSpace,
    budget: Budget,
    device: DeviceSettings,
    timing: TimingSettings,
    settings: ProfileSettings,
    cache_path: Path,
    progress: bool = True,
) -> LatencyTable:
    """Time every op point ``space`` needs at ``budget``'s input size and FLOPs cap, then calibrate on
    ``settings.calibration_networks`` networks within ``budget`` (:func:`calibration_set`). Interrupting
    (Ctrl-C) leaves the cache flushed; the same call again continues from it."""
    sk = space.skeleton
    planned = plan(space, budget.flops, settings.grid_ratio)
    space_info = {
        "budget": budget.name,
        "flops_cap": budget.flops,
        "grid_ratio": settings.grid_ratio,
        "channel_multiple": space.channel_multiple,
        "kernels": [list(k) for k in space.kernels],
    }
    header = {
        "device": device.describe(),
        "timing": timing.describe(),
        "skeleton": skeleton_to_dict(sk),
        "space": space_info,
        "calibration": {"networks": settings.calibration_networks, "seed": settings.calibration_seed},
    }
    cache = Cache.open(cache_path, header)
    device.activate()
    guard = LoadGuard(device, timing)

    def op_job(p: PlannedEntry, point: tuple[int, ...]) -> Callable[[], float]:
        return lambda: time_ms(*op_module(p.entry, point, sk), device, timing)

    try:
        jobs = [(op_key(p, point), op_job(p, point)) for p in planned for point in p.points()]
        timed = measure(jobs, timing.rounds, cache, guard, progress, f"ops {budget.name} ({device.device})")
        entries = {}
        for p in planned:
            ms = np.full(p.needed.shape, np.nan)
            for index, point in zip(np.argwhere(p.needed), p.points(), strict=True):
                ms[tuple(index)] = timed[op_key(p, point)]
            entries[p.entry.name] = TableEntry(p.entry, p.grid, ms)
        table = LatencyTable(
            device=header["device"],
            timing=header["timing"] | {"retaken": guard.retaken, "contended": guard.contended},
            skeleton=sk,
            space=space_info,
            entries=entries,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        batch, ops = calibration_set(table, space, budget, settings)
        archs = [batch.arch(i) for i in range(len(batch))]
        nets = [(network_key(a), lambda a=a: network_ms(a, device, timing)) for a in archs]
        measured = measure(nets, timing.rounds, cache, guard, progress, "calibration networks")
    finally:
        cache.flush()
    calibration = fit_calibration(
        ops,
        batch.column("depth").sum(axis=1),
        np.array([measured[network_key(a)] for a in archs]),
        [genes_key(a) for a in archs],
    )
    return replace(table, calibration=calibration)


def calibration_set(
    table: LatencyTable, space: SearchSpace, budget: Budget, settings: ProfileSettings
) -> tuple[ArchBatch, np.ndarray]:
    """The networks to time whole, and their Σ op ms: from ``CALIBRATION_POOL`` networks sampled within
    ``budget``, those at evenly spaced ranks of (blocks, Σ op ms), so that the fit sees shallow and deep,
    light and heavy networks (random walks rarely reach the deepest, where searches end up); networks with
    an op the table lacks are left out."""
    pool = ArchBatch.from_archs(sample_archs(space, budget, CALIBRATION_POOL, settings.calibration_seed))
    ops = LatencyPredictor(table).ops_ms(pool)
    known = np.flatnonzero(np.isfinite(ops))
    order = known[np.lexsort((ops[known], pool.column("depth").sum(axis=1)[known]))]
    chosen = order[
        np.unique(np.linspace(0, len(order) - 1, settings.calibration_networks).round().astype(int))
    ]
    return ArchBatch(pool.skeleton, pool.genes[chosen]), ops[chosen]
