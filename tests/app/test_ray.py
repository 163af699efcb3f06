"""Sweeps on Ray (``hydra/launcher=ray``): the same points, run folders and table as in process.

The sweeps need the ``ray`` extra (``pip install "tpf[ray]"``) and are skipped where it is
absent. The module starts a Ray head of its own (``ray start --head --block`` on free ports,
with an authentication token of its own and its own temporary folder) and stops it by its
process id at the end; a sweep joins it with ``hydra.launcher.ray.init.address``, as a user
joins a cluster. Another test lets the launcher start a local instance by itself.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tpf.app import main, ray_arguments
from tpf.config.safety import hydra_argument_problems


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is absent
        return False


HAVE_RAY = _installed("ray") and _installed("hydra_plugins.hydra_ray_launcher")
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="the ray extra is not installed "
                               "(pip install \"tpf[ray]\": ray and hydra-ray-launcher)")
SMALL = ["scenario=carbon_whatif", "workload=small", "workload.n_periods=2", "report=minimal"]
# grid.scale=1000 is out of range: that point fails in its worker while the others finish.
POINTS = "grid.scale=0.5,1,1000"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory):
    """A token of this module's own for the head and the drivers (nothing in ~/.ray)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "token")
        patch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        yield tmp_path_factory.mktemp("ray")


@pytest.fixture(scope="module")
def ray_head(ray_env):
    """The address of a Ray head started here (2 CPUs), stopped by its pid at the end."""
    import ray

    port = _free_port()
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
               f"--port={port}", f"--ray-client-server-port={_free_port()}", "--num-cpus=2",
               "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={ray_env}"]
    head = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=os.environ.copy())
    assert head.stdout is not None
    log = []
    for line in head.stdout:  # ready once it says it blocks; an early exit ends the loop
        log.append(line)
        if "will now block" in line:
            break
    else:
        pytest.fail("ray start --head ended early:\n" + "".join(log))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()  # the launcher leaves this process connected
        head.send_signal(signal.SIGTERM)
        head.communicate()


def _points(sweep_dir: Path) -> dict[str, dict]:
    """Each point folder's summary.json (None where it has none), wall times left out."""
    out = {}
    for folder in sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()):
        path = folder / "summary.json"
        summary = json.loads(path.read_text()) if path.is_file() else None
        out[folder.name] = summary and {k: v for k, v in summary.items() if not k.startswith("wall_s")}
    return out


def test_ray_settings_pass_the_hydra_check_and_callables_do_not():
    allowed = ["hydra/launcher=ray", "hydra.launcher.ray.init.address=ray://head:10001",
               "+hydra.launcher.ray.init.num_cpus=2", "hydra.launcher.ray.remote.num_cpus=1"]
    assert hydra_argument_problems(allowed) == []
    problems = hydra_argument_problems(["hydra.launcher.ray._target_=os.system"])
    assert len(problems) == 1 and "may not name callables" in problems[0]


def test_joining_a_cluster_unsets_the_launchers_local_object_store_size():
    assert ray_arguments(["hydra/launcher=ray"]) == []
    assert ray_arguments(["hydra.launcher.ray.init.address=auto"]) == [
        "++hydra.launcher.ray.init.object_store_memory=null"]
    assert ray_arguments(["hydra.launcher.ray.init.address=auto",
                          "+hydra.launcher.ray.init.object_store_memory=1e9"]) == []


def test_a_failed_point_is_listed_with_its_overrides_and_the_others_finish(tmp_path, capsys):
    code = main(["sweep", *SMALL, POINTS, "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 1
    assert "[tpf] 1 point(s) failed:" in err
    assert (f"point 2 ({' '.join(SMALL)} grid.scale=1000): error: grid.scale: must be in [0, 100], "
            f"got 1000.0 -> {tmp_path / '2'}") in err
    table = pd.read_csv(tmp_path / "sweep_summary.csv")
    assert list(table["status"]) == ["optimal", "optimal", "error"]
    assert list(table["grid.scale"]) == [0.5, 1, 1000]


@needs_ray
def test_a_sweep_on_a_ray_cluster_matches_the_in_process_sweep(ray_head, tmp_path, capsys):
    local, on_ray = tmp_path / "basic", tmp_path / "ray"
    assert main(["sweep", *SMALL, POINTS, "hydra/launcher=basic", f"hydra.sweep.dir={local}"]) == 1
    capsys.readouterr()
    code = main(["sweep", *SMALL, POINTS, "hydra/launcher=ray", f"hydra.sweep.dir={on_ray}",
                 f"hydra.launcher.ray.init.address={ray_head}"])
    err = capsys.readouterr().err
    assert code == 1  # one point failed; the others finished
    assert "RayLauncher" in yaml.safe_load((on_ray / "multirun.yaml").read_text())["hydra"]["launcher"]["_target_"]
    assert f"point 2 ({' '.join(SMALL)} grid.scale=1000): error: grid.scale: must be in" in err
    assert (on_ray / "2" / "error.txt").is_file() and not (on_ray / "2" / "summary.json").exists()
    ray_points, local_points = _points(on_ray), _points(local)
    assert sorted(ray_points) == ["0", "1", "2"]  # one folder per point
    assert ray_points == local_points
    assert ray_points["0"]["status"] == "optimal" and ray_points["2"] is None
    assert ray_points["0"] != ray_points["1"]  # the points differ: equal sweeps are not equal by default
    ray_table = (on_ray / "sweep_summary.csv").read_text()
    assert ray_table == (local / "sweep_summary.csv").read_text()
    table = pd.read_csv(on_ray / "sweep_summary.csv")
    assert list(table["status"]) == ["optimal", "optimal", "error"]
    assert table["carbon_kg"].iloc[1] == pytest.approx(2 * table["carbon_kg"].iloc[0], rel=1e-6)


@needs_ray
def test_the_ray_launcher_starts_a_local_instance_by_itself(ray_env, tmp_path):
    import ray

    ray.shutdown()  # no connection left by another test: the launcher starts its own instance
    temp_dir = ray_env / "local"  # ray.init() would join a head whose temporary folder it shares
    try:
        code = main(["sweep", *SMALL, "grid.scale=1,2", "hydra/launcher=ray", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                     "+hydra.launcher.ray.init.num_cpus=2", f"+hydra.launcher.ray.init._temp_dir={temp_dir}"])
    finally:
        ray.shutdown()
    assert code == 0
    table = pd.read_csv(tmp_path / "sweep" / "sweep_summary.csv")
    assert list(table["grid.scale"]) == [1, 2] and set(table["status"]) == {"optimal"}
