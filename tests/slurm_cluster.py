"""A real single-node Slurm cluster for the cluster-sweep tests, as a session fixture.

Everything lives in one temp dir: its own munge key and socket, a slurm.conf on free ports, state, spool and
logs. Nothing under /etc is written, and a system Slurm, if any, is left alone: client commands
(sbatch, sinfo, submitit, and srun inside the jobs) find this cluster through ``SLURM_CONF``, which the
fixture sets for the session. Jobs run as root, as on the test machines and in CI.

Skips only when the Slurm/munge binaries are missing (Debian: ``apt-get install slurm-wlm munge``) or when
not root, and fails instead with ``E3DNAS_REQUIRE_SLURM=1`` (CI); if they are present but the cluster does
not come up, the fixture fails with the daemon logs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from processes import PATIENCE_S

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "sinfo", "squeue", "scancel")
START_TIMEOUT_S = PATIENCE_S  # a loaded 2-core CI runner starts the daemons slowly
PARTITION = "debug"


@dataclass(frozen=True)
class SlurmCluster:
    root: Path
    conf: Path
    jobcomp: Path

    def finished_jobs(self) -> dict[str, dict[str, str]]:
        """Slurm's own record of finished jobs (jobcomp/filetxt), one ``Key=Value`` dict per job, keyed by
        the id sbatch and submitit use: ``<job id>``, or ``<array job id>_<task id>`` for array tasks."""
        jobs = {}
        for line in self.jobcomp.read_text().splitlines() if self.jobcomp.exists() else []:
            job = dict(re.findall(r"(\w+)=(\S*)", line))
            jobs[f"{job['ArrayJobId']}_{job['ArrayTaskId']}" if "ArrayJobId" in job else job["JobId"]] = job
        return jobs

    def wait_for_job(self, job_id: str, timeout_s: float = PATIENCE_S) -> dict[str, str]:
        """The record of ``job_id`` once Slurm has written it, a moment after the job's processes exit."""
        deadline = time.monotonic() + timeout_s
        while (job := self.finished_jobs().get(job_id)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Slurm job {job_id} not finished after {timeout_s:.0f} s\n{self.logs()}"
                )
            time.sleep(0.5)
        return job

    def logs(self) -> str:
        return _logs(self.root / "log")


def _find(name: str) -> str | None:
    # The daemons live in /usr/sbin, which a non-login PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _logs(log_dir: Path) -> str:
    return "\n".join(f"==> {p} <==\n{p.read_text(errors='replace')}" for p in sorted(log_dir.glob("*")))


def _node_config(slurmd: str) -> tuple[str, int, int]:
    """(node name, CPUs, RealMemory MiB) as slurmd detects them: a node configured larger gets drained."""
    out = subprocess.run([slurmd, "-C"], capture_output=True, text=True, check=True).stdout
    fields = dict(re.findall(r"(\w+)=(\S+)", out))
    return socket.gethostname().split(".")[0], int(fields["CPUs"]), int(fields["RealMemory"])


def _write_config(root: Path, slurmd: str) -> Path:
    node, cpus, mem_mib = _node_config(slurmd)
    real_memory = int(mem_mib * 0.9)  # headroom: slurmd drains a node whose RealMemory exceeds what it sees
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    (root / "plugstack.conf").write_text("")  # not the system's /etc/slurm/plugstack.conf
    conf = root / "slurm.conf"
    conf.write_text(
        f"""\
ClusterName=e3dnas-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={root}/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
DisableRootJobs=NO
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
PlugStackConfig={root}/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={real_memory // cpus}
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
MpiDefault=none
ReturnToService=2
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={real_memory} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""
    )
    return conf


def _wait_idle(procs: dict[str, subprocess.Popen], sinfo: str, env: dict[str, str]) -> str:
    """Poll sinfo until the node is idle; returns why it failed ('' on success)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    state = ""
    while time.monotonic() < deadline:
        dead = [f"{name} exited with {p.returncode}" for name, p in procs.items() if p.poll() is not None]
        if dead:
            return ", ".join(dead)
        res = subprocess.run([sinfo, "-h", "-N", "-o", "%t"], capture_output=True, text=True, env=env)
        state = (res.stdout + res.stderr).strip()
        if res.returncode == 0 and state == "idle":
            return ""
        time.sleep(0.5)
    return f"node not idle after {START_TIMEOUT_S:.0f} s (sinfo: {state!r})"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_slurm(root: Path) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd as foreground children in ``root``; cancel jobs, stop them after."""
    paths = {name: _find(name) for name in (*DAEMONS, *CLIENTS)}
    missing = sorted(name for name, path in paths.items() if path is None)
    # CI sets E3DNAS_REQUIRE_SLURM=1 so that a broken install fails instead of skipping the cluster tests.
    unavailable = pytest.fail if os.environ.get("E3DNAS_REQUIRE_SLURM") == "1" else pytest.skip
    if missing:
        unavailable(
            f"Slurm not installed ({', '.join(missing)} missing): "
            "apt-get install slurm-wlm munge (Debian packages slurm-wlm and munge)"
        )
    if os.geteuid() != 0:
        unavailable("the test Slurm cluster runs its daemons and jobs as root: run the slow tests as root")
    conf = _write_config(root, paths["slurmd"])
    env = {**os.environ, "SLURM_CONF": str(conf)}
    log = root / "log"
    commands = {
        # --force: munged refuses a socket in a dir that is not world-executable, as tmp_path dirs are.
        "munged": [
            paths["munged"], "--foreground", "--force", f"--key-file={root}/munge.key",
            f"--socket={root}/munge.socket", f"--pid-file={root}/munged.pid",
            f"--seed-file={root}/munged.seed",
        ],
        "slurmctld": [paths["slurmctld"], "-D", "-i", "-f", str(conf)],
        "slurmd": [paths["slurmd"], "-D", "-f", str(conf)],
    }  # fmt: skip
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, cmd in commands.items():
            with open(log / f"{name}.log", "wb") as out:
                procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            if name == "munged":
                _wait_for(root / "munge.socket", procs[name])
        error = _wait_idle(procs, paths["sinfo"], env)
        if error:
            pytest.fail(f"the test Slurm cluster did not come up: {error}\n{_logs(log)}", pytrace=False)
        yield SlurmCluster(root=root, conf=conf, jobcomp=root / "jobcomp.txt")
    finally:
        if "slurmd" in procs:
            subprocess.run([paths["scancel"], "--full", f"--partition={PARTITION}"], env=env, check=False)
            _wait_no_jobs(paths["squeue"], env)
        for name in reversed(list(procs)):
            _stop(procs[name])


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)


def _wait_no_jobs(squeue: str, env: dict[str, str], timeout_s: float = 15.0) -> None:
    """Let slurmd reap cancelled jobs before it stops, so no job step outlives the cluster."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        res = subprocess.run([squeue, "-h", "-o", "%i"], capture_output=True, text=True, env=env)
        if res.returncode != 0 or not res.stdout.strip():
            return
        time.sleep(0.5)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A running single-node Slurm; ``SLURM_CONF`` points at it for the whole session (subprocesses too)."""
    root = tmp_path_factory.mktemp("slurm", numbered=True)
    with pytest.MonkeyPatch.context() as mp, running_slurm(root) as cluster:
        mp.setenv("SLURM_CONF", str(cluster.conf))
        yield cluster
    shutil.rmtree(root, ignore_errors=True)
