"""Deferrable classes: serve-hour columns, deadlines respected, backlog, diagnosis naming hours."""

from __future__ import annotations

import numpy as np
import pytest

from tests.plan.conftest import fleet_of, option_rows
from tpf.domain import Facility, Fleet, FleetEntry, Grid, QueryClass, Workload
from tpf.errors import InfeasiblePlanError
from tpf.plan import PlannerSettings, plan
from tpf.plan.defer import backlog_queries, late_queries

# 6 hours; the grid is dirty for the first 3 hours and clean after
CARBON = (800.0, 800.0, 800.0, 100.0, 100.0, 100.0)
OPTIONS = option_rows({"now": [("m", "m", 0.7, 360.0, 1.0)], "later": [("m", "m", 0.7, 360.0, 1.0)]})


def workload(deadline_h: float, rate_later: float = 1.0) -> Workload:
    return Workload((QueryClass("now", "now", 100.0, (1.0,)),
                     QueryClass("later", "later", 100.0, (rate_later,), deadline_h=deadline_h)),
                    n_periods=6, period_s=3600.0)


def min_carbon(wl: Workload, gpus: int = 100, facility: Facility | None = None):
    settings = PlannerSettings(objective="min_carbon", accuracy_target=0.5)
    return plan(OPTIONS, wl, facility or Facility((1.0,)), Grid(CARBON), fleet_of({"m": gpus}), settings)


def test_deferrable_queries_move_to_clean_hours_within_their_deadline():
    result = min_carbon(workload(deadline_h=2))
    alloc = result.allocation
    later = alloc[alloc["class_name"] == "later"]
    wait = later["period"] - later["arrival_period"]
    assert (wait >= 0).all() and (wait <= 2).all()
    assert late_queries(alloc, {"later": 2, "now": 0}) == 0.0
    # arrivals of hours 1 and 2 reach the clean hour 3; hour 0's cannot (deadline 2 h)
    served = later.groupby("arrival_period").apply(lambda g: set(g["period"]), include_groups=False)
    assert served[0] <= {0, 1, 2}
    assert served[1] == {3} and served[2] <= {3, 4}
    # the class that may not wait is served on arrival
    now = alloc[alloc["class_name"] == "now"]
    assert (now["period"] == now["arrival_period"]).all()
    # never dropped: every query is served exactly once
    assert later["queries"].sum() == pytest.approx(6 * 3600.0)


def test_deferral_saves_carbon_and_zero_deadline_equals_serving_on_arrival():
    on_arrival = min_carbon(workload(deadline_h=0))
    deferred = min_carbon(workload(deadline_h=24))
    assert (on_arrival.allocation["period"] == on_arrival.allocation["arrival_period"]).all()
    # 3 hours of "later" at 800 g/kWh move to 100 g/kWh: 3 * 3600 q * 360 J = 1.08 kWh * 0.7 kg/kWh
    saved = on_arrival.totals["carbon_kg"] - deferred.totals["carbon_kg"]
    assert saved == pytest.approx(3 * 3600 * 360 / 3.6e6 * 0.7, rel=1e-9)


def test_no_deferred_query_is_served_after_its_deadline_on_random_grids():
    rng = np.random.default_rng(7)
    for deadline_h in (1, 2, 4):
        grid = Grid(tuple(rng.uniform(50, 900, 6)))
        settings = PlannerSettings(objective="min_carbon", accuracy_target=0.5)
        result = plan(OPTIONS, workload(deadline_h), Facility((1.0,)), grid, fleet_of({"m": 3}), settings)
        assert late_queries(result.allocation, {"later": deadline_h, "now": 0}) == 0.0
        backlog = backlog_queries(result.allocation, 6)
        assert backlog[backlog["period"] == 5]["backlog_queries"].max() == pytest.approx(0.0, abs=1e-6)


def test_capacity_short_hours_are_named_in_the_diagnosis():
    # 1 GPU-s per query, 1 q/s per class -> 2 GPUs busy each hour; a fleet of 1 GPU cannot keep up,
    # and deferral cannot help because the horizon ends (deadline 1 h, 6 hours)
    with pytest.raises(InfeasiblePlanError) as info:
        min_carbon(workload(deadline_h=1), gpus=1)
    message = str(info.value)
    assert "GPU fleet" in message and "at 0" in message


def test_deferral_removes_an_infeasibility_that_serving_on_arrival_has():
    # hour 0 has 5 q/s of deferrable work, the others 1; 3 GPUs cannot serve 6 q/s in hour 0 on arrival
    rates = (5.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(InfeasiblePlanError):
        min_carbon(Workload((QueryClass("now", "now", 100.0, (1.0,)),
                             QueryClass("later", "later", 100.0, rates)), 6, 3600.0), gpus=3)
    result = min_carbon(Workload((QueryClass("now", "now", 100.0, (1.0,)),
                                  QueryClass("later", "later", 100.0, rates, deadline_h=3)), 6, 3600.0), gpus=3)
    assert late_queries(result.allocation, {"later": 3}) == 0.0


def test_bad_deadline_is_refused_with_its_field():
    with pytest.raises(Exception, match=r"deadline_h: must be a finite number of hours >= 0"):
        Workload((QueryClass("a", "a", 100.0, (1.0,), deadline_h=-1.0),), 1, 3600.0).validate()


def test_embodied_carbon_is_counted_per_powered_gpu_hour_and_priced_only_when_asked():
    # one class, two models: "lean" uses less energy but twice the GPU time of "fast"
    options = option_rows({"a": [("lean", "lean", 0.7, 300.0, 2.0), ("fast", "fast", 0.7, 360.0, 1.0)]})
    wl = Workload((QueryClass("a", "a", 100.0, (1.0,)),), 1, 3600.0)
    embodied = 0.5   # kg per GPU-hour, large enough to matter
    fleet = Fleet(tuple(FleetEntry(m, "test-gpu", 10, 1.0, embodied) for m in ("lean", "fast")))
    base = PlannerSettings(objective="min_carbon", accuracy_target=0.5)
    unpriced = plan(options, wl, Facility((1.0,)), Grid((100.0,)), fleet, base)
    priced = plan(options, wl, Facility((1.0,)), Grid((100.0,)), fleet, base.with_changes(price_embodied=True))
    assert set(unpriced.allocation["option_id"]) == {"lean"}
    assert set(priced.allocation["option_id"]) == {"fast"}
    for result in (unpriced, priced):
        gpu_hours = float(result.gpus_on["gpus_on"].sum())
        assert result.totals["embodied_kg"] == pytest.approx(embodied * gpu_hours, rel=1e-9)
    # 3600 queries * 2 GPU-s = 2 GPU-h (lean) vs 1 GPU-h (fast)
    assert unpriced.totals["embodied_kg"] == pytest.approx(2 * embodied, rel=1e-6)
    assert priced.totals["embodied_kg"] == pytest.approx(1 * embodied, rel=1e-6)


def test_a_deferrable_share_splits_every_class_and_tpf_plan_serves_it_within_its_deadline(tmp_path):
    from tpf.config.compose import compose
    from tpf.run import run_scenario

    config = compose(["workload=small", "workload.n_periods=6", "report=minimal", "grid=solar_heavy",
                      "planner=min_carbon", "workload.deferrable_share=0.5", "workload.deadline_h=3"])
    summary = run_scenario(config, "plan", "paper_l40s", tmp_path)
    assert summary["status"] == "optimal"
    import pandas as pd
    plan_csv = pd.read_csv(tmp_path / "plan.csv")
    deferred = plan_csv[plan_csv["class_name"].str.endswith("~deferred")]
    assert len(deferred) and set(plan_csv["class_name"]) >= {"math", "math~deferred"}
    wait = deferred["period"] - deferred["arrival_period"]
    assert wait.between(0, 3).all()
    now = plan_csv[~plan_csv["class_name"].str.endswith("~deferred")]
    assert (now["period"] == now["arrival_period"]).all()
