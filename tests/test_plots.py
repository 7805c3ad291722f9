"""The plots stay readable whatever the data: no two labels collide, every run and released net is shown."""

import numpy as np
import pytest
from matplotlib.markers import MarkerStyle
from matplotlib.ticker import AutoLocator

from e3dnas.figures import plt, save_png
from e3dnas.report.collect import RunRecord
from e3dnas.report.plots import accuracy_figure, plot_accuracy, plot_scores, run_labels, scores_figure
from e3dnas.search.plots import pareto_figure

#: (authors' FLOPs, stentr score) of the released networks at each budget's input size, as the search's
#: ``released_references`` computes them.
E3D_S_BUDGET_REFS = {"E3D-S": (1.953e9, 202.86), "E3D-M": (2.016e9, 203.30), "E3D-L": (3.951e9, 408.28)}
DEMO_BUDGET_REFS = {"E3D-S": (1.677e8, 199.62), "E3D-M": (1.714e8, 200.06), "E3D-L": (3.428e8, 401.84)}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def overlapping(texts, pad=0.0) -> list[tuple[str, str]]:
    """The pairs of ``texts`` whose rendered boxes, each grown by ``pad`` pixels, overlap."""
    boxes = [(t.get_text(), t.get_window_extent().padded(pad)) for t in texts]
    return [(a, b) for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1 :] if box.overlaps(other)]


def tick_labels(axis) -> list:
    """The non-empty tick labels ``axis`` draws (major and minor, within its view)."""
    axis.figure.canvas.draw()
    lo, hi = sorted(axis.get_view_interval())
    slack = 1e-9 * (hi - lo)
    ticks = [*zip(axis.get_major_ticks(), axis.get_majorticklocs(), strict=True)]
    ticks += zip(axis.get_minor_ticks(), axis.get_minorticklocs(), strict=True)
    return [
        t.label1
        for t, loc in ticks
        if lo - slack <= loc <= hi + slack and t.label1.get_visible() and t.label1.get_text().strip()
    ]


def assert_readable(fig):
    """No two texts of ``fig`` collide; each numeric axis has two or more distinct, spaced tick labels."""
    texts = [*fig.texts]
    for ax in fig.axes:
        texts += [ax.title, *ax.texts, *(ax.get_legend().get_texts() if ax.get_legend() else [])]
        for axis in (ax.xaxis, ax.yaxis):
            labels = tick_labels(axis)
            texts += [axis.label, axis.get_offset_text(), *labels]
            if labels:  # not the inner side of shared axes, nor the strip without ticks
                assert overlapping(labels, pad=1.0) == []
                assert len({t.get_text() for t in labels}) == len(labels) >= 2, [t.get_text() for t in labels]
    assert overlapping([t for t in texts if t.get_visible() and t.get_text().strip()]) == []


def search(budget, flops, score, budget_flops, counter="authors", reference=None, seed=0, frames=16, res=312):
    return RunRecord(
        kind="search", run_dir=f"/sweep/{budget}-{seed}", budget=budget, dataset=None, frames=frames,
        resolution=res, seed=seed, model="e3d", scorer="stentr", score=score, flops=flops,
        authors_flops=flops, params_backbone=None, layers=None, budget_flops=budget_flops,
        budget_counter=counter, reference=reference,
    )  # fmt: skip


def train(run_dir, model, flops, top1, seed=0, dataset="sthv1", authors_flops=None):
    return RunRecord(
        kind="train", run_dir=run_dir, budget=None, dataset=dataset, frames=16, resolution=160, seed=seed,
        model=model, scorer=None, score=None, flops=flops, authors_flops=authors_flops, params_backbone=None,
        layers=None, val_top1=top1,
    )  # fmt: skip


# --- scores.png --------------------------------------------------------------------------------------------


def crowded_searches() -> list[RunRecord]:
    """The report's crowded panels: demo bests 1 MFLOPs apart, e3d_l bests at 18.4875 ... 18.5000."""
    return [
        search("demo", 0.09905e9, 86.5851, 1e8, counter="conv_macs", frames=8, res=56, seed=0),
        search("demo", 0.09956e9, 86.5906, 1e8, counter="conv_macs", frames=8, res=56, seed=1),
        search("e3d_l", 18.4875e9, 360.0, 18.5e9, seed=0),
        search("e3d_l", 18.4931e9, 361.0, 18.5e9, seed=1),
        search("e3d_l", 18.4999e9, 362.0, 18.5e9, seed=2),
        search("e3d_s", 1.939e9, 202.21, 2e9, reference="e3d_s", seed=0, frames=13, res=160),
        search("e3d_s", 1.945e9, 202.37, 2e9, reference="e3d_s", seed=1, frames=13, res=160),
    ]


def test_scores_tick_labels_do_not_overlap(tmp_path):
    fig = scores_figure(crowded_searches())
    assert [ax.get_title() for ax in fig.axes] == ["demo (8×56²)", "e3d_l (16×312²)", "e3d_s (13×160²)"]
    assert "released E3D-S" in [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert_readable(fig)
    # The values themselves are written, not an offset to add to them.
    e3d_l = fig.axes[1].xaxis
    assert e3d_l.get_offset_text().get_text() == ""
    assert all(t.get_text().startswith(("18.4", "18.5")) for t in tick_labels(e3d_l))
    # A real test: left to matplotlib's default locator, the labels of these panels collide.
    for ax in fig.axes:
        ax.xaxis.set_major_locator(AutoLocator())
    assert [ax.get_title() for ax in fig.axes if overlapping(tick_labels(ax.xaxis), pad=1.0)]
    assert plot_scores(crowded_searches(), tmp_path / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert plot_scores([train("/t", "x3d_s", None, 0.5)], tmp_path / "none.png") is None


@pytest.mark.parametrize("centre", [3e5, 1e8, 2e9, 18.5e9, 7.7e12])
@pytest.mark.parametrize("relative_spread", [0.0, 1e-5, 1e-3, 1e-2, 0.3])
def test_scores_ticks_are_readable_for_any_values(centre, relative_spread):
    flops = centre * (1 - relative_spread * np.array([0.9, 0.5, 0.2, 0.0]))
    scores = 200 + 50 * relative_spread * np.array([0.3, 0.9, 0.0, 0.5])
    runs = [search("b", f, s, centre, seed=i) for i, (f, s) in enumerate(zip(flops, scores, strict=True))]
    assert_readable(scores_figure(runs))


# --- pareto.png --------------------------------------------------------------------------------------------


def search_samples(budget_flops: float, top: float, n: int = 4000, seed: int = 0):
    """A search's samples (FLOPs, score, admitted) and its final population, shaped like a real run's."""
    rng = np.random.default_rng(seed)
    flops = budget_flops * np.exp(rng.normal(-0.3, 0.35, n))
    score = top * (1 - 0.5 * np.abs(np.log(flops / budget_flops))) - rng.exponential(0.05 * top, n)
    samples = np.column_stack([flops, score, flops <= budget_flops])
    admitted = samples[samples[:, 2] > 0]
    population = admitted[np.argsort(-admitted[:, 1])[:256]]
    return samples, population[:, 0], population[:, 1]


@pytest.mark.parametrize(
    ("budget_flops", "top", "references"),
    [(2e9, 202.4, E3D_S_BUDGET_REFS), (1e8, 86.6, DEMO_BUDGET_REFS), (18.5e9, 360.0, {})],
    ids=["e3d_s", "demo", "no-references"],
)
def test_pareto_shows_every_released_net_once_and_nothing_collides(tmp_path, budget_flops, top, references):
    samples, pop_flops, pop_scores = search_samples(budget_flops, top)
    fig = pareto_figure(samples, pop_flops, pop_scores, budget_flops, "authors", references, "stentr")
    left, right = fig.axes[:2]
    legend = [t.get_text() for t in right.get_legend().get_texts()]
    assert [name for name in legend if name.startswith("released ")] == [f"released {n}" for n in references]
    # The left title promises diamonds exactly when there are some; each net is one, of its own colour.
    assert ("diamonds" in left.get_title()) == bool(references)
    diamonds = {c.get_label()[9:]: c for c in left.collections if c.get_label().startswith("released ")}
    assert diamonds.keys() == references.keys()
    assert len({tuple(c.get_facecolor()[0]) for c in diamonds.values()}) == len(references)
    diamond = MarkerStyle("D").get_path().transformed(MarkerStyle("D").get_transform()).vertices
    (x0, x1), (y0, y1) = right.get_xlim(), right.get_ylim()
    for name, (flops, score) in references.items():
        assert np.allclose(diamonds[name].get_paths()[0].vertices, diamond)
        assert tuple(diamonds[name].get_offsets()[0]) == pytest.approx((flops / 1e9, score))
        # Near the budget, the view takes in the released nets within its FLOPs range.
        assert not x0 < flops / 1e9 < x1 or y0 < score < y1
    assert_readable(fig)
    path = tmp_path / "pareto.png"
    save_png(fig, path, dpi=120)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_pareto_log_axis_labels_stay_apart_in_a_narrow_panel(tmp_path):
    """A short proxy search at the demo budget (its population at 35-65 % of 0.1 GFLOPs) beside released
    nets over the budget, whose long legend entries narrow the panels: matplotlib labelled minor ticks
    0.03 0.04 0.06, which ran into each other."""
    from e3dnas.search.plots import Reference

    rng = np.random.default_rng(0)
    flops = rng.uniform(0.03e9, 0.07e9, 100)
    scores = rng.normal(40.0, 3.0, 100)
    samples = np.column_stack([flops, scores, np.ones(100)])
    references = {
        "E3D-S (searched at 13×160²)": Reference(1.68e8, 163.0, "0.17 > 0.10 GFLOPs; 83 > 35 layers"),
        "E3D-M (searched at 16×224²)": Reference(1.71e8, 164.0, "0.17 > 0.10 GFLOPs; 83 > 35 layers"),
        "E3D-L (searched at 16×312²)": Reference(3.43e8, 338.0, "0.34 > 0.10 GFLOPs; 167 > 35 layers"),
    }
    fig = pareto_figure(samples, flops, scores, 1e8, "conv_macs", references, "zen", "8×56²")
    labels = tick_labels(fig.axes[0].xaxis)
    assert [t.get_text() for t in labels] == ["0.05", "0.1", "0.2"]
    assert overlapping(labels, pad=2.0) == []
    save_png(fig, tmp_path / "pareto.png", dpi=120)


# --- accuracy.png ------------------------------------------------------------------------------------------


def test_accuracy_shows_every_trained_run_and_published_net_once_under_its_own_name():
    runs = [
        # Two trainings of the same architecture (the same model name), and one of another.
        train("/sweep/train/0", "e3d_s-stentr-seed0", 1.85e9, 0.452, seed=0),
        train("/sweep/train/1", "e3d_s-stentr-seed0", 1.85e9, 0.458, seed=1),
        train("/sweep/e3d_m", "e3d_m-stentr-seed0", 4.6e9, 0.48),
        # An older run recorded only the authors' FLOPs count; a torchvision X3D records no FLOPs at all.
        train("/sweep/old", "e3d_l", None, 0.50, authors_flops=18.3e9),
        train("/sweep/x3d_s", "x3d_s", None, 0.44),
        # Not plotted: no accuracy yet.
        train("/sweep/running", "x3d_m", None, None),
    ]
    fig = accuracy_figure(runs)
    entries = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    # Each trained run, then each published net of its dataset: one entry and one point each.
    paper = ["E3D-S (paper, sthv1)", "E3D-M (paper, sthv1)", "E3D-L (paper, sthv1)", "X3D-S (paper, sthv1)"]
    assert entries == [
        "e3d_s-stentr-seed0 (train/0, seed 0)",
        "e3d_s-stentr-seed0 (train/1, seed 1)",
        "e3d_m-stentr-seed0 (sweep/e3d_m, seed 0)",
        "e3d_l (sweep/old, seed 0), authors' FLOPs count",
        "x3d_s (sweep/x3d_s, seed 0), FLOPs not recorded",
        *paper,
    ]
    points = {c.get_label(): c for ax in fig.axes for c in ax.collections}
    assert points.keys() == set(entries)
    assert tuple(points[entries[3]].get_offsets()[0]) == pytest.approx((18.3, 50.0))
    # The X3D sits beside the FLOPs axis, in a strip that says why.
    strip = fig.axes[1]
    assert fig.axes[0].get_xlabel().startswith("GFLOPs (conv MACs, fvcore's count")
    assert "not recorded" in strip.get_xlabel() and strip.collections[:] == [points[entries[4]]]
    assert strip.collections[0].get_offsets()[0][1] == pytest.approx(44.0)
    # sthv1's E3D-S (1.9, 47.1) and X3D-S (1.96, 44.6) lie close together: hollow marks, each its own shape.
    assert tuple(points[paper[3]].get_offsets()[0]) == pytest.approx((1.96, 44.6))
    assert all(len(points[p].get_facecolor()) == 0 or points[p].get_facecolor()[0][3] == 0 for p in paper)
    assert len({points[p].get_paths()[0].vertices.tobytes() for p in paper}) == 4
    assert_readable(fig)


def test_accuracy_when_no_run_has_flops(tmp_path):
    runs = [
        train("/a/x3d", "x3d_s", None, 0.40, dataset="demo"),
        train("/b/x3d", "x3d_s", None, 0.41, dataset="demo"),
    ]
    fig = accuracy_figure(runs)
    assert [t.get_text() for t in fig.axes[-1].get_legend().get_texts()] == [
        "x3d_s (a/x3d, seed 0), FLOPs not recorded",
        "x3d_s (b/x3d, seed 0), FLOPs not recorded",
    ]
    assert_readable(fig)
    assert plot_accuracy(runs, tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert plot_accuracy([train("/r", "x3d_s", 1e9, None)], tmp_path / "none.png") is None


def test_run_labels_tell_runs_apart():
    same = [train(f"/s/{d}/{i}", "m", 1e9, 0.5, seed=0) for d in ("a", "b") for i in (0, 1)]
    assert run_labels(same) == ["m (a/0, seed 0)", "m (a/1, seed 0)", "m (b/0, seed 0)", "m (b/1, seed 0)"]
    twice = [train("/s/run", "m", 1e9, 0.5, seed=None)] * 2
    assert run_labels(twice) == ["m (run)", "m (run) #2"]
    assert run_labels([train("/s/run", None, 1e9, 0.5, seed=3)]) == ["? (run, seed 3)"]


def test_released_nets_over_the_budget_are_marked_and_their_input_size_named(tmp_path):
    """At the E3D-S budget (13×160², 2 GFLOPs, 83 layers), rescored E3D-M and E3D-L break it and were
    searched at other sizes: the legend says both, their diamonds are hollow, the title names the size."""
    from e3dnas.budget import Budget
    from e3dnas.configs import read_conf
    from e3dnas.scores import ScorerSpec
    from e3dnas.search import SearchProblem, SearchSettings
    from e3dnas.search.run import released_references

    budget = Budget.from_config(read_conf("budget", "e3d_s"))
    problem = SearchProblem(
        budget.space(read_conf("space", "e3d")), ScorerSpec("stentr"), budget, SearchSettings()
    )
    references = released_references(problem)
    assert {name: ref.over for name, ref in references.items()} == {
        "E3D-S": "",
        "E3D-M (searched at 16×224²)": "2.016 > 2.000 GFLOPs (authors)",
        "E3D-L (searched at 16×312²)": "3.951 > 2.000 GFLOPs (authors); 167 > 83 layers",
    }
    samples, pop_flops, pop_scores = search_samples(2e9, 202.4)
    fig = pareto_figure(samples, pop_flops, pop_scores, 2e9, "authors", references, "stentr", "13×160²")
    left, right = fig.axes[:2]
    assert fig.get_suptitle() == "Every point scored at 13×160² clips"
    legend = [t.get_text() for t in right.get_legend().get_texts()]
    over = [f"released {name},\nover budget: {ref.over}" for name, ref in references.items() if ref.over]
    assert "released E3D-S" in legend and set(over) <= set(legend) and len(over) == 2
    diamonds = {c.get_label(): c for c in left.collections if c.get_label().startswith("released ")}
    hollow = {label for label, c in diamonds.items() if not np.asarray(c.get_facecolor())[:, 3].any()}
    assert hollow == set(over)
    assert_readable(fig)
