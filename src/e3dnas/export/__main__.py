"""``python -m e3dnas.export ckpt=<path> [format=onnx|torchscript|exported_program] [batch_size=N]``"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from e3dnas.command import hydra_command
from e3dnas.export.outputs import RECORD
from e3dnas.export.run import ExportJob, export, export_settings


def latency_table(record: dict[str, Any]) -> Table:
    """Eager against exported, milliseconds per call."""
    shape = "×".join(map(str, record["input_shape"]))
    threads = f"{record['threads']} thread" + ("s" if record["threads"] > 1 else "")
    table = Table(title=f"{record['format']} vs eager, input {shape}, {threads}")
    for column in ("model", "median ms", "p90 ms", "speed-up"):
        table.add_column(column, justify="left" if column == "model" else "right")
    eager = record["eager_latency_ms"]
    for name, ms in (("eager (unfolded)", eager), (f"{record['file']} (folded)", record["latency_ms"])):
        speedup = eager["median"] / ms["median"]
        table.add_row(name, f"{ms['median']:.2f}", f"{ms['p90']:.2f}", f"{speedup:.2f}×")
    return table


def run(job: ExportJob, run_dir: Path) -> None:
    path, record = export(job)
    print(f"{path} (record: {path.with_name(RECORD)})")
    Console().print(latency_table(record))
    print(
        f"{record['folded_batchnorms']} BatchNorms folded; max |Δlogit| {record['parity_max_abs_diff']:.2e} "
        f"(atol {record['atol']:g}); median of {record['runs']} runs after {record['warmup']} warm-up"
    )


def main() -> None:
    """``e3dnas-export``."""
    hydra_command("export", export_settings, run)


if __name__ == "__main__":
    main()
