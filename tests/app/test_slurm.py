"""The SLURM path as far as a machine without SLURM allows: ``tpf sweep`` with
``hydra/launcher=submitit_slurm`` (the ``cluster`` extra) builds the job array and calls
``sbatch``. An ``sbatch`` of the test's own, first on PATH, keeps the script it is given and
refuses it as a machine without a controller does; the test reads the script and the pickled
jobs submitit left beside it.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import sys
from importlib.util import find_spec

import pytest

from tpf.app import main

pytestmark = pytest.mark.skipif(
    find_spec("hydra_plugins.hydra_submitit_launcher") is None,
    reason="the cluster extra is not installed (pip install \"tpf[cluster]\": hydra-submitit-launcher)")
SMALL = ["scenario=carbon_whatif", "workload=small", "workload.n_periods=2", "report=minimal"]
SLURM = ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=30",
         "hydra.launcher.cpus_per_task=2", "hydra.launcher.mem_gb=8", "hydra.launcher.gpus_per_node=1"]
FAKE_SRUN = """#!/bin/sh
echo "srun: no SLURM controller on this machine" >&2
exit 1
"""
FAKE_SBATCH = """#!/bin/sh
cp "$1" "{kept}"
echo "sbatch: error: no SLURM controller on this machine" >&2
exit 1
"""


@pytest.fixture
def sbatch_script(tmp_path, monkeypatch):
    """Where the fake sbatch keeps the script it receives (a fake srun beside it)."""
    kept = tmp_path / "kept_sbatch.sh"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH.format(kept=kept)), ("srun", FAKE_SRUN)):
        (bin_dir / name).write_text(text)  # submitit looks for srun before it submits
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return kept


def test_a_three_point_sweep_becomes_one_slurm_array_of_three(sbatch_script, tmp_path, capsys):
    import submitit

    sweep_dir = tmp_path / "sweep"
    assert main(["sweep", *SMALL, "grid.scale=0.5,1,2", *SLURM, f"hydra.sweep.dir={sweep_dir}"]) == 1
    assert "sbatch: error: no SLURM controller" in capsys.readouterr().err  # the refusal reaches the user
    script = sbatch_script.read_text()
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)=(.*)$", script, re.MULTILINE))
    assert directives["array"] == "0-2%3"  # three points, all at once
    assert directives["partition"] == "gpu"
    assert directives["time"] == "30"
    assert directives["cpus-per-task"] == "2"
    assert directives["mem"] == "8GB"
    assert directives["gpus-per-node"] == "1"
    assert directives["job-name"] == "sweep"
    submitit_dir = sweep_dir / ".submitit"
    assert directives["output"] == f"{submitit_dir}/%A_%a/%A_%a_0_log.out"
    command = shlex.split(script.strip().splitlines()[-1])
    assert command[0] == "srun"
    assert command[-5:] == [sys.executable, "-u", "-m", "submitit.core._submit", f"{submitit_dir}/%j"]

    jobs = [submitit.helpers.DelayedSubmission.load(path) for path in sorted(submitit_dir.glob("*.pkl"))]
    assert len(jobs) == 3
    calls = sorted((job.args for job in jobs), key=lambda args: args[2])
    assert [call[2] for call in calls] == [0, 1, 2]  # the job numbers: point folders 0, 1, 2
    assert [call[0][-1] for call in calls] == ["grid.scale=0.5", "grid.scale=1", "grid.scale=2"]
    assert all(call[0][:-1] == SMALL and call[1] == "hydra.sweep.dir" for call in calls)
    assert {type(job.function).__name__ for job in jobs} == {"SlurmLauncher"}
