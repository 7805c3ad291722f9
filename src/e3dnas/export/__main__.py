"""``python -m e3dnas.export ckpt=<path> [format=onnx|torchscript|exported_program] [batch_size=N]``"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from e3dnas.cli import CONF_DIR, fail
from e3dnas.export.errors import ExportError
from e3dnas.export.outputs import RECORD
from e3dnas.export.run import export
from e3dnas.train.errors import ConfigError


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


@hydra.main(config_path=CONF_DIR, config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        path, record = export(cfg)
    except (ConfigError, ExportError) as err:
        fail(str(err))
    print(f"{path} (record: {path.with_name(RECORD)})")
    Console().print(latency_table(record))
    print(
        f"{record['folded_batchnorms']} BatchNorms folded; max |Δlogit| {record['parity_max_abs_diff']:.2e} "
        f"(atol {record['atol']:g}); median of {record['runs']} runs after {record['warmup']} warm-up"
    )


if __name__ == "__main__":
    main()
