"""One search: the evolution of the composed config, its files, plots and wandb run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from e3dnas import cost
from e3dnas.arch import ArchBatch
from e3dnas.arch.released import released_nets
from e3dnas.errors import E3DError
from e3dnas.figures import save_png
from e3dnas.overrides import command_line
from e3dnas.search.config import SearchJob
from e3dnas.search.evolution import SearchResult
from e3dnas.search.islands import check_checkpoints, run_search
from e3dnas.search.outputs import population_archs, write_outputs
from e3dnas.search.plots import Reference, latency_pareto_figure, pareto_figure, plot_convergence
from e3dnas.search.problem import SearchProblem

if TYPE_CHECKING:
    from e3dnas.search.tracking import SearchTracker


class SearchInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped the search after a checkpoint; the message says how to resume."""


def released_references(problem: SearchProblem, against: str = "flops") -> dict[str, Reference]:
    """(FLOPs in the budget's count, score, the budget limits it breaks) of each released network rescored
    at the search's input size; ``against="latency"``: predicted ms (by the budget's latency constraint)
    instead of FLOPs. A network searched for another input size says so in its name
    (``E3D-M (searched at 16×224²)``)."""
    budget, latency, score = problem.budget, problem.latency, problem.scorer.build()
    refs = {}
    for name, doc in released_nets().items():
        arch = doc.arch.with_input(budget.frames, budget.resolution)
        c = cost.cost(arch)
        flops, ms = c.flops_by(budget.counter), None if latency is None else latency.predict_arch(arch)
        over = "; ".join(budget.breaches(flops, c.params, c.layers, ms))
        label = name.upper().replace("_", "-")
        if (doc.arch.frames, doc.arch.resolution) != (budget.frames, budget.resolution):
            label += f" (searched at {doc.arch.frames}×{doc.arch.resolution}²)"
        score_here = float(score(ArchBatch.from_archs([arch]))[0])
        refs[label] = Reference(ms if against == "latency" else flops, score_here, over)
    return refs


def check_resume(job: SearchJob, run_dir: Path) -> None:
    """With ``search.resume=true``: ResumeError unless ``run_dir``'s checkpoints were written under the
    job's settings. Checked before the run writes anything (Hydra's records, the wandb run)."""
    if job.problem.settings.resume:
        check_checkpoints(Path(run_dir) / "checkpoint", job.problem)


def run(job: SearchJob, run_dir: Path, command: list[str]) -> float:
    """Search as ``job`` asks into ``run_dir``; return the best score.

    ``command`` (the command-line arguments) goes into the resume command of an interrupted search.
    Raises an ``E3DError`` for a config or resume the user must fix, :class:`SearchInterrupted` on a
    signal; the wandb run (``wandb.enabled``) is finished with the matching exit code either way.
    """
    problem = job.problem
    budget, scorer = problem.budget, problem.scorer
    check_resume(job, run_dir)  # before the wandb run is reopened
    tracker = None
    if job.wandb.enabled:
        from e3dnas.search.tracking import SearchTracker, arch_artifact_name

        # Opened before the evolution: history rows are logged as they come, and an interrupted or killed
        # search leaves a run too (a resume in the same run dir continues it).
        tracker = SearchTracker(
            job.wandb,
            run_dir=run_dir,
            name=f"search-{problem.run_name}",
            config=job.config | {"budget_name": budget.name},
            artifact=arch_artifact_name(budget.name, scorer.name),
        )
    exit_code = 1
    try:
        result = run_search(
            problem,
            run_dir / "checkpoint",
            progress=job.progress,
            on_history=tracker.log_history if tracker else None,
        )
        if result.interrupted:
            exit_code = 130
            again = [a for a in command if not a.startswith(("hydra.run.dir=", "search.resume="))]
            resume = command_line("e3dnas.search", [*again, "search.resume=true", f"hydra.run.dir={run_dir}"])
            raise SearchInterrupted(
                f"interrupted after {result.evaluated:,} candidates; checkpoint in {run_dir / 'checkpoint'}. "
                f"Resume: {resume}"
            )
        score = report(result, run_dir, problem, tracker)
        exit_code = 0
        return score
    except Exception as err:
        exit_code = 2 if isinstance(err, E3DError) else exit_code
        raise
    finally:
        if tracker is not None:
            tracker.finish(exit_code)


def report(
    result: SearchResult, run_dir: Path, problem: SearchProblem, tracker: SearchTracker | None
) -> float:
    """Files, plots and the wandb run of a finished search, and its one-line summary; the best score."""
    budget, scorer = problem.budget, problem.scorer
    archs = population_archs(result, problem.space.skeleton)
    best_yaml, top = write_outputs(
        result, archs, run_dir, problem, wandb=tracker.lineage() if tracker else None
    )
    pop = result.population
    latency = problem.latency
    plots = {
        "convergence": plot_convergence(result.history, scorer.name, run_dir / "convergence.png"),
        "pareto": save_png(
            pareto_figure(
                result.samples,
                pop.flops,
                pop.scores,
                budget.flops,
                budget.counter,
                released_references(problem),
                scorer.name,
                input_size=f"{budget.frames}×{budget.resolution}²",
            ),
            run_dir / "pareto.png",
            dpi=120,
        ),
    }
    latency_note = ""
    if latency is not None:
        population_ms = latency.predict(ArchBatch(problem.space.skeleton, pop.genes))
        plots["pareto_latency"] = save_png(
            latency_pareto_figure(
                result.samples,
                population_ms,
                pop.scores,
                budget.latency_ms,
                released_references(problem, against="latency"),
                scorer.name,
                latency.table.device["device_name"],
                input_size=f"{budget.frames}×{budget.resolution}²",
            ),
            run_dir / "pareto_latency.png",
            dpi=120,
        )
        limit = "" if budget.latency_ms is None else f" (budget {budget.latency_ms:g})"
        latency_note = f", {population_ms[0]:.2f} ms predicted{limit}"
    if tracker is not None:
        tracker.log_result(result, top, plots, best_yaml)
    best = cost.cost(archs[0])
    print(
        f"best {scorer.name} {pop.scores[0]:.4f} at {best.authors_flops / 1e9:.3f} GFLOPs (authors' count), "
        f"{best.flops / 1e9:.3f} (conv MACs); budget {budget.flops / 1e9:.3f} ({budget.counter})"
        f"{latency_note} ({result.evaluated_here:,} candidates in {result.seconds:.1f} s, "
        f"{result.rate:,.0f}/s) -> {best_yaml}"
    )
    return float(pop.scores[0])
