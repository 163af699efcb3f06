"""``tpf plan | simulate | sweep`` through Hydra, in process."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from tpf.app import main
from tpf.errors import ConfigError

SMALL = ["workload=small", "workload.n_periods=2", "report=minimal"]
# Launchers that start worker processes take about 30 s here: run them with TPF_SLOW_TESTS=1.
slow_launcher = pytest.mark.skipif(not os.environ.get("TPF_SLOW_TESTS"), reason="set TPF_SLOW_TESTS=1")


def test_plan_writes_its_files_into_the_run_directory(tmp_path, capsys):
    code = main(["plan", *SMALL, f"hydra.run.dir={tmp_path}"])
    assert code == 0
    for name in ("summary.json", "plan.csv", "policy.json", "report.md", ".hydra/config.yaml"):
        assert (tmp_path / name).is_file(), name
    assert "[tpf] optimal" in capsys.readouterr().err


def test_infeasible_plan_exits_non_zero_with_the_diagnosis_on_stderr(tmp_path, capsys):
    code = main(["plan", "scenario=carbon_whatif", *SMALL, "planner.carbon_budget_kg=0.0001",
                 f"hydra.run.dir={tmp_path}"])
    assert code == 1
    err = capsys.readouterr().err
    assert "infeasible" in err and "carbon budget" in err and "short by" in err
    assert "carbon budget" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("argument, message", [
    ("scenario=nope", "scenario: unknown option 'nope'; valid choices: capacity, carbon_whatif, paper_l40s"),
    ("facility=huge", "facility: unknown option 'huge'; valid choices: capped, default, efficient"),
    ("facility.cap_kw=3", "facility.cap_kw: unknown key; valid keys of facility: name, pue"),
])
def test_bad_overrides_are_refused_before_running(argument, message, tmp_path):
    with pytest.raises(ConfigError) as info:
        main(["plan", argument, f"hydra.run.dir={tmp_path}"])
    assert message in str(info.value)
    assert not (tmp_path / "summary.json").exists()


def test_negative_cap_exits_non_zero_naming_the_key(tmp_path, capsys):
    code = main(["plan", "facility.power_cap_kw=-5", *SMALL, f"hydra.run.dir={tmp_path}"])
    assert code == 1
    assert "facility.power_cap_kw: must be in (0, 1e7], got -5.0" in capsys.readouterr().err


def test_help_lists_config_groups_and_their_options(capsys):
    assert main(["plan", "--help"]) == 0
    out = capsys.readouterr().out
    assert "scenario: capacity, carbon_whatif, paper_l40s, power_capped" in out
    assert "grid: coal_heavy, constant, electricitymaps, hydro, solar_heavy" in out
    assert "hardware: a100, h100, h200, l40s" in out


@pytest.mark.parametrize("launcher", ["basic", pytest.param("joblib", marks=[pytest.mark.slow, slow_launcher])])
def test_sweep_runs_every_point_and_writes_the_summary(launcher, tmp_path):
    code = main(["sweep", *SMALL, "grid.scale=1,3", f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}"])
    assert code == 0
    table = pd.read_csv(tmp_path / "sweep_summary.csv")
    assert list(table["grid.scale"]) == [1, 3]
    assert table["carbon_kg"].iloc[1] == pytest.approx(3 * table["carbon_kg"].iloc[0], rel=1e-6)
    assert (tmp_path / "sweep.png").is_file()
    assert "Sweep summary (2 runs)" in (tmp_path / "sweep_summary.md").read_text()
    assert json.loads((tmp_path / "0" / "summary.json").read_text())["status"] == "optimal"


@pytest.mark.slow
@slow_launcher
def test_sweep_with_the_submitit_launcher_in_local_mode(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    code = main(["sweep", *SMALL, "grid.scale=1,2", "hydra/launcher=submitit_local",
                 f"hydra.sweep.dir={tmp_path}", "hydra.launcher.timeout_min=5"])
    assert code == 0
    assert len(pd.read_csv(tmp_path / "sweep_summary.csv")) == 2


def test_a_solve_that_is_not_optimal_exits_non_zero(tmp_path, capsys, monkeypatch):
    import tpf.run as run_package

    monkeypatch.setattr(run_package, "run_scenario", lambda *args, **kwargs: {"status": "time_limit"})
    code = main(["plan", *SMALL, f"hydra.run.dir={tmp_path}"])
    assert code == 1
    assert "not optimal: the solve ended with status 'time_limit'" in capsys.readouterr().err


def test_policy_show_rounds_its_figures_and_names_units(tmp_path, capsys):
    import re

    from tpf.policy.cli import main as policy_main

    assert main(["plan", *SMALL, f"hydra.run.dir={tmp_path}"]) == 0
    capsys.readouterr()
    assert policy_main(["policy", "show", str(tmp_path / "policy.json")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"objective [\d.]+ kWh", out)
    expected = [line for line in out.splitlines() if "expected:" in line]
    assert expected and all(re.search(r"accuracy \d\.\d{3}  energy [\d.e+]+ J/query  carbon [\d.e+]+ gCO2/query", line)
                            for line in expected)
    assert not re.search(r"\d\.\d{8,}", out)


def test_a_reader_that_stops_early_ends_the_output_quietly():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("TPF_DEBUG", None)
    script = "import sys, time; from tpf.cli import main; time.sleep(0.5); sys.exit(main(['--help']))"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before tpf writes (as `tpf ... | head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "BrokenPipe" not in err and "Traceback" not in err, err


def test_simulate_refuses_a_too_large_workload_before_it_plans(tmp_path, capsys, monkeypatch):
    import dataclasses

    import tpf.run.scenario as scenario_module

    def no_plan(*args, **kwargs):
        raise AssertionError("planned before checking simulate.max_queries")

    steps = scenario_module.default_steps()
    monkeypatch.setattr(scenario_module, "default_steps", lambda: dataclasses.replace(steps, plan=no_plan))
    code = main(["simulate", *SMALL, "simulate.max_queries=10", f"hydra.run.dir={tmp_path}"])
    assert code == 1
    assert "simulate.max_queries: the workload has about" in capsys.readouterr().err
