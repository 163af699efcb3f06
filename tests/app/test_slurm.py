"""The SLURM path as far as a machine without SLURM allows: ``tpf sweep`` with
``hydra/launcher=submitit_slurm`` (the ``cluster`` extra) builds the job array and calls
``sbatch``. An ``sbatch`` of the test's own, first on PATH, keeps the script it is given and
refuses it as a machine without a controller does; the test reads the script and the pickled
jobs submitit left beside it. A slower test (``TPF_SLOW_TESTS=1``) emulates SLURM further: its
``sbatch`` runs the array's elements here, one after another, with the ``SLURM_*`` variables
an array element sees, through an ``srun`` that runs its command; the sweep then ends as on a
cluster, and its table equals the in-process sweep's.
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


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is absent
        return False


pytestmark = pytest.mark.skipif(
    not _installed("hydra_plugins.hydra_submitit_launcher"),
    reason="the cluster extra is not installed (pip install \"tpf[cluster]\": hydra-submitit-launcher)")
SMALL = ["scenario=carbon_whatif", "workload=small", "workload.n_periods=2", "report=minimal"]
SLURM = ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=30",
         "hydra.launcher.cpus_per_task=2", "hydra.launcher.mem_gb=8", "hydra.launcher.gpus_per_node=1"]
FAKE_SRUN = """#!/bin/sh
echo "srun: no SLURM controller on this machine" >&2
exit 1
"""
EMULATED_SBATCH = """#!/bin/sh
script="$1"
last=$(sed -n 's/^#SBATCH --array=0-\\([0-9]*\\)%.*/\\1/p' "$script")
folder=$(sed -n 's/.*submitit.core._submit \\(.*\\)\\/%j$/\\1/p' "$script" | tr -d "'")
echo "Submitted batch job 4242"
(
  for i in $(seq 0 "$last"); do
    waited=0  # submitit moves the element's pickle into place once sbatch has answered
    while [ ! -f "$folder/4242_$i/4242_${i}_submitted.pkl" ] && [ $waited -lt 3000 ]; do
      sleep 0.2; waited=$((waited + 1))
    done
    SLURM_JOB_ID=$((5000 + i)) SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID=$i SLURM_NTASKS=1 \\
      SLURM_PROCID=0 SLURM_LOCALID=0 SLURM_NODEID=0 SLURM_JOB_NUM_NODES=1 SLURM_JOB_NODELIST=localhost \\
      sh "$script"
  done
) > "$folder/emulated_sbatch.log" 2>&1 &
"""
EMULATED_SRUN = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in --output|--error) shift 2 ;; --*) shift ;; *) break ;; esac
done
exec "$@"
"""
FAKE_SBATCH = """#!/bin/sh
cp "$1" "{kept}"
echo "sbatch: error: no SLURM controller on this machine" >&2
exit 1
"""


def _put_on_path(monkeypatch, bin_dir, programs: dict[str, str]) -> None:
    bin_dir.mkdir()
    for name, text in programs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def sbatch_script(tmp_path, monkeypatch):
    """Where the fake sbatch keeps the script it receives (a fake srun beside it: submitit
    looks for srun before it submits)."""
    kept = tmp_path / "kept_sbatch.sh"
    _put_on_path(monkeypatch, tmp_path / "bin", {"sbatch": FAKE_SBATCH.format(kept=kept), "srun": FAKE_SRUN})
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


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TPF_SLOW_TESTS"), reason="set TPF_SLOW_TESTS=1")
def test_a_slurm_sweep_run_by_an_emulated_sbatch_matches_the_in_process_sweep(tmp_path, monkeypatch, capsys):
    _put_on_path(monkeypatch, tmp_path / "bin", {"sbatch": EMULATED_SBATCH, "srun": EMULATED_SRUN})
    points = "grid.scale=0.5,1,1000"  # the last is out of range: it fails, the others finish
    assert main(["sweep", *SMALL, points, *SLURM, f"hydra.sweep.dir={tmp_path / 'slurm'}"]) == 1
    assert f"point 2 ({' '.join(SMALL)} grid.scale=1000): error: grid.scale" in capsys.readouterr().err
    assert main(["sweep", *SMALL, points, "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 'basic'}"]) == 1
    table = (tmp_path / "slurm" / "sweep_summary.csv").read_text()
    assert table == (tmp_path / "basic" / "sweep_summary.csv").read_text()
    assert [p.name for p in sorted((tmp_path / "slurm").glob("[0-9]"))] == ["0", "1", "2"]
    results = sorted((tmp_path / "slurm" / ".submitit").glob("4242_*/4242_*_0_result.pkl"))
    assert [p.parent.name for p in results] == ["4242_0", "4242_1", "4242_2"]  # each element ran as itself
