"""Hand-solvable micro plans: exact objectives and shadow prices worked out by hand.

Two classes (A, B) x two options (small: 100 J, 1 GPU-s; big: 300 J, 3 GPU-s),
one hour, 3600 queries each. Upgrading a query to big costs 200 J and gains
0.4 (A) or 0.1 (B) accuracy. All-small uses 0.2 kWh; all-big 0.6 kWh at 80 points.
With 0.1 kWh above all-small, half of A (1800 queries) is upgraded:
accuracy (1800*0.5 + 1800*0.9 + 3600*0.6) / 7200 = 0.65 -> 65 points, and
one more kWh upgrades 18000 A-queries' worth at 0.4/7200 -> 100 points per kWh.
"""

from __future__ import annotations

import pytest

from tests.plan.conftest import fleet_of
from tpf.domain import Facility, Fleet, Grid
from tpf.errors import InfeasiblePlanError
from tpf.plan import PlannerSettings, plan

FACILITY, GRID, NO_FLEET = Facility((1.0,)), Grid((500.0,)), Fleet(())


def run(options, workload, settings, facility=FACILITY, grid=GRID, fleet=NO_FLEET):
    return plan(options, workload, facility, grid, fleet, settings)


def test_unconstrained_max_accuracy_serves_everything_on_big(micro_options, micro_workload):
    result = run(micro_options, micro_workload, PlannerSettings())
    assert result.status == "optimal"
    assert result.objective == pytest.approx(80.0, abs=1e-9)
    assert result.totals["it_energy_kwh"] == pytest.approx(0.6, rel=1e-12)
    assert result.binding_constraints == []
    assert set(result.allocation["option_id"]) == {"big"}


@pytest.mark.parametrize(("settings", "facility", "row", "price"), [
    (PlannerSettings(it_energy_kwh_per_period=0.3), Facility((1.0,)), "it_energy_period[0]", 100.0),
    (PlannerSettings(it_energy_kwh_total=0.3), Facility((1.0,)), "it_energy_horizon", 100.0),
    (PlannerSettings(it_power_w=300.0), Facility((1.0,)), "it_power[0]", 100.0),
    # PUE 1.5: 0.45 kW facility = 0.3 kW IT; one facility kW buys 1/1.5 IT kWh
    (PlannerSettings(), Facility((1.5,), power_cap_w=450.0), "facility_power_cap[0]", 100.0 / 1.5),
    # carbon = IT kWh * 1.5 * 0.5 kg/kWh; 0.225 kg = 0.3 kWh; one kg buys 1/0.75 kWh
    (PlannerSettings(carbon_budget_kg=0.225), Facility((1.5,)), "carbon_budget", 100.0 / 0.75),
])
def test_each_cap_binding_has_hand_computed_optimum_and_dual(micro_options, micro_workload,
                                                               settings, facility, row, price):
    result = run(micro_options, micro_workload, settings, facility=facility)
    assert result.objective == pytest.approx(65.0, abs=1e-7)
    assert result.binding_constraints == [row]
    assert result.shadow_prices[row] == pytest.approx(price, rel=1e-7)


def test_gpu_capacity_binding_per_model(micro_options, micro_workload):
    # big has 3 GPUs = 10800 GPU-s = 3600 big queries (3 GPU-s each): all of A, none of B -> 75.
    # One more big GPU serves 1200 B-queries on big: +0.1 * 1200 / 7200 = 1/60 -> 1.667 points/GPU.
    result = run(micro_options, micro_workload, PlannerSettings(),
                 fleet=fleet_of({"small": 3, "big": 3}))
    assert result.objective == pytest.approx(75.0, abs=1e-7)
    assert result.binding_constraints == ["gpu_capacity[big,0]"]
    assert result.shadow_prices["gpu_capacity[big,0]"] == pytest.approx(100.0 / 60.0, rel=1e-7)


def test_shared_gpu_capacity_dual(micro_options, micro_workload):
    options = micro_options.assign(model="one")     # one model, two strategies sharing 3 GPUs
    options["option_id"] = ["small", "big", "small", "big"]
    # the LP's dual: fractional replicas (whole ones price the fleet conditional on the counts)
    result = run(options, micro_workload, PlannerSettings(replicas="relaxed"), fleet=fleet_of({"one": 3}))
    assert result.objective == pytest.approx(65.0, abs=1e-7)
    assert "gpu_capacity[one,0]" in result.binding_constraints
    assert result.shadow_prices["gpu_capacity[one,0]"] == pytest.approx(10.0, rel=1e-7)
    assert result.gpus_on["gpus_on"].iloc[0] == pytest.approx(3.0)


def test_accuracy_floor_binding(micro_options, micro_workload):
    # B must reach 0.65: half of B upgraded (0.1 kWh), A gets nothing -> (0.5 + 0.65) / 2.
    # Lowering B's floor one point frees 360 upgrades for A: +144 - 36 correct of 7200 = 1.5 points.
    settings = PlannerSettings(it_energy_kwh_total=0.3, accuracy_floors={"B": 0.65})
    result = run(micro_options, micro_workload, settings)
    assert result.objective == pytest.approx(57.5, abs=1e-7)
    assert result.shadow_prices["accuracy_floors[B]"] == pytest.approx(1.5, rel=1e-7)
    assert result.shadow_prices["it_energy_horizon"] == pytest.approx(100.0, rel=1e-7)


@pytest.mark.parametrize(("objective", "value", "price"), [
    ("min_it_energy", 0.3, 0.01),            # 1 point = 72 correct = 180 A-upgrades = 0.01 kWh
    ("min_facility_energy", 0.45, 0.015),    # PUE 1.5
    ("min_carbon", 0.225, 0.0075),           # 0.75 kg per IT kWh
])
def test_min_objectives_with_accuracy_target(micro_options, micro_workload, objective, value, price):
    settings = PlannerSettings(objective=objective, accuracy_target=0.65)
    result = run(micro_options, micro_workload, settings, facility=Facility((1.5,)))
    assert result.objective == pytest.approx(value, rel=1e-9)
    assert result.binding_constraints == ["accuracy_target"]
    assert result.shadow_prices["accuracy_target"] == pytest.approx(price, rel=1e-7)


def test_infeasible_carbon_budget_reports_shortfall(micro_options, micro_workload):
    # all-small needs 0.2 kWh * 1.5 * 0.5 = 0.15 kg: a 0.1 kg budget is 0.05 kg short
    with pytest.raises(InfeasiblePlanError) as info:
        run(micro_options, micro_workload, PlannerSettings(carbon_budget_kg=0.1),
            facility=Facility((1.5,)))
    (shortfall,) = info.value.diagnosis
    assert shortfall.constraint == "carbon_budget"
    assert shortfall.shortfall == pytest.approx(0.05, rel=1e-7)
    assert "carbon budget short by 0.05 kgCO2" in str(info.value)


def test_infeasible_facility_power_names_the_hour(micro_options, micro_workload):
    with pytest.raises(InfeasiblePlanError) as info:
        run(micro_options, micro_workload, PlannerSettings(), facility=Facility((1.5,), power_cap_w=200.0))
    assert "facility power at 00:00 (period 0) short by 0.1 kW" in str(info.value)


def test_write_lp_on_request(micro_options, micro_workload, tmp_path):
    from tpf.plan import build_model, solve
    model = build_model(micro_options, micro_workload, Facility((1.0,)), Grid((500.0,)), Fleet(()),
                        PlannerSettings(it_energy_kwh_total=0.3))
    target = tmp_path / "plan.lp"
    result = solve(model, write_lp=str(target))
    assert result.objective == pytest.approx(65.0)
    assert "it_energy_horizon" in target.read_text()


def test_pareto_front_energy_axis_is_exact(micro_options, micro_workload):
    from tpf.plan import pareto_front
    front = pareto_front(micro_options, micro_workload, Facility((1.0,)), Grid((500.0,)), Fleet(()),
                         axis="it_energy", n_points=5)
    # caps 0.2 .. 0.6 kWh: A is upgraded first (100 points/kWh), then B (25 points/kWh)
    assert front["cap"].tolist() == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6])
    assert front["accuracy"].tolist() == pytest.approx([0.55, 0.65, 0.75, 0.775, 0.8], abs=1e-8)
    assert front["shadow_price"].iloc[1] == pytest.approx(100.0, rel=1e-7)
    assert front["shadow_price"].iloc[3] == pytest.approx(25.0, rel=1e-7)


def test_integer_gpus_with_gpu_cost(micro_options, micro_workload):
    # One model, utilization 0.9 (3240 GPU-s per GPU-hour), 2 points per powered-on GPU.
    # LP: all big needs 21600/3240 = 6.667 GPUs -> 80 - 13.333 = 66.667.
    # MILP: 6 GPUs = 19440 GPU-s: A all big (10800), B small (3600) + 2520 B upgrades (+3.5 points)
    # -> 55 + 20 + 3.5 - 12 = 66.5 (7 GPUs: 80 - 14 = 66).
    options = micro_options.assign(model="one")
    fleet = fleet_of({"one": 10}, utilization=0.9)
    relaxed = run(options, micro_workload, PlannerSettings(gpu_cost=2.0, replicas="relaxed"), fleet=fleet)
    assert relaxed.objective == pytest.approx(80 - 2 * 21600 / 3240, abs=1e-7)
    integer = run(options, micro_workload, PlannerSettings(gpu_cost=2.0, integer_gpus=True), fleet=fleet)
    assert integer.objective == pytest.approx(66.5, abs=1e-6)
    assert integer.gpus_on["gpus_on"].iloc[0] == pytest.approx(6.0)


def test_max_accuracy_powers_on_only_the_gpus_it_needs(micro_options, micro_workload):
    # All-big: 7200 queries * 3 GPU-s = 21600 GPU-s = 6 GPUs for the hour (utilization 1).
    # With 100 W idle per GPU and a fleet of 10 big GPUs, the objective does not price
    # GPUs, so the plan must report 6 powered GPUs, not the fleet's 10:
    # IT energy = dynamic above idle (7200 * (300 - 100 * 3) J = 0) + 6 GPUs * 0.1 kW * 1 h.
    options = micro_options.assign(idle_power_w=100.0)
    result = run(options, micro_workload, PlannerSettings(), fleet=fleet_of({"small": 10, "big": 10}))
    assert result.objective == pytest.approx(80.0, abs=1e-9)
    big = result.gpus_on[result.gpus_on["model"] == "big"]
    assert float(big["gpus_on"].iloc[0]) == pytest.approx(6.0, rel=1e-9)
    assert float(result.gpus_on[result.gpus_on["model"] == "small"]["gpus_on"].iloc[0]) == 0.0
    assert result.totals["it_energy_kwh"] == pytest.approx(0.6, rel=1e-9)
