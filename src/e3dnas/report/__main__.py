"""``python -m e3dnas.report <sweep dir> [--out DIR]``: table (Markdown + CSV) and plots of every run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from e3dnas.atomic import atomic_write_text
from e3dnas.report.collect import collect
from e3dnas.report.plots import plot_accuracy, plot_latency, plot_scores
from e3dnas.report.tables import markdown, write_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e3dnas.report", description=__doc__)
    parser.add_argument(
        "sweep_dir", type=Path, help="a Hydra sweep (or run) directory, or any folder of runs"
    )
    parser.add_argument(
        "--out", type=Path, help="where to write report.md/.csv and plots (default: sweep_dir)"
    )
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"error: {args.sweep_dir} is not a directory", file=sys.stderr)
        return 2
    out = args.out or args.sweep_dir
    records, problems = collect(args.sweep_dir)
    if not records:
        print(
            f"error: no search (summary.json) or training (results.json) runs under {args.sweep_dir}",
            file=sys.stderr,
        )
        return 2
    table = markdown(records, args.sweep_dir)
    write_csv(records, out / "report.csv")
    pictures = [
        p
        for p in (
            plot_scores(records, out / "scores.png"),
            plot_latency(records, out / "latency.png"),
            plot_accuracy(records, out / "accuracy.png"),
        )
        if p
    ]
    document = [f"# Sweep report: {args.sweep_dir}", "", table]
    document += [f"![{p.stem}]({p.name})" for p in pictures]
    if problems:
        document += ["", "Skipped runs:", *[f"- {p}" for p in problems]]
    atomic_write_text(out / "report.md", "\n".join(document) + "\n")
    print(table)
    written = ", ".join(str(p) for p in [out / "report.md", out / "report.csv", *pictures])
    print(f"{len(records)} runs ({len(problems)} skipped) -> {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
