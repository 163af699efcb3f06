"""The fluid engine drawing, routing and accounting synthetic requests period by period
gives the results of the materialized path for the same seed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tpf.config.build import build_inputs
from tpf.config.compose import compose
from tpf.domain import QueryClass, Workload
from tpf.run import steps
from tpf.run.scenario import PolicyRun, Problem, RequestPeriods, SimulationRun, scenario_requests
from tpf.simulate.accounting import HourlyLedger
from tpf.simulate.workload import concat_batches, synthetic_request_periods, synthetic_requests

WORKLOAD = Workload((QueryClass("a", "math", 100.0, (2.0, 0.5, 1.0)), QueryClass("b", "law", 50.0, (1.0,), 3.0)),
                    n_periods=3)


@pytest.mark.parametrize(("burst_cv", "length_cv"), [(0.0, 0.0), (1.0, 0.5)])
def test_periods_are_the_whole_draw_cut_by_period(burst_cv, length_cv):
    whole = synthetic_requests(WORKLOAD, seed=7, burst_cv=burst_cv, length_cv=length_cv)
    periods = list(synthetic_request_periods(WORKLOAD, seed=7, burst_cv=burst_cv, length_cv=length_cv))
    assert len(periods) == WORKLOAD.n_periods
    assert all(np.all(p.arrival_s // WORKLOAD.period_s == i) for i, p in enumerate(periods))
    joined = concat_batches(periods)
    for field in dataclasses.fields(whole):
        mine, theirs = getattr(joined, field.name), getattr(whole, field.name)
        assert np.array_equal(mine, theirs) if isinstance(theirs, np.ndarray) else mine == theirs, field.name


def test_counted_latencies_give_numpys_quantiles():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 400))
        latency = np.round(rng.exponential(1.0, n), int(rng.integers(0, 3)))
        bins = rng.integers(0, 3, n) * 60 + rng.integers(0, 60, n)
        ledgers = [HourlyLedger(3, 60.0), HourlyLedger(3, 60.0, compress=True)]
        for ledger in ledgers:
            for part in (slice(0, n // 2), slice(n // 2, n)):
                ones = np.ones(len(latency[part]))
                ledger.add_queries(bins[part], latency[part], ones, ones, ones)
        plain, counted = (ledger.finish(400.0, 1.3, "fluid") for ledger in ledgers)
        pd.testing.assert_frame_equal(plain.hourly, counted.hourly, check_exact=True)
        assert plain.totals == counted.totals


def test_streamed_simulation_matches_the_materialized_one(tmp_path):
    config = compose(["scenario=capacity", "report=minimal", "workload.total_rate_per_s=3"])
    inputs = build_inputs(config)
    problem = Problem.of(inputs)
    outcome = steps.plan_step(problem, config.planner, tmp_path)
    periods = scenario_requests(config, inputs)
    assert isinstance(periods, RequestPeriods)
    whole = concat_batches(list(periods.periods()))
    policy = PolicyRun("capacity", config.workload.start_hour)
    runs = [SimulationRun(r, "fluid", config.planner.batch_size, policy) for r in (periods, whole)]
    streamed, materialized = (steps.simulate_step(problem, run, outcome) for run in runs)
    assert materialized.totals["served_queries"] == len(whole) > 0
    pd.testing.assert_frame_equal(streamed.hourly, materialized.hourly, check_exact=False, rtol=1e-12, atol=0)
    for column in ("served_queries", "output_tokens", "latency_p50_s", "latency_p95_s", "latency_p99_s"):
        assert streamed.hourly[column].equals(materialized.hourly[column]), column
    # the stream keeps no per-query times to first token; every total it has is the materialized one
    assert set(materialized.totals) - set(streamed.totals) == {"ttft_p50_s", "ttft_p99_s"}
    assert streamed.totals == pytest.approx({k: materialized.totals[k] for k in streamed.totals}, rel=1e-12, abs=0)
