"""Consistency: a plan's totals recomputed from its own files, with a tolerance from its size."""

from __future__ import annotations

import pandas as pd
import pytest

from tpf.config.compose import compose
from tpf.run.scenario import run_scenario
from tpf.simulate.check import consistency_from_run, plan_consistency


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    run_scenario(compose(["workload=small", "report=minimal", "report.figures=false"]), "plan", "paper_l40s", folder)
    return folder


def test_a_plans_files_recompute_its_totals(plan_dir):
    check = consistency_from_run(plan_dir)
    assert check.agrees, check.problems
    plan_kwh, recomputed_kwh = check.recomputed["facility_energy_kwh"]
    assert recomputed_kwh == pytest.approx(plan_kwh, rel=1e-6)
    # the sampling tolerance is a few standard deviations of the demand's energy, well under 3%
    assert 0 < check.tolerance_j / check.expected_j < 0.03


def test_an_accounting_error_of_one_percent_is_caught(plan_dir):
    plan = pd.read_csv(plan_dir / "plan.csv")
    options = pd.read_csv(plan_dir / "options.csv")
    hourly = pd.read_csv(plan_dir / "hourly_plan.csv")
    import json

    totals = json.loads((plan_dir / "summary.json").read_text())["plan"]
    wrong = dict(totals, facility_energy_kwh=1.01 * totals["facility_energy_kwh"])
    check = plan_consistency(plan, options, hourly, wrong)
    assert not check.agrees
    assert any(p.startswith("facility_energy_kwh") for p in check.problems)
