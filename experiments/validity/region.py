"""Where the search decides: networks drawn from the top of what a search visits near the budget.

The first two samples (sample.py) span everything a search visits, and none of their 48 networks lies in the
top 1 % of STEntr the search chooses from. These samples are drawn from a search's own decision region: its
distinct admitted children at ≥ ``MIN_BUDGET_FRACTION`` of the FLOPs budget whose score (the search's own)
is in the top ``TOP_FRACTION`` of those, or its top ``count`` where the region holds fewer. One network is
drawn from each of ``count`` equal-count score strata of the region (sample.stratified), so that the sample
covers the region from its edge to its top. Three searches, one per region: by STEntr (the same 100k-candidate
run as the first samples), by #params (100k candidates) and by Zen-score (a proxy builds every candidate,
so its search visits ``ZEN_ITERATIONS``). A network already drawn for an earlier region is not drawn again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from e3dnas.arch import ArchBatch, load_arch, save_arch
from e3dnas.atomic import atomic_write_text
from e3dnas.budget import Budget
from e3dnas.scores import ScorerSpec
from e3dnas.search import SearchSettings
from e3dnas.space import SearchSpace
from experiments.validity.ledger import log
from experiments.validity.sample import stratum_picks, visited

#: The tasks the regions' networks are trained on.
REGION_TASKS = ("camera",)
TOP_FRACTION = 0.05
MIN_BUDGET_FRACTION = 0.9
#: Candidates of the Zen-score search (about 0.3 s each on one CPU core; 4× the winners' proxy search).
ZEN_ITERATIONS = 1024


@dataclass(frozen=True)
class Region:
    """One search's decision region and how many networks the study draws from it."""

    scorer: str
    count: int
    settings: SearchSettings

    @property
    def sample(self) -> str:
        return f"top-{self.scorer}"

    def ids(self) -> list[str]:
        return [f"{self.sample}-{i:03d}" for i in range(self.count)]


REGIONS = (
    Region("stentr", 100, SearchSettings(iterations=100_000, seed=0)),
    Region("params", 20, SearchSettings(iterations=100_000, seed=0)),
    Region("zen", 20, SearchSettings(iterations=ZEN_ITERATIONS, population=32, batch=16, seed=0)),
)


def top_region(
    score: np.ndarray, flops: np.ndarray, budget: Budget, count: int, taken: np.ndarray
) -> np.ndarray:
    """Indices of the children at ≥ 90 % of the budget in the top 5 % of ``score`` (at least ``count``),
    best first, less those ``taken`` (a mask: drawn already)."""
    near = np.flatnonzero(flops >= MIN_BUDGET_FRACTION * budget.flops)
    ranked = near[np.argsort(-score[near], kind="stable")]
    return ranked[~taken[ranked]][: max(int(np.ceil(TOP_FRACTION * len(near))), count)]


def region_archs(
    space: SearchSpace,
    budget: Budget,
    results: Path,
    earlier: list[Path],
    scorers: list[str],
    draw_missing: bool,
) -> dict[str, Path]:
    """The networks of the regions of ``scorers`` by id (``top-stentr-000`` …), each region drawn once and
    then read from results/archs/; none is one of the ``earlier`` samples' or an earlier region's (in
    REGIONS' order), so a region added later draws the same networks as one drawn with the others. A
    region not drawn yet is left out unless ``draw_missing``.
    ``results/archs/regions.json`` records each search's visited count, region size and score range."""
    folder = results / "archs"
    record = folder / "regions.json"
    provenance = json.loads(record.read_text()) if record.exists() else {}
    drawn = {genes_of(path) for path in earlier}
    paths: dict[str, Path] = {}
    for region in REGIONS:
        files = {arch_id: folder / f"{arch_id}.yaml" for arch_id in region.ids()}
        if not all(path.exists() for path in files.values()):
            if region.scorer not in scorers or not draw_missing:
                continue
            provenance[region.sample] = draw(region, space, budget, drawn, files)
            atomic_write_text(record, json.dumps(provenance, indent=1))
        drawn |= {genes_of(path) for path in files.values()}
        if region.scorer in scorers:
            paths |= files
    return paths


def genes_of(path: Path) -> bytes:
    return ArchBatch.from_archs([load_arch(path)]).genes[0].tobytes()


def draw(
    region: Region, space: SearchSpace, budget: Budget, drawn: set[bytes], files: dict[str, Path]
) -> dict:
    """Search by the region's scorer, draw its networks into ``files``; what regions.json says of it."""
    log(f"{region.sample}: a {region.settings.iterations}-candidate search by {region.scorer}")
    batch, score, flops = visited(space, budget, ScorerSpec(region.scorer), region.settings)
    taken = np.array([genes.tobytes() in drawn for genes in batch.genes])
    members = top_region(score, flops, budget, region.count, taken)
    picks = members[stratum_picks(score[members], region.count, seed=0)]
    for path, i in zip(files.values(), picks, strict=True):
        save_arch(path, batch.arch(int(i)), name=f"validity-{path.stem}")
    return {
        "visited": len(batch),
        "near_budget": int((flops >= MIN_BUDGET_FRACTION * budget.flops).sum()),
        "region": len(members),
        "score_min": float(score[members].min()),
        "score_max": float(score[members].max()),
        "search_best": float(score.max()),
    }
