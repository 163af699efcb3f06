"""Integer-GPU plans (MILP): shadow prices from the LP with the GPU counts fixed, worked by hand.

Micro instance: classes A, B (3600 queries each, one hour) on one model, options
small (100 J, 1 GPU-s) and big (300 J, 3 GPU-s); 20 W idle per GPU, so the energy
above idle is 80 J (small) and 240 J (big): an upgrade to big costs 160 J above
idle and 2 GPU-s; it gains 0.4 (A) or 0.1 (B) accuracy, 1/180 accuracy points per
A-upgrade. u = number of upgrades (A first); GPUs needed n >= (7200 + 2u) / 3600.
IT energy (J) = 7200 * 80 + 160 u + 72000 n (72000 J = 20 W for an hour).
"""

from __future__ import annotations

import pyomo.environ as pyo
import pytest

from tests.plan.conftest import fleet_of, option_rows
from tpf.domain import Facility, Grid, QueryClass, Workload
from tpf.plan import PlannerSettings, build_model, pareto_front, plan, solve
from tpf.plan.solve import FIXED_LP

WORKLOAD = Workload((QueryClass("A", "A", 100.0, (1.0,)), QueryClass("B", "B", 100.0, (1.0,))),
                    n_periods=1, period_s=3600.0)
GRID = Grid((500.0,))


@pytest.fixture
def one_model():
    return option_rows({
        "A": [("small", "one", 0.5, 100.0, 1.0), ("big", "one", 0.9, 300.0, 3.0)],
        "B": [("small", "one", 0.6, 100.0, 1.0), ("big", "one", 0.7, 300.0, 3.0)],
    }).assign(idle_power_w=20.0)


def test_facility_power_binding_with_integer_gpus(one_model):
    # PUE 1.5, cap 0.525 kW facility = 0.35 kWh IT in the hour = 1,260,000 J.
    # LP: n = 2 + u/1800, energy 720000 + 200 u -> u = 2700, 70 points; one facility kW
    #   = 2.4e6 J IT = 12000 upgrades at 200 J -> 12000/180 = 66.667 points per kW.
    # MILP: n = 3 allows u <= 1800 (GPU-bound); n = 4: 576000 + 160 u + 288000 <= 1260000
    #   -> u = 2475 (all A), (1800 + 990 + 2160) / 72 = 68.75 points; facility power binds.
    # Fixed LP (n = 4): one facility kW = 2.4e6 J = 15000 upgrades at 160 J above idle
    #   -> 15000 / 180 = 83.333 points per kW.
    facility, fleet = Facility((1.5,), power_cap_w=525.0), fleet_of({"one": 10})
    relaxed = plan(one_model, WORKLOAD, facility, GRID, fleet, PlannerSettings(replicas="relaxed"))
    assert relaxed.objective == pytest.approx(70.0, abs=1e-7)
    assert relaxed.shadow_prices["facility_power_cap[0]"] == pytest.approx(200.0 / 3.0, rel=1e-7)
    result = plan(one_model, WORKLOAD, facility, GRID, fleet, PlannerSettings(integer_gpus=True))
    assert result.objective == pytest.approx(68.75, abs=1e-7)
    assert result.solver_info["duals_from"] == FIXED_LP == "lp with integer gpus fixed"
    assert result.solver_info["mip_objective"] == pytest.approx(68.75, abs=1e-4)
    assert result.gpus_on["gpus_on"].tolist() == [4.0]
    assert result.binding_constraints == ["facility_power_cap[0]"]
    assert result.shadow_prices["facility_power_cap[0]"] == pytest.approx(250.0 / 3.0, rel=1e-7)
    assert result.shadow_prices["gpu_capacity[one,0]"] == 0.0   # 4 of 10 GPUs on
    assert result.totals["peak_facility_kw"] == pytest.approx(0.525, rel=1e-9)


def test_accuracy_target_price_with_integer_gpus(one_model):
    # min IT energy at accuracy 0.60: all-small is 0.55; +0.05 * 7200 = 360 correct answers
    # = 900 A-upgrades (0.4 each).
    # GPUs: (7200 + 1800) / 3600 = 2.5 -> 3 integer; energy 576000 + 144000 + 216000 = 936000 J
    # = 0.26 kWh (LP: n = 2.5, 0.25 kWh). One accuracy point = 72 correct = 180 upgrades:
    # fixed LP 180 * 160 J = 0.008 kWh per point (LP: 180 * 200 J = 0.01 kWh).
    settings = PlannerSettings(objective="min_it_energy", accuracy_target=0.60, integer_gpus=True)
    result = plan(one_model, WORKLOAD, Facility((1.0,)), GRID, fleet_of({"one": 10}), settings)
    assert result.objective == pytest.approx(0.26, rel=1e-9)
    assert result.gpus_on["gpus_on"].tolist() == [3.0]
    assert result.binding_constraints == ["accuracy_target"]
    assert result.shadow_prices["accuracy_target"] == pytest.approx(0.008, rel=1e-7)
    relaxed = plan(one_model, WORKLOAD, Facility((1.0,)), GRID, fleet_of({"one": 10}),
                   settings.with_changes(integer_gpus=False, replicas="relaxed"))
    assert relaxed.objective == pytest.approx(0.25, rel=1e-9)
    assert relaxed.shadow_prices["accuracy_target"] == pytest.approx(0.01, rel=1e-7)


def test_fleet_at_its_size_is_priced_by_one_more_gpu(micro_options, micro_workload):
    # big has 3 GPUs = 3600 big queries: all of A, none of B -> 75 points (integer already).
    # With the count fixed at the fleet's 3, one more big GPU serves 1200 B-upgrades:
    # 0.1 * 1200 / 7200 -> 1.667 points per GPU, as in the LP.
    result = plan(micro_options, micro_workload, Facility((1.0,)), GRID,
                  fleet_of({"small": 3, "big": 3}), PlannerSettings(integer_gpus=True))
    assert result.objective == pytest.approx(75.0, abs=1e-7)
    assert result.binding_constraints == ["gpu_capacity[big,0]"]
    assert result.shadow_prices["gpu_capacity[big,0]"] == pytest.approx(100.0 / 60.0, rel=1e-7)


def test_model_stays_a_milp_and_resolves_the_same(one_model):
    model = build_model(one_model, WORKLOAD, Facility((1.5,), power_cap_w=525.0), GRID,
                        fleet_of({"one": 10}), PlannerSettings(integer_gpus=True))
    first = solve(model, baselines=False)
    for var in model.model.gpus_on.values():
        assert not var.fixed and var.domain is pyo.NonNegativeIntegers
    assert not hasattr(model.model, "dual")
    second = solve(model, baselines=False)
    assert second.objective == pytest.approx(first.objective, abs=1e-9)
    assert second.shadow_prices == pytest.approx(first.shadow_prices)


def test_integer_pareto_front_reports_prices_and_binding_rows(micro_options, micro_workload):
    # No idle power: GPU counts do not touch energy, so the front is the LP's (see test_micro).
    front = pareto_front(micro_options, micro_workload, Facility((1.0,)), GRID,
                         fleet_of({"small": 10, "big": 10}), PlannerSettings(integer_gpus=True),
                         axis="it_energy", n_points=5)
    assert front["accuracy"].tolist() == pytest.approx([0.55, 0.65, 0.75, 0.775, 0.8], abs=1e-8)
    assert front["shadow_price"].iloc[1] == pytest.approx(100.0, rel=1e-7)
    assert front["shadow_price"].iloc[3] == pytest.approx(25.0, rel=1e-7)
    assert (front["binding_constraints"].iloc[:4] == "it_energy_horizon").all()
