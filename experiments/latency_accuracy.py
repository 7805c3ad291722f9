"""How close is predicted latency to measured?  Random networks of the space, timed end to end.

    python -m experiments.latency_accuracy [--device cpu|cuda] [--table FILE] [--count 50] [--seed 1]

Without ``--table`` it first profiles the e3d_s input size (13×160²) on ``--device`` through
``python -m e3dnas.profile`` into ``<out>/profile-<device>/`` (resumable; a rerun reuses it). Then:

* ``--count`` networks sampled within the e3d_s budget (random walks of the space's moves from its seed,
  each step kept within 2.0 GFLOPs and 83 layers; seed ``--seed``, disjoint from the table's calibration
  networks), plus the released E3D-S/M/L, all at the table's input size (13×160², E3D-M/L are not at their
  own sizes: a table holds one input size);
* each timed whole with the table's settings (threads, batch, dtype, memory format, compile), warm-up
  and blocks of calls for ``--run-time`` s, guarded against other load (docs/latency.md), in
  ``--rounds`` passes over all networks (the lowest kept: this machine's speed drifts by ±15 % over
  seconds), and predicted;
* the absolute % error of the prediction against the table's statistic (and the other one), median and
  90th percentile; ``accuracy.csv`` and ``accuracy.png`` in ``--out``.

Runtime on the project's 2-core CPU, quiet: profile ~3 min, 53 networks × 3 rounds ~4 min. On one H100:
profile 118 s, 53 networks × 2 rounds of 0.5 s 80 s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from e3dnas import cost, scores
from e3dnas.arch.released import released_nets
from e3dnas.atomic import atomic_write_csv
from e3dnas.configs import read_conf
from e3dnas.figures import plt, save_png
from e3dnas.latency.predict import LatencyPredictor
from e3dnas.latency.table import load_table
from e3dnas.latency.timing import STATISTICS
from e3dnas.profile.sample import genes_key, sample_archs
from experiments.common import RESULTS, NetworkTimer, budget, log, table_for


def percent_error(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    return 100 * np.abs(predicted - measured) / measured


def scatter(rows: list[dict], statistic: str, title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.4, 5))
    measured = np.array([r[f"measured_{statistic}_ms"] for r in rows])
    predicted = np.array([r["predicted_ms"] for r in rows])
    released = np.array([r["name"].startswith("E3D") for r in rows])
    ax.scatter(measured[~released], predicted[~released], s=14, label="random networks of the space")
    ax.scatter(measured[released], predicted[released], marker="D", s=40, c="tab:green", label="E3D-S/M/L")
    low, high = min(measured.min(), predicted.min()) * 0.9, max(measured.max(), predicted.max()) * 1.1
    line = np.array([low, high])
    ax.plot(line, line, "k-", lw=0.8, label="predicted = measured")
    ax.fill_between(line, 0.9 * line, 1.1 * line, color="gray", alpha=0.2, label="±10 %")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"measured ms ({statistic})")
    ax.set_ylabel("predicted ms")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_png(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--table", type=Path, help="a latency table (default: profile one now)")
    parser.add_argument("--count", type=int, default=50, help="random networks (plus E3D-S/M/L)")
    parser.add_argument("--seed", type=int, default=1, help="sampling seed (the table calibrates on 0)")
    parser.add_argument("--run-time", type=float, default=1.0, help="seconds timed per network and round")
    parser.add_argument("--rounds", type=int, default=3, help="passes over all networks, lowest kept")
    parser.add_argument("--out", type=Path, help="default: experiments/latency_results/<device>")
    args = parser.parse_args()
    out = args.out or RESULTS / args.device
    table = load_table(table_for(args.device, args.table, out))
    log(f"table: {table.describe()}; timing {table.timing['statistic']}")
    predictor, timer = LatencyPredictor(table), NetworkTimer(table, args.run_time)
    frames, resolution = table.input_size
    e3d_s = budget("e3d_s", frames=frames, resolution=resolution)
    space = e3d_s.space(read_conf("space", "e3d"))
    calibration = {n["genes"] for n in table.calibration.networks}
    sampled = sample_archs(space, e3d_s, args.count + len(calibration), args.seed)
    archs = [a for a in sampled if genes_key(a) not in calibration][: args.count]
    named = [(f"sample{i:02d}", a) for i, a in enumerate(archs)]
    named += [
        (n.upper().replace("_", "-"), doc.arch.with_input(frames, resolution))
        for n, doc in released_nets().items()
    ]
    statistic = table.timing["statistic"]
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _ in named}
    for round_ in range(1, args.rounds + 1):
        for name, arch in named:
            rounds[name].append(timer(arch))
        log(f"round {round_}/{args.rounds} timed")
    measured = {name: {s: min(r[s] for r in rs) for s in STATISTICS} for name, rs in rounds.items()}
    rows = []
    for name, arch in named:
        c = cost.cost(arch)
        rows.append(
            {
                "name": name,
                "predicted_ms": predictor.predict_arch(arch),
                **{f"measured_{s}_ms": measured[name][s] for s in STATISTICS},
                "authors_gflops": c.authors_flops / 1e9,
                "blocks": sum(s.depth for s in arch.stages),
                "stentr": scores.score_arch(arch),
                "genes": genes_key(arch),
                f"rounds_{statistic}_ms": " ".join(f"{r[statistic]:.2f}" for r in rounds[name]),
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out / "accuracy.csv", list(rows[0]), [list(r.values()) for r in rows])
    predicted = np.array([r["predicted_ms"] for r in rows])
    print(f"\n{table.describe()}; {len(rows)} networks ({args.count} random + E3D-S/M/L)")
    print(f"guard: {timer.guard.retaken} timings retaken, {timer.guard.contended} never clean (contended)")
    spread = np.array(
        [max(r[statistic] for r in rs) / min(r[statistic] for r in rs) - 1 for rs in rounds.values()]
    )
    print(
        f"repeatability (the noise floor): a network's slowest round is {100 * np.median(spread):.1f} % "
        f"(median; p90 {100 * np.percentile(spread, 90):.1f} %) over its fastest of {args.rounds}"
    )
    for s in sorted(STATISTICS, key=lambda s: s != statistic):
        error = percent_error(predicted, np.array([r[f"measured_{s}_ms"] for r in rows]))
        within = 100 * np.mean(error <= 10)
        note = " (the table's statistic)" if s == statistic else ""
        print(
            f"vs measured {s}{note}: median |error| {np.median(error):.1f} %, "
            f"p90 {np.percentile(error, 90):.1f} %, max {error.max():.1f} %, {within:.0f} % within ±10 %"
        )
    for r in rows[-len(released_nets()) :]:
        measured = r[f"measured_{statistic}_ms"]
        print(f"  {r['name']}: predicted {r['predicted_ms']:.2f} ms, measured {measured:.2f} ms")
    error = percent_error(predicted, np.array([r[f"measured_{statistic}_ms"] for r in rows]))
    title = (
        f"{table.describe()}\nmedian |error| {np.median(error):.1f} %, p90 {np.percentile(error, 90):.1f} % "
        f"({len(rows)} networks)"
    )
    log(f"-> {out / 'accuracy.csv'}, {scatter(rows, statistic, title, out / 'accuracy.png')}")


if __name__ == "__main__":
    main()
