"""The validity study's bootstrap: its batched Kendall τ against scipy's one-resample-at-a-time call.

    python -m experiments.bench_stats [--resamples 1000] [--sizes 48 140 280] [--repeats 3]

For each sample size, one percentile bootstrap of τ over networks as the study draws it
(``analyse.paired_bootstrap`` with ``analyse.kendall_tau``: every resample at once, as counts per network)
and as it did before (scipy's ``kendalltau`` on each resampled pair of arrays), on the same data and the
same resamples.
Printed: the median wall time of each over ``--repeats``, their ratio, and the largest difference between
the two intervals' ends (the same resamples: it should be rounding only).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import stats

from experiments.validity.analyse import kendall_tau, paired_bootstrap


def scipy_bootstrap(data: tuple[np.ndarray, ...], resamples: int):
    """The same percentile bootstrap with scipy's ``kendalltau`` on each resampled pair of arrays."""
    return stats.bootstrap(
        data,
        lambda x, y: stats.kendalltau(x, y).statistic,
        paired=True,
        vectorized=False,
        n_resamples=resamples,
        method="percentile",
        random_state=0,
    )


def batched_bootstrap(data: tuple[np.ndarray, ...], resamples: int):
    return paired_bootstrap(data, kendall_tau, resamples)


def timed(bootstrap, data: tuple[np.ndarray, ...], resamples: int, repeats: int) -> tuple[float, tuple]:
    times, interval = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        interval = bootstrap(data, resamples).confidence_interval
        times.append(time.perf_counter() - started)
    return statistics.median(times), (float(interval.low), float(interval.high))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 140, 280])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"percentile bootstrap of Kendall's tau-b, {args.resamples} resamples, median of {args.repeats}")
    for n in args.sizes:
        score = rng.normal(size=n)
        accuracy = np.round(0.5 * score + rng.normal(size=n), 1)  # rounded: ties, as accuracies have
        data, times = (score, accuracy), (args.resamples, args.repeats)
        ours, ours_ci = timed(batched_bootstrap, data, *times)
        theirs, theirs_ci = timed(scipy_bootstrap, data, *times)
        gap = max(abs(a - b) for a, b in zip(ours_ci, theirs_ci, strict=True))
        print(
            f"n={n:4d}: batched {ours:7.2f} s, scipy per resample {theirs:7.2f} s, "
            f"ratio {theirs / ours:5.1f}x; interval ends differ by at most {gap:.1e}"
        )


if __name__ == "__main__":
    main()
