"""Whole replicas per operating point, tied to the load: micro plans worked by hand.

One class, one model, one hour, two operating points:

* batch 1: 100 J, window 1 s (1 GPU-s per query): a replica serves at most 1 query/s;
* batch 4:  40 J, window 2 s (0.5 GPU-s per query): a replica serves at most
  ``4 / 2 = 2`` queries/s, and its batch forms only from ``0.7 * 4 / 2 = 1.4`` queries/s on
  (load x window >= 0.7 B, Little's law).

20 W idle per GPU (72,000 J per GPU-hour); the energy above idle is 80 J (batch 1)
and 30 J (batch 4) per query. Utilization 1, one GPU per replica, least IT energy at
the class's only accuracy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.plan.conftest import fleet_of
from tpf.domain import Facility, Grid, QueryClass, Workload
from tpf.errors import InfeasiblePlanError
from tpf.plan import PlannerSettings, plan
from tpf.plan.queueing import max_utilization, wait_quantile_s

J_PER_KWH = 3.6e6


def two_points(gpus_per_replica: float = 1.0) -> pd.DataFrame:
    rows = [(1.0, 100.0, 1.0), (4.0, 40.0, 2.0)]
    return pd.DataFrame([{
        "class_name": "A", "category": "A", "option_id": f"one/b{batch:g}", "model": "one", "hardware": "test-gpu",
        "strategy": "zero_shot", "budget_tokens": 0, "votes": 1, "accuracy": 0.5, "energy_j": energy_j,
        "gpu_s": window_s * gpus_per_replica / batch, "latency_s": window_s, "n_in_tokens": 100.0,
        "n_out_tokens": 1.0, "batch_size": batch, "idle_power_w": 20.0, "prefill_s": 0.1,
        "gpus_per_replica": gpus_per_replica} for batch, energy_j, window_s in rows])


def solve_at(rate_per_s: float, replicas: str = "integer", table: pd.DataFrame | None = None, gpus: int = 10):
    workload = Workload((QueryClass("A", "A", 100.0, (rate_per_s,)),), n_periods=1, period_s=3600.0)
    settings = PlannerSettings(objective="min_it_energy", accuracy_target=0.5, replicas=replicas)
    return plan(two_points() if table is None else table, workload, Facility((1.0,)), Grid((500.0,)),
                fleet_of({"one": gpus}), settings)


def test_low_load_cannot_form_batch_4_so_one_replica_serves_at_batch_1():
    # 1 query/s: batch 4 needs >= 1.4 queries/s per replica, so every query runs at batch 1 on one
    # replica: 3600 * 80 J + 72,000 J idle = 360,000 J = 0.1 kWh. The fractional relaxation prices
    # batch 4 on half a GPU: 3600 * 30 + 0.5 * 72,000 = 144,000 J = 0.04 kWh.
    result = solve_at(1.0)
    assert result.objective == pytest.approx(360_000 / J_PER_KWH, rel=1e-9)
    assert result.allocation["batch_size"].tolist() == [1.0]
    assert result.gpus_on["gpus_on"].tolist() == [1.0]
    assert result.gpus_on["replicas"].tolist() == [1.0]
    relaxed = solve_at(1.0, "relaxed")
    assert relaxed.objective == pytest.approx(144_000 / J_PER_KWH, rel=1e-9)
    assert relaxed.allocation["batch_size"].tolist() == [4.0]
    # the relaxation's 0.5 replica rounds up to one: 0.5 GPU * 20 W * 1 h = 10 Wh
    assert relaxed.solver_info["replica_rounding_gap_kwh"] == pytest.approx(0.01, rel=1e-9)


def test_higher_load_forms_batch_4_on_two_whole_replicas():
    # 3 queries/s: two batch-4 replicas at 1.5 queries/s each (batch formed 1.5 * 2 s = 3 >= 2.8):
    # 3 * 3600 * 30 J + 2 * 72,000 J = 468,000 J = 0.13 kWh. One batch-4 replica at 2/s plus one
    # batch-1 replica at 1/s would cost 3600 * (60 + 80) + 144,000 = 648,000 J.
    result = solve_at(3.0)
    assert result.objective == pytest.approx(468_000 / J_PER_KWH, rel=1e-9)
    (point,) = result.replicas.to_dict(orient="records")
    assert (point["batch_size"], point["replicas"], point["gpus_on"]) == (4.0, 2.0, 2.0)
    assert point["load_per_replica_per_s"] == pytest.approx(1.5)
    assert point["batch_formed"] == pytest.approx(3.0)
    # the relaxation: 1.5 GPUs, 324,000 + 108,000 J = 0.12 kWh
    assert solve_at(3.0, "relaxed").objective == pytest.approx(432_000 / J_PER_KWH, rel=1e-9)


def test_a_replica_of_two_gpus_powers_two():
    # one batch-1 replica of 2 GPUs: 3600 * (100 - 20 * 2) J + 2 * 72,000 J = 360,000 J
    result = solve_at(1.0, table=two_points(gpus_per_replica=2.0))
    assert result.objective == pytest.approx(360_000 / J_PER_KWH, rel=1e-9)
    assert result.gpus_on["gpus_on"].tolist() == [2.0]
    assert result.gpus_on["replicas"].tolist() == [1.0]


def test_planned_p99_latency_is_the_erlang_c_wait_plus_the_window():
    result = solve_at(3.0)
    (point,) = result.replicas.to_dict(orient="records")
    wait_s = float(wait_quantile_s([4], [1.5], [2.0])[0])
    assert point["e2e_p99_s"] == pytest.approx(wait_s + 2.0, rel=1e-12)
    assert point["ttft_p99_s"] == pytest.approx(wait_s + 0.1, rel=1e-12)
    assert result.gpus_on["ttft_p99_s"].tolist() == pytest.approx([wait_s + 0.1])
    # at the SLO's own utilization the p99 wait is the SLO less the prefill
    rho = float(max_utilization([4], [2.0], [0.1], 1.0)[0])
    assert float(wait_quantile_s([4], [rho * 4 / 2.0], [2.0])[0]) == pytest.approx(0.9, rel=1e-6)


def test_fleet_too_small_for_whole_replicas_names_the_hour_and_model():
    # 3.5 queries/s need two batch-4 replicas (or more); a fleet of one GPU is one short
    with pytest.raises(InfeasiblePlanError) as info:
        solve_at(3.5, gpus=1)
    assert "GPU fleet of model 'one' at 00:00 (period 0) short by 1 GPUs" in str(info.value)


def low_load_table() -> tuple[pd.DataFrame, Workload]:
    """Three classes over 24 hours at 0.05 .. 6 queries/s, operating points 1, 4, 16, 64."""
    rows = []
    for c in range(3):
        for batch in (1.0, 4.0, 16.0, 64.0):
            window_s = 0.5 * (1 + 0.02 * batch) * (1 + 0.3 * c)
            rows.append({"class_name": f"c{c}", "category": f"c{c}", "option_id": f"m/b{batch:g}", "model": "m",
                         "hardware": "test-gpu", "strategy": "zero_shot", "budget_tokens": 0, "votes": 1,
                         "accuracy": 0.5, "energy_j": 60.0 * (0.1 + 0.9 / batch ** 0.8), "gpu_s": window_s / batch,
                         "latency_s": window_s, "n_in_tokens": 100.0, "n_out_tokens": 50.0, "batch_size": batch,
                         "idle_power_w": 80.0, "prefill_s": 0.05})
    hours = np.arange(24)
    rates = 0.05 + 3.0 * (1 + np.sin(2 * np.pi * hours / 24))
    workload = Workload(tuple(QueryClass(f"c{c}", f"c{c}", 100.0, tuple((rates / (c + 1)).tolist()))
                              for c in range(3)), n_periods=24, period_s=3600.0)
    return pd.DataFrame(rows), workload


@pytest.mark.parametrize("objective", ["min_it_energy", "max_accuracy"])
def test_plan_at_low_load_never_prices_a_batch_its_load_cannot_form(objective):
    table, workload = low_load_table()
    settings = PlannerSettings(objective=objective, accuracy_target=0.5 if objective != "max_accuracy" else None)
    inputs = (table, workload, Facility((1.0,)), Grid((500.0,)), fleet_of({"m": 64}, utilization=0.8))
    result = plan(*inputs, settings)
    allocation = result.allocation
    above_lowest = allocation["batch_size"] > 1.0
    assert (allocation.loc[above_lowest, "batch_formed"]
            >= 0.7 * allocation.loc[above_lowest, "batch_size"] - 1e-6).all()
    assert (result.replicas["replicas"] == result.replicas["replicas"].round()).all()
    assert (result.gpus_on["gpus_on"] == result.gpus_on["gpus_on"].round()).all()
    # the check is not vacuous: the fractional relaxation prices batches that whole replicas
    # (its fractions rounded up) cannot form
    points = plan(*inputs, settings.with_changes(replicas="relaxed")).replicas
    whole = points["queries"] / 3600.0 / np.ceil(points["replicas"] - 1e-6) * points["window_s"]
    loose = points["batch_size"] > 1.0
    assert (whole[loose] < 0.7 * points.loc[loose, "batch_size"] - 1e-6).any()


def with_e2e_slo(table: pd.DataFrame, slo_s: float) -> pd.DataFrame:
    """The option table's ``e2e_max_utilization`` as build_options computes it (wait + window)."""
    return table.assign(e2e_max_utilization=max_utilization(table["batch_size"], table["latency_s"],
                                                            table["latency_s"], slo_s))


def test_e2e_slo_bounds_the_planned_p99_and_moves_the_load_to_more_replicas():
    # without an SLO: two batch-4 replicas at 1.5/s each, p99 end-to-end about 9.9 s
    free = solve_at(3.0)
    assert free.replicas["e2e_p99_s"].max() > 4.0
    bounded = solve_at(3.0, table=with_e2e_slo(two_points(), 4.0), gpus=40)
    assert (bounded.replicas["e2e_p99_s"] <= 4.0 + 1e-6).all()
    assert bounded.gpus_on["replicas"].iloc[0] > 2
    assert bounded.objective > free.objective
    with pytest.raises(InfeasiblePlanError) as info:   # the same SLO on 10 GPUs: the hour, model, GPUs short
        solve_at(3.0, table=with_e2e_slo(two_points(), 4.0), gpus=10)
    assert "GPU fleet of model 'one' at 00:00 (period 0) short by" in str(info.value)
