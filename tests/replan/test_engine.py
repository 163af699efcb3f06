"""Rolling re-planning: exact accounting, deadlines kept, nothing dropped, one-hour oracle = on arrival."""

from __future__ import annotations

import numpy as np
import pytest

from tpf.replan.engine import Span, run_policies, run_policy, serve_on_arrival
from tpf.replan.forecast import forecast_window
from tpf.replan.window import WindowSpec

N_HOURS = 96
HOURS = np.arange(N_HOURS + 48)
#: a diurnal grid: clean around 12:00, dirty at night
CARBON = 300.0 + 200.0 * np.cos(2 * np.pi * (HOURS - 12) / 24 + np.pi)


def spec(deadline_h: int, horizon_h: int = 24, gpus: float = 100.0, cap_kw: float | None = None) -> WindowSpec:
    # class 0 served on arrival, class 1 deferrable; one model; 1 query = 1e-4 kWh, 1e-3 GPU-h
    return WindowSpec(horizon_h, np.array([0, deadline_h]), np.array([1e-4, 1e-4]), np.array([[1e-3], [1e-3]]),
                      idle_kw=np.array([0.05]), utilization=np.array([0.8]), fleet_gpus=np.array([gpus]),
                      pue=1.2, power_cap_kw=cap_kw, embodied_kg_per_gpu_h=np.array([0.00726]))


def span(rate: float = 1000.0) -> Span:
    profile = 1.0 + 0.5 * np.sin(2 * np.pi * HOURS / 24)
    arrivals = np.stack([rate * profile, rate * profile])
    return Span(CARBON, arrivals, np.array([0.6, 0.7]), N_HOURS)


def check_accounting(run, sp: WindowSpec, s: Span) -> None:
    h = run.hourly
    served = run.served_by_class
    it_kwh = served @ sp.energy_kwh_per_query + h["gpus_on"].to_numpy() * sp.idle_kw[0]
    np.testing.assert_allclose(h["it_energy_kwh"], it_kwh, rtol=1e-12)
    expected = sp.pue * it_kwh * s.carbon_g_per_kwh[:N_HOURS] / 1000 + h["gpus_on"] * sp.embodied_kg_per_gpu_h[0]
    assert run.totals()["carbon_kg"] == pytest.approx(float(expected.sum()), rel=1e-12)
    assert run.totals()["operational_kg"] + run.totals()["embodied_kg"] == pytest.approx(run.totals()["carbon_kg"])
    # nothing dropped: served + still waiting = arrived
    arrived = s.arrivals[:, :N_HOURS].sum()
    assert served.sum() + h["backlog_queries"].iloc[-1] == pytest.approx(arrived, rel=1e-9)


@pytest.mark.parametrize("forecast", ["oracle", "persistence", "seasonal_naive"])
def test_carbon_is_the_sum_of_hourly_facility_kwh_times_intensity_plus_embodied(forecast):
    sp, s = spec(deadline_h=6), span()
    for run in run_policies(sp, s, forecast).values():
        check_accounting(run, sp if run.name != "agnostic" else serve_on_arrival(sp), s)


@pytest.mark.parametrize("deadline_h", [1, 4, 12])
def test_no_deferred_query_is_served_after_its_deadline(deadline_h):
    s = span()
    run = run_policy("forecast", spec(deadline_h), s, "persistence")
    arrived = np.cumsum(s.arrivals[1, :N_HOURS])
    served = np.cumsum(run.served_by_class[:, 1])
    # everything that arrived by hour t - d is served by the end of hour t (first in, first due)
    due = np.concatenate([np.zeros(deadline_h), arrived[:-deadline_h]])
    assert np.all(served >= due - 1e-6)
    # and nothing is served before it arrives
    assert np.all(served <= arrived + 1e-6)
    assert run.totals()["deadline_misses"] == 0.0
    # the class without a deadline is served in its arrival hour
    np.testing.assert_allclose(run.served_by_class[:, 0], s.arrivals[0, :N_HOURS], rtol=1e-9)


def test_oracle_replan_with_a_one_hour_horizon_equals_serving_on_arrival():
    s = span()
    one_hour = run_policy("oracle", spec(deadline_h=12, horizon_h=1), s, "oracle")
    agnostic = run_policy("agnostic", serve_on_arrival(spec(deadline_h=12)), s, "oracle")
    np.testing.assert_allclose(one_hour.served_by_class, agnostic.served_by_class, rtol=1e-12)
    np.testing.assert_allclose(one_hour.hourly["carbon_kg"], agnostic.hourly["carbon_kg"], rtol=1e-9)
    np.testing.assert_allclose(one_hour.served_by_class, s.arrivals[:, :N_HOURS].T, rtol=1e-12)


def test_deferral_with_foresight_saves_carbon_and_the_oracle_regret_is_small():
    runs = run_policies(spec(deadline_h=12), span(), "seasonal_naive")
    agnostic, oracle, forecast = (runs[k].totals()["carbon_kg"] for k in ("agnostic", "oracle", "forecast"))
    assert oracle < agnostic <= forecast * 1.5
    # the diurnal grid repeats every day: once a day of history exists (and the first day's backlog
    # is worked off) the same hour yesterday is a perfect forecast and the decisions are the oracle's
    hourly = {k: runs[k].hourly["carbon_kg"].to_numpy() for k in ("oracle", "forecast")}
    np.testing.assert_allclose(hourly["forecast"][48:], hourly["oracle"][48:], rtol=1e-9, atol=1e-12)


def test_a_short_fleet_counts_misses_once_and_drops_nothing():
    # 2000 q/h * 1e-3 GPU-h / 0.8 = 2.5 GPUs needed at the mean; a fleet of 2 falls behind at the peak
    sp, s = spec(deadline_h=2, gpus=2.0), span()
    run = run_policy("forecast", sp, s, "oracle")
    assert run.totals()["deadline_misses"] > 0
    check_accounting(run, sp, s)


def test_forecasts_use_only_the_past():
    series = np.arange(100.0)
    assert forecast_window("persistence", series, 50, 3).tolist() == [49.0, 49.0, 49.0]
    assert forecast_window("seasonal_naive", series, 50, 3).tolist() == [26.0, 27.0, 28.0]
    assert forecast_window("seasonal_naive", series, 50, 26)[25] == 27.0   # 2 days back beyond 24 h
    assert forecast_window("oracle", series, 98, 4).tolist() == [98.0, 99.0, 99.0, 99.0]
