"""Building policies from hand-made plans: schedules, bands, expectations, refusals."""

from __future__ import annotations

import pandas as pd
import pytest

from tpf.domain import QueryClass
from tpf.errors import PolicyError
from tpf.policy import Policy
from tpf.policy.build import (
    ClassSpec,
    class_specs_from_workload,
    expectations_from_plan,
    hours_of_period,
    policy_from_plan,
    policy_from_plan_result,
)


def test_hourly_schedule_groups_equal_hours(policy: Policy) -> None:
    short = policy.classes[0]
    assert short.name == "math-short"
    assert sorted(len(e.hours) for e in short.by_hour) == [11, 13]
    assert sorted(h for e in short.by_hour for h in e.hours) == list(range(24))
    # constant classes carry no schedule
    assert policy.classes[1].by_hour == () and policy.classes[1].by_carbon == ()


def test_carbon_bands_split_at_the_midpoint(policy: Policy) -> None:
    bands = policy.classes[0].by_carbon
    assert [(b.min_g_per_kwh, b.max_g_per_kwh) for b in bands] == [(0.0, 300.0), (300.0, None)]
    low = {c.decision.option_id: c.weight for c in bands[0].choices}
    assert low["m8-cot512"] == pytest.approx(0.55)


def test_expectations_by_hand(allocation: pd.DataFrame, options_table: pd.DataFrame,
                              carbon_profile: list[float]) -> None:
    expected = expectations_from_plan(allocation, options_table, pue=1.3, carbon_g_per_kwh=carbon_profile)
    other = expected["other"]
    assert other.accuracy == pytest.approx(0.60)
    assert other.energy_j_per_query == pytest.approx(200.0)
    # 200 J IT * PUE 1.3 = 260 J = 7.222e-5 kWh; mean intensity (11*150 + 13*450)/24 = 312.5 g/kWh
    assert other.carbon_g_per_query == pytest.approx(260.0 / 3.6e6 * 312.5)
    assert other.queries == pytest.approx(24 * 300.0)
    long = expected["math-long"]
    assert long.accuracy == pytest.approx(0.8 * 0.75 + 0.2 * 0.55)


def test_zero_shot_budget_and_dropped_noise(allocation: pd.DataFrame, specs: list[ClassSpec]) -> None:
    noisy = pd.concat([allocation, pd.DataFrame([{
        "class_name": "other", "period": 0, "option_id": "m70-zs", "model": "llama-70b", "hardware": "L40S",
        "strategy": "zero_shot", "budget_tokens": 0, "votes": 1, "share": 1e-13, "queries": 3e-11}])],
        ignore_index=True)
    policy = policy_from_plan(noisy, specs, zero_shot_max_new_tokens=4, default_category="other")
    other = policy.classes[2]
    assert [(c.weight, c.decision.model, c.decision.max_new_tokens) for c in other.choices] == [
        (1.0, "llama-8b", 4)]


def test_default_category_is_the_busiest(allocation: pd.DataFrame, specs: list[ClassSpec]) -> None:
    assert policy_from_plan(allocation, specs).default_category == "math"


def test_refusals_name_the_problem(allocation: pd.DataFrame, specs: list[ClassSpec]) -> None:
    with pytest.raises(PolicyError, match="missing column 'queries'"):
        policy_from_plan(allocation.drop(columns="queries"), specs)
    with pytest.raises(PolicyError, match="class 'other' has no class metadata"):
        policy_from_plan(allocation, specs[:2])
    with pytest.raises(PolicyError, match="class 'extra' has no allocation rows"):
        policy_from_plan(allocation, [*specs, ClassSpec("extra", "law")])
    bad = allocation.copy()
    bad.loc[3, "share"] = -0.5
    with pytest.raises(PolicyError, match="allocation row 3, column share: must be a number >= 0"):
        policy_from_plan(bad, specs)
    cot = allocation.copy()
    cot.loc[0, "budget_tokens"] = 0
    with pytest.raises(PolicyError, match="strategy cot needs budget_tokens > 0"):
        policy_from_plan(cot, specs)
    with pytest.raises(PolicyError, match="declared model"):
        policy_from_plan(allocation, specs, models=["llama-8b"])


def test_class_with_zero_queries_uses_shares(allocation: pd.DataFrame, specs: list[ClassSpec]) -> None:
    quiet = allocation.copy()
    quiet.loc[quiet["class_name"] == "math-long", "queries"] = 0.0
    policy = policy_from_plan(quiet, specs)
    weights = {c.decision.option_id: c.weight for c in policy.classes[1].choices}
    assert weights == pytest.approx({"m70-zs": 0.8, "m8-zs": 0.2})


def test_specs_from_workload_buckets_at_midpoints() -> None:
    classes = [QueryClass("m-long", "math", 3000.0, (1.0,)), QueryClass("m-short", "math", 200.0, (1.0,)),
               QueryClass("m-mid", "math", 1000.0, (1.0,)), QueryClass("law", "law", 500.0, (1.0,))]
    specs = {s.name: s for s in class_specs_from_workload(classes)}
    assert specs["m-short"] == ClassSpec("m-short", "math", 0, 600)
    assert specs["m-mid"] == ClassSpec("m-mid", "math", 600, 2000)
    assert specs["m-long"] == ClassSpec("m-long", "math", 2000, None)
    assert specs["law"] == ClassSpec("law", "law", 0, None)


def test_hours_of_period() -> None:
    assert hours_of_period(5) == [5]
    assert hours_of_period(29) == [5]  # second day
    assert hours_of_period(1, period_s=6 * 3600) == [6, 7, 8, 9, 10, 11]
    assert hours_of_period(3, period_s=900) == [0]


def test_four_periods_of_six_hours(specs: list[ClassSpec]) -> None:
    rows = [(c, t, o, m, "L40S", "zero_shot", 0, 1, s, s * 10)
            for t in range(4)
            for c, o, m, s in [("math-short", "a", "x", 1.0 if t < 2 else 0.0),
                               ("math-short", "b", "y", 0.0 if t < 2 else 1.0),
                               ("math-long", "a", "x", 1.0), ("other", "a", "x", 1.0)]]
    table = pd.DataFrame(rows, columns=["class_name", "period", "option_id", "model", "hardware", "strategy",
                                        "budget_tokens", "votes", "share", "queries"])
    policy = policy_from_plan(table, specs, period_s=6 * 3600)
    entries = {e.choices[0].decision.model: e.hours for e in policy.classes[0].by_hour}
    assert entries == {"x": tuple(range(12)), "y": tuple(range(12, 24))}


def test_from_plan_result_records_status(allocation: pd.DataFrame, specs: list[ClassSpec]) -> None:
    class Result:
        status = "optimal"
        objective = 0.731
        allocation = None

    result = Result()
    result.allocation = allocation
    policy = policy_from_plan_result(result, specs, scenario="paper_l40s")
    assert (policy.provenance.plan_status, policy.provenance.plan_objective) == ("optimal", 0.731)
    assert policy.provenance.scenario == "paper_l40s"
    assert policy.provenance.created_utc.endswith("Z")


def test_partial_day_plan_fills_other_hours_with_the_all_day_split(specs: list[ClassSpec]) -> None:
    rows = [(c, t, o, m, "L40S", "zero_shot", 0, 1, s, s * 10)
            for t in (12, 13, 14)
            for c, o, m, s in [("math-short", "a", "x", 1.0 if t == 14 else 0.0),
                               ("math-short", "b", "y", 0.0 if t == 14 else 1.0),
                               ("math-long", "a", "x", 1.0), ("other", "a", "x", 1.0)]]
    table = pd.DataFrame(rows, columns=["class_name", "period", "option_id", "model", "hardware", "strategy",
                                        "budget_tokens", "votes", "share", "queries"])
    short = policy_from_plan(table, specs).classes[0]
    assert [(c.decision.model, c.weight) for c in short.choices] == [("y", pytest.approx(2 / 3)),
                                                                      ("x", pytest.approx(1 / 3))]
    by_hours = {e.hours: [c.decision.model for c in e.choices] for e in short.by_hour}
    assert by_hours == {(12, 13): ["y"], (14,): ["x"],
                        tuple(h for h in range(24) if h not in (12, 13, 14)): ["y", "x"]}
