"""Cluster sweeps on a real single-node Slurm (tests/slurm_cluster.py): hydra/launcher=slurm runs one Slurm
job per combination, the results come back into the sweep dir, and wandb groups the jobs of a sweep."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from e3dnas import cost
from e3dnas.arch import load_arch
from slurm_cluster import SlurmCluster
from wandb_records import wandb_run_record

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


# A few CPU DDP steps (gloo) on the small demo set: enough to see both ranks train and checkpoint.
CPU_DDP = (
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",
    "trainer.sync_batchnorm=false",  # SyncBatchNorm needs GPUs
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=2",
    "dataset.batch_size=4",
    "dataset.num_workers=0",
    "train.test=false",
    "callbacks.checkpoint.save_last=false",
)


def cli_env() -> dict[str, str]:
    # The venv's bin first: jobs started by a bare sbatch find `python` on the PATH they inherit.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def run_cli(cluster: SlurmCluster, module: str, cwd: Path, *args: str, timeout: float) -> None:
    """``python -m <module> -m <args> hydra/launcher=slurm``, failing with its output and the daemon logs."""
    cmd = [sys.executable, "-m", module, "-m", *args, "hydra/launcher=slurm"]
    run = subprocess.run(cmd, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}\n{cluster.logs()[-4000:]}"
    )


def submitit_job_ids(sweep_dir: Path) -> set[str]:
    """Slurm ids of the sweep's jobs: submitit's job folders (``<id>`` or ``<array id>_<task>``)."""
    return {p.parent.name for p in (sweep_dir / ".submitit").glob("*/*_submitted.pkl")}


def test_search_sweep_runs_one_slurm_job_per_combination(slurm_cluster: SlurmCluster, tmp_path: Path):
    # The default sweep dir (multirun/search/<timestamp>) on purpose: every job must resolve it alike.
    run_cli(
        slurm_cluster,
        "e3dnas.search",
        tmp_path,
        "+budget=demo,e3d_s",
        "search.seed=0,1",
        "search.iterations=20000",
        "wandb.enabled=true",
        "progress=false",
        timeout=240,
    )
    (sweep_dir,) = (tmp_path / "multirun" / "search").iterdir()

    job_ids = submitit_job_ids(sweep_dir)
    assert len(job_ids) == 4, f"submitit jobs: {sorted(job_ids)}"
    states = {job: slurm_cluster.wait_for_job(job)["JobState"] for job in job_ids}
    assert states == dict.fromkeys(job_ids, "COMPLETED"), slurm_cluster.jobcomp.read_text()

    job_dirs = sorted(p.parent for p in sweep_dir.glob("*/best.yaml"))
    combos = set()
    for job_dir in job_dirs:
        cfg = yaml.safe_load((job_dir / ".hydra" / "config.yaml").read_text())
        name, seed = cfg["budget"]["name"], cfg["search"]["seed"]
        combos.add((name, seed))
        budget = yaml.safe_load((ROOT / "conf" / "budget" / f"{name}.yaml").read_text())
        arch = load_arch(job_dir / "best.yaml")
        c = cost.cost(arch)
        assert (arch.frames, arch.resolution) == (budget["frames"], budget["resolution"]), job_dir
        assert c.flops <= budget["flops"] and c.layers <= budget["layers"], f"{job_dir}: {c} over {budget}"

        (wandb_file,) = job_dir.glob("wandb/offline-run-*/run-*.wandb")
        run = wandb_run_record(wandb_file)
        config = {item.key: item.value_json for item in run.config.update}
        assert (run.run_group, run.job_type) == (sweep_dir.name, "search"), wandb_file
        assert yaml.safe_load(config["budget"])["name"] == name, wandb_file
    assert combos == {(name, seed) for name in ("demo", "e3d_s") for seed in (0, 1)}


@pytest.fixture
def demo_root(footage_dataset: Callable[..., Path]) -> Path:
    """The small real-footage demo set of conftest.py (20 train clips: 2 batches of 4 on each of 2 ranks)."""
    return footage_dataset()


def test_ddp_training_runs_both_ranks_of_one_slurm_job(
    slurm_cluster: SlurmCluster, demo_root: Path, tmp_path: Path
):
    run_cli(
        slurm_cluster,
        "e3dnas.train",
        tmp_path,
        "arch=e3d_s",
        f"dataset.root={demo_root}",
        "trainer=ddp_slurm",
        *CPU_DDP,
        "hydra.launcher.tasks_per_node=2",
        timeout=300,
    )
    (sweep_dir,) = (tmp_path / "multirun" / "train").iterdir()
    (job_id,) = submitit_job_ids(sweep_dir)
    job = slurm_cluster.wait_for_job(job_id)
    assert (job["JobState"], job["ProcCnt"]) == ("COMPLETED", "2"), job

    folder = sweep_dir / ".submitit" / job_id
    val_top1 = []
    for rank in (0, 1):
        log = (folder / f"{job_id}_{rank}_log.err").read_text()
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in log, f"rank {rank} did not join DDP:\n{log}"
        status, job_return = pickle.loads((folder / f"{job_id}_{rank}_result.pkl").read_bytes())
        assert status == "success", f"rank {rank}: {job_return}"
        val_top1.append(job_return.return_value)
    assert val_top1[0] is not None and val_top1[0] == val_top1[1], (
        f"val/top1 not synced across ranks: {val_top1}"
    )

    (job_dir,) = (p.parent for p in sweep_dir.glob("**/results.json"))
    checkpoints = list(job_dir.glob("checkpoints/*.ckpt"))
    assert len(checkpoints) == 1, f"expected one checkpoint (rank 0 writes), got {checkpoints}"
    assert json.loads((job_dir / "results.json").read_text())["global_step"] == 2


def test_sbatch_script_trains_with_srun(slurm_cluster: SlurmCluster, demo_root: Path, tmp_path: Path):
    script = ROOT / "experiments" / "slurm" / "train_ddp.sbatch"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    # The script's GPU defaults, overridden for this CPU-only node.
    sbatch = ["sbatch", "--parsable", "--gpus-per-node=0", "--ntasks-per-node=2", "--cpus-per-task=1"]
    overrides = ["arch=e3d_s", f"dataset.root={demo_root}", *CPU_DDP]
    submit = subprocess.run(
        [*sbatch, "--time=10", str(script), *overrides],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
    )
    assert submit.returncode == 0, submit.stderr
    job_id = submit.stdout.strip().split(";")[0]
    job = slurm_cluster.wait_for_job(job_id, timeout_s=300)
    log = next(tmp_path.glob(f"slurm-*-{job_id}.out")).read_text()
    assert (job["JobState"], job["ProcCnt"]) == ("COMPLETED", "2"), f"{job}\n{log[-6000:]}"
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log, log[-6000:]
    run_dir = tmp_path / "outputs" / "train" / f"slurm-{job_id}"
    assert len(list(run_dir.glob("checkpoints/*.ckpt"))) == 1
    assert json.loads((run_dir / "results.json").read_text())["global_step"] == 2
