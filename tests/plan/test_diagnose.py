"""Infeasibility diagnosis: engines agree, pruning and column generation keep it exact,
messages in user units with the period named as clock time."""

from __future__ import annotations

import numpy as np
import pytest

from tests.plan.conftest import fleet_of, option_rows
from tests.plan.test_properties import random_instance
from tpf.domain import Facility, Fleet, Grid, QueryClass, Workload
from tpf.errors import ConfigError, InfeasiblePlanError
from tpf.plan import PlannerSettings, build_model, diagnose, solve
from tpf.plan.diagnose import _where, when


def relaxation(model, shortfalls) -> float:
    """The elastic objective: sum of shortfall / max(|rhs|, 1e-6) in row units."""
    rhs = {(b.name, label): abs(b.rhs[i]) for b in model.blocks for i, label in enumerate(b.labels)}
    return sum((s.shortfall / (100.0 if s.unit == "accuracy points" else 1.0))
               / max(rhs[(s.constraint, s.label)], 1e-6) for s in shortfalls)


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_engines_pruning_and_column_generation_agree(seed):
    options, workload, grid = random_instance(seed, 4, 5, 3)
    rng = np.random.default_rng(seed)
    fleet = fleet_of({"m0": 1, "m1": 1}, utilization=0.5)
    settings = PlannerSettings(carbon_budget_kg=float(rng.uniform(0.01, 0.05)),
                               accuracy_target=0.9, it_power_w=float(rng.uniform(50, 150)))
    facility = Facility((1.3,), power_cap_w=float(rng.uniform(100, 200)))
    totals = []
    for prune in (True, False):
        model = build_model(options, workload, facility, grid, fleet,
                            settings.with_changes(prune_dominated=prune, column_generation="off"))
        for engine in ("direct", "column_generation", "pyomo"):
            shortfalls = diagnose(model, engine=engine)
            assert shortfalls, engine
            totals.append(relaxation(model, shortfalls))
    assert totals == pytest.approx([totals[0]] * len(totals), rel=1e-6)


def test_column_generation_proves_infeasible_without_solving_the_model(micro_options, micro_workload):
    # all-small needs 0.2 kWh * 1.5 * 0.5 kg/kWh = 0.15 kg: a 0.1 kg budget is 0.05 kg short
    settings = PlannerSettings(carbon_budget_kg=0.1, column_generation="on")
    model = build_model(micro_options, micro_workload, Facility((1.5,)), Grid((500.0,)), Fleet(()),
                        settings)
    assert model.column_generation is not None and not model.column_generation.feasible
    with pytest.raises(InfeasiblePlanError) as info:
        solve(model)
    assert "solve" not in model.timings_s           # diagnosed without solving the Pyomo model
    (shortfall,) = info.value.diagnosis
    assert shortfall.message == "carbon budget short by 0.05 kgCO2"
    assert shortfall.shortfall == pytest.approx(0.05, rel=1e-7)


def test_integer_gpus_infeasible_where_the_lp_is_not():
    # 1800 queries of 100 J (80 J above 20 W idle), 1 GPU-s each: 0.5 GPU-h.
    # LP: 144000 J + 0.5 GPU * 72000 J = 180000 J = 0.05 kW under a 0.055 kW cap.
    # Integer: one GPU -> 144000 + 72000 = 216000 J = 0.06 kW: short by 0.005 kW.
    options = option_rows({"A": [("small", "one", 0.5, 100.0, 1.0)]}).assign(idle_power_w=20.0)
    workload = Workload((QueryClass("A", "A", 100.0, (0.5,)),), n_periods=1, period_s=3600.0)
    inputs = (options, workload, Facility((1.0,), power_cap_w=55.0), Grid((500.0,)), fleet_of({"one": 2}))
    relaxed = PlannerSettings(replicas="relaxed")   # fractional GPUs: the LP
    assert solve(build_model(*inputs, relaxed)).totals["peak_facility_kw"] == pytest.approx(0.05)
    with pytest.raises(InfeasiblePlanError) as info:
        solve(build_model(*inputs, PlannerSettings(integer_gpus=True)))
    (shortfall,) = info.value.diagnosis
    assert shortfall.message == "facility power at 00:00 (period 0) short by 0.005 kW"


def test_accuracy_shortfall_in_points_not_the_fleet(micro_options, micro_workload):
    # Accuracy 0.8 needs everything on big (6 big GPUs); the fleet has 4 = 4800 big queries:
    # all of A and 1200 of B -> (3240 + 840 + 1440) / 7200 = 0.7667, 3.333 points short.
    # Relaxing the target (3.333 / 80 = 4 %) is cheaper than the fleet (2 / 4 GPUs = 50 %).
    with pytest.raises(InfeasiblePlanError) as info:
        solve(build_model(micro_options, micro_workload, Facility((1.0,)), Grid((500.0,)),
                          fleet_of({"small": 4, "big": 4}), PlannerSettings(accuracy_target=0.8)))
    (shortfall,) = info.value.diagnosis
    assert shortfall.message == "accuracy target short by 3.333 accuracy points"
    assert shortfall.shortfall == pytest.approx(10.0 / 3.0, rel=1e-7)


def test_fleet_label_names_model_and_hour():
    assert _where("gpu_capacity", "big,14", 3600.0, 24) == " of model 'big' at 14:00 (period 14)"
    assert _where("accuracy_floors", "math", 3600.0, 24) == " of class 'math'"


def test_hour_of_a_multi_day_horizon(micro_options):
    # 48 hours, demand only in hour 38 (day 2, 14:00): all-small needs 0.2 kWh = 0.2 kW facility
    rate = tuple(1.0 if t == 38 else 0.0 for t in range(48))
    workload = Workload((QueryClass("A", "A", 100.0, rate), QueryClass("B", "B", 100.0, rate)),
                        n_periods=48, period_s=3600.0)
    with pytest.raises(InfeasiblePlanError) as info:
        solve(build_model(micro_options, workload, Facility((1.0,), power_cap_w=150.0),
                          Grid((500.0,) * 48), Fleet(()), PlannerSettings()))
    assert "facility power on day 2 at 14:00 (period 38) short by 0.05 kW" in str(info.value)


def test_clock_time_of_periods():
    assert when(14, 3600.0, 24) == " at 14:00 (period 14)"
    assert when(5, 900.0, 96) == " at 01:15 (period 5)"
    assert when(97, 900.0, 192) == " on day 2 at 00:15 (period 97)"
    assert when(3, 7000.0, 10) == " in period 3"


def test_unknown_engine_is_a_config_error(micro_options, micro_workload):
    model = build_model(micro_options, micro_workload, Facility((1.0,)), Grid((500.0,)), Fleet(()))
    with pytest.raises(ConfigError, match="diagnose engine"):
        diagnose(model, engine="magic")
