"""Several sites: routing to the cleaner grid, latency and residency rules, per-site accounting."""

from __future__ import annotations

import numpy as np
import pytest

from tpf.replan.engine import Span, run_policy
from tpf.replan.window import WindowSpec

N = 48
DIRTY = np.full(N + 24, 800.0)
CLEAN = np.full(N + 24, 30.0)


def spec(allowed: np.ndarray, fleet_clean: float = 100.0, deadline_h: int = 0) -> WindowSpec:
    return WindowSpec(24, np.array([0, deadline_h]), np.array([1e-4, 1e-4]), np.array([[1e-3], [1e-3]]),
                      idle_kw=np.array([0.05]), utilization=np.array([0.8]),
                      fleet_gpus=np.array([[100.0], [fleet_clean]]), pue=np.array([1.2, 1.1]),
                      power_cap_kw=None, embodied_kg_per_gpu_h=np.array([0.007]), allowed=allowed,
                      site_names=("near", "far"))


def span() -> Span:
    return Span(np.stack([DIRTY, CLEAN]), np.full((2, N + 24), 1000.0), np.array([0.6, 0.6]), N)


def test_work_goes_to_the_clean_site_unless_a_latency_rule_keeps_it_near():
    free = run_policy("forecast", spec(np.ones((2, 2), bool)), span(), "oracle")
    assert free.hourly["queries_served_far"].sum() == pytest.approx(free.hourly["queries_served"].sum())
    # class 0 (interactive) may only use the near site: its queries stay there, the rest go far
    rule = np.array([[True, False], [True, True]])
    kept = run_policy("forecast", spec(rule), span(), "oracle")
    assert kept.hourly["queries_served_near"].sum() == pytest.approx(1000.0 * N)
    assert kept.hourly["queries_served_far"].sum() == pytest.approx(1000.0 * N)
    assert kept.totals()["carbon_kg"] > free.totals()["carbon_kg"]


def test_a_small_far_fleet_spills_work_back_to_the_near_site():
    # far site: 1 GPU (0.8 GPU-h per hour = 800 queries); 2000 queries arrive per hour
    run = run_policy("forecast", spec(np.ones((2, 2), bool), fleet_clean=1.0), span(), "oracle")
    assert run.hourly["queries_served_far"].iloc[:N].to_numpy() == pytest.approx(np.full(N, 800.0))
    assert run.totals()["deadline_misses"] == 0.0


def test_carbon_is_summed_site_by_site():
    sp = spec(np.array([[True, False], [True, True]]))
    run = run_policy("forecast", sp, span(), "oracle")
    h = run.hourly
    per_site = (h["facility_energy_kwh_near"] * h["carbon_g_per_kwh_near"]
                + h["facility_energy_kwh_far"] * h["carbon_g_per_kwh_far"]) / 1000 + h["embodied_kg"]
    assert run.totals()["carbon_kg"] == pytest.approx(float(per_site.sum()), rel=1e-12)
    assert (h["facility_energy_kwh_near"] + h["facility_energy_kwh_far"]).to_numpy() == pytest.approx(
        h["facility_energy_kwh"].to_numpy(), rel=1e-12)
