"""End-to-end runs with the real planner, simulator and policy writer, at small size."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from scenario_data import scenario_params

from tpf.config.build import validate
from tpf.config.compose import compose
from tpf.errors import InfeasiblePlanError
from tpf.run import run_scenario

SMALL = ["workload=small", "workload.n_periods=3", "report=minimal"]


@pytest.mark.parametrize("scenario", scenario_params())
def test_every_scenario_runs_end_to_end_at_small_size(scenario, tmp_path):
    config = compose([f"scenario={scenario}", *SMALL])
    assert validate(config).scenario_title
    summary = run_scenario(config, "plan", scenario, tmp_path)
    assert summary["status"] == "optimal"
    written = json.loads((tmp_path / "summary.json").read_text())
    for key in ("status", "objective", "accuracy", "it_energy_kwh", "facility_energy_kwh", "carbon_kg",
                "peak_facility_kw", "binding_constraints", "shadow_prices"):
        assert key in written
    plan = pd.read_csv(tmp_path / "plan.csv")
    assert list(plan.columns[:8]) == ["class_name", "period", "model", "strategy", "budget_tokens", "votes",
                                      "share", "queries"]
    # every class is fully served in every period
    shares = plan.groupby(["class_name", "period"])["share"].sum()
    assert shares.to_numpy() == pytest.approx(1.0, abs=1e-6)
    assert len(shares) == 3 * 3
    policy = json.loads((tmp_path / "policy.json").read_text())
    assert policy["provenance"]["scenario"] == scenario
    report = (tmp_path / "report.md").read_text()
    # the paper scenario plans with the published L40S cards, the others with the roofline estimates
    expected = "| l40s | published |" if scenario == "paper_l40s" else "roofline estimate (ESTIMATE)"
    assert expected in report


def test_power_cap_binds_at_the_peak_and_shifts_the_routing(tmp_path):
    config = compose(["scenario=power_capped", "workload=small", "report=minimal"])
    summary = run_scenario(config, "plan", "power_capped", tmp_path)
    assert summary["peak_facility_kw"] == pytest.approx(3.0, rel=1e-6)
    assert any(name.startswith("facility_power_cap[") for name in summary["binding_constraints"])
    plan = pd.read_csv(tmp_path / "plan.csv")
    small_model = plan[plan["model"] == "llama-3.2-1b"].groupby("period")["queries"].sum()
    # 14:00 (period 2 of a workload starting at 12:00) needs the most help from the 1B
    assert small_model.idxmax() == 2


def test_infeasible_plan_writes_the_diagnosis_and_raises(tmp_path):
    config = compose(["scenario=carbon_whatif", *SMALL, "planner.carbon_budget_kg=0.0001"])
    with pytest.raises(InfeasiblePlanError, match="carbon budget"):
        run_scenario(config, "plan", "carbon_whatif", tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "## Infeasible: no plan meets the constraints" in report
    assert "carbon budget" in report and "short by" in report
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "infeasible"


def test_simulate_writes_hourly_and_compares_with_the_plan(tmp_path):
    config = compose([*SMALL, "workload.total_rate_per_s=2"])
    summary = run_scenario(config, "simulate", "paper_l40s", tmp_path)
    hourly = pd.read_csv(tmp_path / "hourly.csv")
    assert len(hourly) == 3
    assert summary["simulation"]["served_queries"] == pytest.approx(hourly["served_queries"].sum())
    report = (tmp_path / "report.md").read_text()
    assert "## Plan and simulation" in report and "| facility energy (kWh) |" in report
    # the headline figures are the simulation's; the plan's are in their own section
    assert summary["figures_from"] == "simulation"
    assert summary["facility_energy_kwh"] == summary["simulation"]["facility_energy_kwh"]
    plan_kwh, simulated_kwh = summary["plan"]["facility_energy_kwh"], summary["simulation"]["facility_energy_kwh"]
    assert plan_kwh > 0
    # the simulation prices independently (whole GPUs powered, batches the load forms): the
    # difference is reported, not assumed away
    assert summary["simulation"]["vs_plan_pct"]["facility_energy_kwh"] == pytest.approx(
        100.0 * (simulated_kwh / plan_kwh - 1.0))
    per_model_hour = pd.read_csv(tmp_path / "model_hourly.csv")
    assert {"plan_it_kwh", "sim_it_kwh", "planned_batch_size", "formed_batch_size", "batch_formed"} <= set(
        per_model_hour)
    assert per_model_hour["sim_queries"].sum() == pytest.approx(summary["simulation"]["served_queries"])
    assert "### Plan and simulation per model and hour" in report


def test_full_report_draws_every_figure(tmp_path):
    config = compose(["workload=small", "workload.n_periods=2", "report.pareto_points=3", "report.dpi=50"])
    run_scenario(config, "plan", "paper_l40s", tmp_path)
    report = (tmp_path / "report.md").read_text()
    for name in ("routing_mix.png", "power_carbon.png", "pareto.png", "energy_curves.png", "accuracy_curves.png"):
        assert (tmp_path / name).stat().st_size > 5000
        assert f"]({name})" in report


def test_pareto_fronts_solve_under_the_planners_limits(tmp_path, monkeypatch):
    import tpf.plan.pareto as pareto

    seen: list[tuple[float | None, float | None]] = []
    make_solver = pareto.make_solver

    def recording_solver(solver, *, time_limit_s, mip_gap, **kwargs):
        seen.append((time_limit_s, mip_gap))
        return make_solver(solver, time_limit_s=time_limit_s, mip_gap=mip_gap, **kwargs)

    monkeypatch.setattr(pareto, "make_solver", recording_solver)
    config = compose(["workload=small", "workload.n_periods=2", "report.pareto_points=2",
                      "report.figures=false", "planner.replicas=relaxed",
                      "planner.time_limit_s=12.5", "planner.mip_gap=0.003"])
    run_scenario(config, "plan", "paper_l40s", tmp_path / "lp")
    # the energy front; the carbon front is its plans (one intensity every hour, no GPU weight)
    assert seen == [(12.5, 0.003)]
    # a whole-replica (MILP) plan draws its fronts on the relaxation, an LP, and says so
    seen.clear()
    whole = compose(["workload=small", "workload.n_periods=2", "report.pareto_points=2",
                     "planner.integer_gpus=true",
                     "planner.time_limit_s=12.5", "planner.mip_gap=0.003"])
    run_scenario(whole, "plan", "paper_l40s", tmp_path / "milp")
    assert seen == [(12.5, None)]
    assert "fronts on the relaxation" in (tmp_path / "milp" / "report.md").read_text(encoding="utf-8")
