"""``python -m e3dnas.search +budget=NAME``: compose the config, run the search, write the outputs."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig, OmegaConf

from e3dnas import cost, scores
from e3dnas.arch import ArchBatch, ArchError
from e3dnas.arch.released import RELEASED, released_arch
from e3dnas.cli import (
    CONF_DIR,
    budget_dir,
    check_group_choices,
    composed_budget,
    fail,
    group_options,
    start_run,
)
from e3dnas.figures import save_png
from e3dnas.scores import ScorerError
from e3dnas.search.budget import Budget, BudgetError
from e3dnas.search.evolution import ResumeError, ScorerSpec, SearchSettings, SettingsError
from e3dnas.search.islands import run_search
from e3dnas.search.outputs import population_archs, write_outputs
from e3dnas.search.plots import latency_pareto_figure, pareto_figure, plot_convergence
from e3dnas.space import SearchSpace, SpaceError

if TYPE_CHECKING:
    from e3dnas.latency.predict import LatencyPredictor
    from e3dnas.search.tracking import SearchTracker


def released_references(
    scorer: ScorerSpec, budget: Budget, latency: LatencyPredictor | None = None
) -> dict[str, tuple[float, float]]:
    """(FLOPs in the budget's count, score) of each released network at the search's input size; with
    ``latency``, (predicted ms, score) instead."""
    refs = {}
    for name in RELEASED:
        arch = released_arch(name).arch.with_input(budget.frames, budget.resolution)
        x = cost.cost(arch).flops_by(budget.counter) if latency is None else latency.predict_arch(arch)
        refs[name.upper().replace("_", "-")] = (x, scores.score_arch(arch, scorer.name, **scorer.options))
    return refs


def search_settings(values: dict) -> SearchSettings:
    known = {f.name for f in fields(SearchSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(f"search: unknown key(s) {unknown} (known: {', '.join(sorted(known))})")
    return SearchSettings(**values)


OmegaConf.register_new_resolver("budget_dir", budget_dir, replace=True)


@hydra.main(config_path=CONF_DIR, config_name="search", version_base="1.3")
def main(cfg: DictConfig) -> float:
    start_run(cfg)
    if "budget" not in cfg:
        fail(f"no budget given: add +budget=NAME (available: {', '.join(group_options('budget'))})")
    from hydra.core.hydra_config import HydraConfig

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        budget = composed_budget(cfg.budget)
        space = budget.space(OmegaConf.to_container(cfg.space, resolve=True))
        scorer = ScorerSpec(cfg.scorer.name, OmegaConf.to_container(cfg.scorer.options, resolve=True))
        scorer.build()
        settings = search_settings(OmegaConf.to_container(cfg.search, resolve=True))
    except (BudgetError, SpaceError, ArchError, ScorerError, SettingsError, KeyError) as err:
        fail(err.args[0] if isinstance(err, KeyError) else str(err))
    tracker = None
    if cfg.wandb.enabled:
        from e3dnas.search.tracking import SearchTracker, arch_artifact_name

        # Opened before the evolution: history rows are logged as they come, and an interrupted or killed
        # search leaves a run too (a resume in the same run dir continues it).
        tracker = SearchTracker(
            cfg.wandb,
            run_dir=run_dir,
            name=f"search-{budget.name}-{scorer.name}-seed{settings.seed}",
            config=OmegaConf.to_container(cfg, resolve=True) | {"budget_name": budget.name},
            artifact=arch_artifact_name(budget.name, scorer.name),
        )
    exit_code = 1
    try:
        score = search(cfg, run_dir, budget, space, scorer, settings, tracker)
        exit_code = 0
        return score
    except SystemExit as err:
        exit_code = err.code if isinstance(err.code, int) else 1
        raise
    finally:
        if tracker is not None:
            tracker.finish(exit_code)


def search(
    cfg: DictConfig,
    run_dir: Path,
    budget: Budget,
    space: SearchSpace,
    scorer: ScorerSpec,
    settings: SearchSettings,
    tracker: SearchTracker | None,
) -> float:
    """The evolution and its outputs (``tracker``: the search's wandb run, or None)."""
    try:
        result = run_search(
            space,
            scorer,
            budget,
            settings,
            run_dir / "checkpoint",
            progress=cfg.progress,
            on_history=tracker.log_history if tracker else None,
        )
    except (BudgetError, ResumeError) as err:
        fail(str(err))
    if result.interrupted:
        again = [a for a in sys.argv[1:] if not a.startswith(("hydra.run.dir=", "search.resume="))]
        fail(
            f"interrupted after {result.evaluated:,} candidates; checkpoint in {run_dir / 'checkpoint'}. "
            f"Resume: python -m e3dnas.search {' '.join(again)} search.resume=true hydra.run.dir={run_dir}",
            code=130,
        )

    archs = population_archs(result, space.skeleton)
    best_yaml, top = write_outputs(
        result, archs, run_dir, budget, scorer, settings, wandb=tracker.lineage() if tracker else None
    )
    pop = result.population
    plots = {
        "convergence": plot_convergence(result.history, scorer.name, run_dir / "convergence.png"),
        "pareto": save_png(
            pareto_figure(
                result.samples,
                pop.flops,
                pop.scores,
                budget.flops,
                budget.counter,
                released_references(scorer, budget),
                scorer.name,
            ),
            run_dir / "pareto.png",
            dpi=120,
        ),
    }
    latency = budget.latency_predictor()
    latency_note = ""
    if latency is not None:
        population_ms = latency.predict(ArchBatch(space.skeleton, pop.genes))
        plots["pareto_latency"] = save_png(
            latency_pareto_figure(
                result.samples,
                population_ms,
                pop.scores,
                budget.latency_ms,
                released_references(scorer, budget, latency),
                scorer.name,
                latency.table.device["device_name"],
            ),
            run_dir / "pareto_latency.png",
            dpi=120,
        )
        limit = "" if budget.latency_ms is None else f" (budget {budget.latency_ms:g})"
        latency_note = f", {population_ms[0]:.2f} ms predicted{limit}"
    if tracker is not None:
        tracker.log_result(result, top, plots, best_yaml)
    rate = result.rate
    best = cost.cost(archs[0])
    print(
        f"best {scorer.name} {pop.scores[0]:.4f} at {best.authors_flops / 1e9:.3f} GFLOPs (authors' count), "
        f"{best.flops / 1e9:.3f} (conv MACs); budget {budget.flops / 1e9:.3f} ({budget.counter})"
        f"{latency_note} ({result.evaluated_here:,} candidates in {result.seconds:.1f} s, {rate:,.0f}/s) "
        f"-> {best_yaml}"
    )
    return float(pop.scores[0])


if __name__ == "__main__":
    check_group_choices(sys.argv[1:], ("budget", "scorer", "space"))
    main()
