"""Property tests (loosening a cap never lowers the optimum; the LP beats every feasible
baseline), brute-force optimality, and column generation reaching the full LP's optimum."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.plan.conftest import fleet_of
from tpf.domain import Facility, Fleet, Grid, QueryClass, Workload
from tpf.errors import InfeasiblePlanError
from tpf.plan import PlannerSettings, build_model, plan, solve
from tpf.plan.data import prepare
from tpf.plan.highs_direct import solve_lp
from tpf.plan.lp import build_lp


def random_instance(seed: int, n_classes: int, n_options: int, n_periods: int):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_classes):
        for o in range(n_options):
            rows.append({"class_name": f"c{c}", "category": f"c{c}", "option_id": f"o{o}",
                         "model": f"m{o % 2}", "hardware": "g", "strategy": "zero_shot",
                         "budget_tokens": 0, "votes": 1, "accuracy": rng.uniform(0.2, 0.95),
                         "energy_j": rng.uniform(50, 500), "gpu_s": rng.uniform(0.1, 2.0),
                         "latency_s": 1.0, "n_in_tokens": 100.0, "n_out_tokens": 1.0})
    classes = tuple(QueryClass(f"c{c}", f"c{c}", 100.0, tuple(rng.uniform(0.2, 2.0, n_periods)))
                    for c in range(n_classes))
    workload = Workload(classes, n_periods=n_periods, period_s=3600.0)
    grid = Grid(tuple(rng.uniform(100, 600, n_periods)))
    return pd.DataFrame(rows), workload, grid


def caps_between(options, workload, grid, fraction):
    """An IT-energy cap and carbon budget `fraction` of the way from least to most energy."""
    low = plan(options, workload, Facility((1.2,)), grid, Fleet(()),
               PlannerSettings(objective="min_it_energy", accuracy_target=0.0), baselines=False)
    high = plan(options, workload, Facility((1.2,)), grid, Fleet(()), PlannerSettings(), baselines=False)
    lo, hi = low.totals, high.totals
    return (lo["it_energy_kwh"] + fraction * (hi["it_energy_kwh"] - lo["it_energy_kwh"]),
            lo["carbon_kg"] + fraction * (hi["carbon_kg"] - lo["carbon_kg"]))


CAP_FIELDS = ("it_energy_kwh_total", "carbon_budget_kg", "it_energy_kwh_per_period", "it_power_w")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cap=st.sampled_from(CAP_FIELDS),
       fraction=st.floats(0.1, 0.8), loosen=st.floats(1.01, 2.0))
def test_loosening_a_cap_never_lowers_the_optimum(seed, cap, fraction, loosen):
    options, workload, grid = random_instance(seed, 3, 4, 2)
    energy_kwh, carbon_kg = caps_between(options, workload, grid, fraction)
    value = {"it_energy_kwh_total": energy_kwh, "carbon_budget_kg": carbon_kg,
             "it_energy_kwh_per_period": energy_kwh / 1.5, "it_power_w": 1000 * energy_kwh / 1.5}[cap]
    results = []
    for factor in (1.0, loosen):
        try:
            results.append(plan(options, workload, Facility((1.2,)), grid, Fleet(()),
                                PlannerSettings(**{cap: value * factor}), baselines=False).objective)
        except InfeasiblePlanError:
            results.append(-np.inf)
    assert results[1] >= results[0] - 1e-9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lp_optimum_at_least_every_feasible_baseline(seed):
    options, workload, grid = random_instance(seed, 4, 4, 3)
    energy_kwh, _ = caps_between(options, workload, grid, 0.5)
    result = plan(options, workload, Facility((1.2,)), grid, Fleet(()),
                  PlannerSettings(it_energy_kwh_total=energy_kwh))
    feasible = result.baselines[result.baselines["meets_constraints"]]
    assert len(result.baselines) >= 3
    assert (100 * feasible["accuracy"] <= result.objective + 1e-7).all()


def brute_force_max_accuracy(options, demand, energy_cap_kwh, carbon_cap_kg, kg_per_kwh):
    """Enumerate every basis of the standard-form LP (shares, two slacks) and keep the best vertex."""
    classes = sorted(options["class_name"].unique())
    cols = list(options.itertuples())
    n_rows, n_cols = len(classes) + 2, len(cols) + 2
    matrix = np.zeros((n_rows, n_cols))
    gain = np.zeros(n_cols)
    total = sum(demand.values())
    for j, row in enumerate(cols):
        i = classes.index(row.class_name)
        matrix[i, j] = 1.0
        kwh = demand[row.class_name] * row.energy_j / 3.6e6
        matrix[len(classes), j] = kwh
        matrix[len(classes) + 1, j] = kwh * kg_per_kwh
        gain[j] = 100 * demand[row.class_name] * row.accuracy / total
    matrix[len(classes), len(cols)] = matrix[len(classes) + 1, len(cols) + 1] = 1.0
    rhs = np.concatenate([np.ones(len(classes)), [energy_cap_kwh, carbon_cap_kg]])
    best = -np.inf
    for basis in itertools.combinations(range(n_cols), n_rows):
        sub = matrix[:, basis]
        if abs(np.linalg.det(sub)) < 1e-12:
            continue
        values = np.linalg.solve(sub, rhs)
        if (values >= -1e-9).all():
            best = max(best, float(gain[list(basis)] @ values))
    return best


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_planner_matches_brute_force(seed):
    options, workload, _ = random_instance(seed, 3, 3, 1)
    grid = Grid((450.0,))
    energy_kwh, carbon_kg = caps_between(options, workload, grid, 0.6)
    carbon_kg *= 0.95   # make both caps matter
    result = plan(options, workload, Facility((1.2,)), grid, Fleet(()),
                  PlannerSettings(it_energy_kwh_total=energy_kwh, carbon_budget_kg=carbon_kg),
                  baselines=False)
    demand = {c.name: c.rate_per_s[0] * 3600.0 for c in workload.classes}
    expected = brute_force_max_accuracy(options, demand, energy_kwh, carbon_kg, 1.2 * 450 / 1000)
    assert result.objective == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("objective", ["max_accuracy", "min_carbon"])
def test_column_generation_and_direct_highspy_reach_the_full_optimum(objective):
    options, workload, grid = random_instance(5, 30, 12, 6)
    energy_kwh, carbon_kg = caps_between(options, workload, grid, 0.4)
    base = PlannerSettings(objective=objective, accuracy_target=None if objective == "max_accuracy"
                           else 0.6, it_energy_kwh_per_period=energy_kwh / 4, carbon_budget_kg=carbon_kg * 1.1,
                           replicas="relaxed")   # column generation is for LPs
    fleet = fleet_of({"m0": 40, "m1": 40}, utilization=0.8)
    inputs = (options, workload, Facility((1.3,), power_cap_w=1e5), grid, fleet)
    full = solve(build_model(*inputs, base.with_changes(column_generation="off")), baselines=False)
    reduced_model = build_model(*inputs, base.with_changes(column_generation="on"))
    reduced = solve(reduced_model, baselines=False)
    direct = solve_lp(build_lp(prepare(*inputs, base)))
    assert reduced_model.restricted
    assert reduced.objective == pytest.approx(full.objective, rel=1e-6)
    assert direct.objective == pytest.approx(full.objective, rel=1e-6)
    assert reduced.totals["accuracy"] == pytest.approx(full.totals["accuracy"], abs=1e-6)
