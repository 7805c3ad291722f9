"""What ``python -m e3dnas.arch FILE|NAME [...] [--latency-table T]`` prints: the per-stage table, cost,
scores and predicted latency of architecture YAMLs or released networks (``e3d_s``). It lives above the
architecture value (it reads cost, scores and latency tables), so ``e3dnas/arch/`` only hands over to it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from e3dnas import cost, scores
from e3dnas.arch import ArchBatch
from e3dnas.arch.released import arch_document
from e3dnas.errors import E3DError
from e3dnas.latency.predict import LatencyPredictor, ops_ms_by_part
from e3dnas.latency.table import load_table
from e3dnas.scores import OBJECTIVES


def describe(
    path: str,
    frames: int | None,
    resolution: int | None,
    console: Console,
    latency: LatencyPredictor | None = None,
) -> None:
    doc = arch_document(path)
    arch = doc.arch.with_input(
        doc.arch.frames if frames is None else frames,
        doc.arch.resolution if resolution is None else resolution,
    )
    predicted = None if latency is None else latency.predict_arch(arch)
    part_ms = {} if latency is None else ops_ms_by_part(latency.table, arch)
    batch = ArchBatch.from_archs([arch])
    flops = [float(f[0]) for f in cost.flops_by_part(batch)]
    authors_flops = [float(f[0]) for f in cost.flops_by_part(batch, "authors")]
    params = [int(p[0]) for p in cost.params_by_part(batch)]
    total_flops, total = sum(flops), cost.cost(arch)
    stem_side, stage_sides = arch.skeleton.sides()
    table = Table(title=f"{doc.name or path} @ {arch.frames}×{arch.resolution}²  ({path})")
    for column in (
        "part",
        "C_in→C_out",
        "B",
        "kt×k×k",
        "depth",
        "stride",
        "output",
        "GFLOPs",
        "authors'",
        "share",
        "params",
        *(["ops ms"] if latency else []),
    ):
        table.add_column(column, justify="right" if column not in ("part",) else "left")

    def row(part, c_in, c_out, b, kernel, depth, stride, side, f, fa, p):
        table.add_row(
            part,
            f"{c_in}→{c_out}",
            str(b),
            f"{kernel[0]}×{kernel[1]}×{kernel[1]}",
            str(depth),
            str(stride),
            f"{arch.frames}×{side}²",
            f"{f / 1e9:.3f}",
            f"{fa / 1e9:.3f}",
            f"{100 * f / total_flops:.1f}%",
            f"{p:,}",
            *([f"{part_ms[part]:.2f}"] if latency else []),
        )

    row(
        "stem",
        3,
        arch.stem.width,
        "-",
        arch.stem.kernel,
        1,
        arch.stem.stride,
        stem_side,
        flops[0],
        authors_flops[0],
        params[0],
    )
    c_in = arch.stem.width
    for i, (stage, side) in enumerate(zip(arch.stages, stage_sides, strict=True)):
        row(
            f"stage{i + 1}",
            c_in,
            stage.width,
            stage.bottleneck,
            stage.kernel,
            stage.depth,
            stage.stride,
            side,
            flops[i + 1],
            authors_flops[i + 1],
            params[i + 1],
        )
        c_in = stage.width
    row(
        "head",
        c_in,
        arch.head_width,
        "-",
        (1, 1),
        1,
        1,
        stage_sides[-1],
        flops[-1],
        authors_flops[-1],
        params[-1],
    )
    console.print(table)
    console.print(
        f"total: {total.flops / 1e9:.4f} GFLOPs conv MACs (fvcore's conv), "
        f"{total.authors_flops / 1e9:.4f} GFLOPs authors' count (+BN, ReLU, pool; the paper's budgets); "
        f"{total.params:,} params (backbone), {total.layers} layers"
    )
    console.print(
        "STEntr by objective: "
        + ", ".join(f"{name} {scores.score_arch(arch, name):.4f}" for name in OBJECTIVES)
        + f"; ablations: entropy {scores.score_arch(arch, 'entropy'):.4f}"
    )
    if doc.meta.get("scores"):
        console.print(recorded_scores(doc.meta))
    if latency is not None:
        shown = "outside the table (an op over the FLOPs it was profiled for)"
        if predicted == predicted:
            shown = f"{predicted:.2f} ms"
        console.print(
            f"predicted latency: {shown} on {latency.table.describe()} (calibrated on whole networks; "
            f"Σ ops {sum(part_ms.values()):.2f} ms, classifier {part_ms['classifier']:.2f} of it)"
        )


HELP = """Show what a network costs and scores: a table of its stem, stages and head (channels, kernel, depth,
stride, output size, FLOPs, params), its total FLOPs under both counters (fvcore's conv MACs and the
authors' count the paper's budgets use), params, layers, its STEntr under every objective and every score
its file records (a searched network's meta.scores, e.g. zen). Takes architecture files (best.yaml of a
search, top/NN.yaml) and released networks by name (e3d_s, e3d_m, e3d_l)."""

EXAMPLES = """examples:
  python -m e3dnas.arch outputs/search/e3d_s/<time>/best.yaml
  python -m e3dnas.arch e3d_s e3d_m --frames 16 --resolution 224     # at another input size
  python -m e3dnas.arch best.yaml --latency-table <profile dir>/latency.json

A bad file or input size exits 2 with one line naming the file and field."""


def recorded_scores(meta: Mapping[str, Any]) -> str:
    """Every score the file's ``meta.scores`` records, as the search computed them at the file's input
    size; a proxy's (zen, naswot, …) cannot be recomputed here (it builds and runs the network), so the
    recorded value is the one to show. The search's own objective is marked."""
    source = meta.get("source")
    scorer = source.get("scorer") if isinstance(source, Mapping) else None
    shown = [
        f"{name} {value:.4f}" + (" (searched)" if name == scorer else "")
        if isinstance(value, int | float)
        else f"{name} {value}"
        for name, value in meta["scores"].items()
    ]
    return "scores recorded in the file (meta.scores, at its own input size): " + ", ".join(shown)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m e3dnas.arch",
        description=HELP,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", help="architecture YAML files or released network names (e3d_s)")
    parser.add_argument("--frames", type=int, help="evaluate at this many frames instead of the file's")
    parser.add_argument("--resolution", type=int, help="evaluate at this resolution instead of the file's")
    parser.add_argument(
        "--latency-table",
        help="a table of python -m e3dnas.profile: predicted latency per stage and in all (the table's "
        "input size: add --frames/--resolution to evaluate a file of another size at it)",
    )
    args = parser.parse_args(argv)
    console = Console(width=150)
    try:
        latency = None if args.latency_table is None else LatencyPredictor(load_table(args.latency_table))
        for path in args.files:
            describe(path, args.frames, args.resolution, console, latency)
    except E3DError as err:  # a bad file, table or input size
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
