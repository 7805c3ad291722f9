"""The finalists of a search: its population's best distinct networks near the budget, kept diverse.

A search run dir holds its whole final population (``population.jsonl``: rank, score, FLOPs by counter,
architecture) beside its budget and scorer (``summary.json``); a sweep's dirs are pooled when they share
both, since scores of other scorers or budgets do not compare.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e3dnas.arch import Arch, arch_from_dict
from e3dnas.errors import E3DError


class FinalistError(E3DError, ValueError):
    """A search run dir is missing or unreadable, or holds no network that qualifies; the message says."""


@dataclass(frozen=True)
class Finalist:
    """One network that enters the first rung. ``name`` (``f03``) is its place in score order."""

    name: str
    arch: Arch
    score: float
    flops: float  # in the budget's counter
    params_backbone: int
    search_dir: Path
    search_rank: int

    @property
    def pattern(self) -> str:
        return temporal_pattern(self.arch)

    @property
    def digest(self) -> str:
        return arch_digest(self.arch)


@dataclass(frozen=True)
class Search:
    """What the finalists were drawn from: the run dirs, their budget (as in summary.json) and scorer."""

    dirs: tuple[Path, ...]
    budget: dict[str, Any]
    scorer: str


def temporal_pattern(arch: Arch) -> str:
    """The temporal kernel sizes of the stem and each stage (``1-3-3-1-3-3``): the diversity key, since
    where a network looks across time is what distinguishes video networks of one cost."""
    return "-".join(str(k) for k in (arch.stem.kernel[0], *(s.kernel[0] for s in arch.stages)))


def arch_digest(arch: Arch) -> str:
    from e3dnas.arch import arch_to_dict

    return hashlib.sha256(json.dumps(arch_to_dict(arch), sort_keys=True).encode()).hexdigest()[:12]


def search_dirs(given: Sequence[str]) -> tuple[Path, ...]:
    """Each given dir that is a search run dir, or the run dirs one level below it (a sweep dir)."""
    dirs: list[Path] = []
    for entry in given:
        path = Path(entry)
        if not path.is_dir():
            raise FinalistError(f"run={entry}: no such search run dir")
        if (path / "population.jsonl").exists():
            dirs.append(path)
            continue
        below = sorted(p.parent for p in path.glob("*/population.jsonl"))
        if not below:
            raise FinalistError(
                f"run={entry}: not a search run dir (no population.jsonl here or in its subdirs); "
                "give the dir of a finished python -m e3dnas.search"
            )
        dirs.extend(below)
    return tuple(dirs)


def read_summary(run_dir: Path) -> tuple[dict[str, Any], str]:
    path = run_dir / "summary.json"
    try:
        summary = json.loads(path.read_text())
        return summary["budget"], summary["scorer"]["name"]
    except FileNotFoundError:
        raise FinalistError(f"{path}: missing (the search did not finish)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise FinalistError(f"{path}: not a search summary ({err})") from None


def read_search(given: Sequence[str]) -> tuple[Search, list[dict[str, Any]]]:
    """The searches of ``run=`` and their pooled population records, each with ``search_dir``."""
    dirs = search_dirs(given)
    budget, scorer = read_summary(dirs[0])
    records = []
    for run_dir in dirs:
        other_budget, other_scorer = read_summary(run_dir)
        if (other_budget, other_scorer) != (budget, scorer):
            raise FinalistError(
                f"run: {run_dir} searched budget {other_budget.get('name')} by {other_scorer}, {dirs[0]} "
                f"budget {budget.get('name')} by {scorer}: pool only searches of one budget and scorer"
            )
        path = run_dir / "population.jsonl"
        for line_no, line in enumerate(path.read_text().splitlines(), start=1):
            try:
                record = json.loads(line)
                records.append({**record, "search_dir": run_dir, "line": line_no})
            except json.JSONDecodeError as err:
                raise FinalistError(f"{path}:{line_no}: not JSON ({err.msg})") from None
    return Search(dirs, budget, scorer), records


def choose_finalists(
    search: Search, records: list[dict[str, Any]], count: int, min_fraction: float, per_pattern: int
) -> list[Finalist]:
    """The ``count`` best-scored distinct networks at ≥ ``min_fraction`` of the budget's FLOPs (in its
    counter), at most ``per_pattern`` of each temporal-kernel pattern, in score order."""
    counter, limit = search.budget["counter"], float(search.budget["flops"])
    chosen: list[Finalist] = []
    seen: set[str] = set()
    patterns: Counter[str] = Counter()
    near_budget = 0
    for record in sorted(records, key=lambda r: -float(r["score"])):
        flops = float(record["flops"][counter])
        if flops < min_fraction * limit:
            continue
        near_budget += 1
        source = f"{record['search_dir'] / 'population.jsonl'}:{record['line']}"
        arch = arch_from_dict(record["arch"], source=source).arch
        digest = arch_digest(arch)
        pattern = temporal_pattern(arch)
        if digest in seen or patterns[pattern] >= per_pattern:
            continue
        seen.add(digest)
        patterns[pattern] += 1
        chosen.append(
            Finalist(
                name=f"f{len(chosen):02d}",
                arch=arch,
                score=float(record["score"]),
                flops=flops,
                # population files from before params were named hold "params", the backbone's too
                params_backbone=int(record.get("params_backbone", record.get("params"))),
                search_dir=record["search_dir"],
                search_rank=int(record["rank"]),
            )
        )
        if len(chosen) == count:
            break
    if not chosen:
        raise FinalistError(
            f"run: no finalist: none of the {len(records)} networks of the search population costs "
            f"≥ {min_fraction:g} × {limit / 1e9:.3g} GFLOPs ({counter}); lower select.min_budget_fraction"
        )
    return chosen
