"""The simulate report's own figures: what each one draws."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.report.conftest import texts
from tpf.report import sim_figures

HOURS = 4


def records(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    wait = np.where(rng.random(n) < 0.1, rng.exponential(30.0, n), 0.0)
    return pd.DataFrame({
        "arrival_s": np.sort(rng.uniform(0, HOURS * 3600, n)), "wait_s": wait,
        "latency_s": wait + rng.uniform(0.2, 2.0, n), "ttft_s": wait + 0.1,
        "model": np.where(rng.random(n) < 0.5, "small", "big"),
        "hour": np.arange(n) * HOURS // n, "batch_size": rng.integers(1, 9, n).astype(float)})


def hourly() -> pd.DataFrame:
    return pd.DataFrame({"hour": np.arange(HOURS), "avg_facility_kw": [1.0, 2.0, 3.0, 2.0],
                         "peak_facility_kw": [1.5, 2.5, 4.5, 2.2], "latency_p50_s": 0.5,
                         "latency_p95_s": 1.0, "latency_p99_s": [2.0, 3.0, 40.0, 2.0]})


def test_latency_distribution_draws_both_curves_and_the_slo(drawn, tmp_path):
    sim_figures.latency_distribution(records(), hourly(), tmp_path / "l.png", latency_slo_s=5.0,
                                     ttft_slo_s=1.0, default_slo_s=30.0)
    (axes,) = drawn[0].axes
    labels = texts(drawn[0])
    assert axes.get_title() == "Simulated latency distribution (200 requests)"
    assert axes.get_xlabel() == "seconds per request (log scale)" and axes.get_xscale() == "log"
    assert any(t.startswith("end-to-end latency: p50") for t in labels)
    assert any(t.startswith("time to first token: p50") for t in labels)
    assert "latency SLO 5 s" in labels and "TTFT p99 SLO 1 s" in labels
    slo_lines = [line for line in axes.get_lines() if list(line.get_xdata()) == [5.0, 5.0]]
    assert len(slo_lines) == 1


def test_latency_without_records_draws_hourly_quantiles_against_the_default(drawn, tmp_path):
    sim_figures.latency_distribution(None, hourly(), tmp_path / "l.png", latency_slo_s=None,
                                     ttft_slo_s=None, default_slo_s=30.0)
    (axes,) = drawn[0].axes
    assert "no per-request records" in axes.get_title()
    assert axes.get_ylabel() == "end-to-end latency (s)"
    assert "default latency check 30 s (no SLO set)" in texts(drawn[0])
    assert len(axes.get_lines()) == 4   # p50, p95, p99 and the default line


def test_power_figure_bars_the_plan_and_draws_the_cap_on_top(drawn, tmp_path):
    plan = pd.DataFrame({"period": np.arange(HOURS), "facility_kw": [1.0, 2.0, 2.5, 2.0]})
    sim_figures.power_plan_vs_simulation(plan, hourly(), 4.0, tmp_path / "p.png")
    (axes,) = drawn[0].axes
    assert axes.get_title() == "Facility power per hour: planned vs simulated vs cap"
    assert axes.get_ylabel() == "facility power (kW)"
    assert len(axes.patches) == HOURS
    cap = [line for line in axes.get_lines() if list(line.get_ydata()) == [4.0, 4.0]]
    assert len(cap) == 1 and cap[0].get_zorder() > max(p.get_zorder() for p in axes.patches)
    sim_figures.power_plan_vs_simulation(plan, hourly(), None, tmp_path / "q.png")
    assert drawn[1].axes[0].get_title() == "Facility power per hour: planned vs simulated"


def test_queue_figure_counts_waiting_requests_per_model(drawn, tmp_path):
    table = pd.DataFrame({"arrival_s": [0.0, 10.0, 20.0, 4000.0], "wait_s": [100.0, 100.0, 0.0, 0.0],
                          "model": ["a", "a", "b", "b"]})
    assert sim_figures._waiting(table[table["model"] == "a"], np.array([5.0, 50.0, 200.0])).tolist() == [1, 2, 0]
    sim_figures.queue_over_time(table, tmp_path / "q.png")
    (axes,) = drawn[0].axes
    assert axes.get_ylabel() == "requests waiting (every 60 s)"
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["a (max 2)", "b (max 0)"]


def test_batch_figure_draws_planned_and_formed_per_model(drawn, tmp_path):
    table = pd.DataFrame({"model": ["a", "a", "b", "b"], "hour": [0, 1, 0, 1],
                          "planned": [8.0, 8.0, 4.0, 4.0], "formed": [7.5, 2.0, 4.0, np.nan]})
    sim_figures.batch_formed(table, tmp_path / "b.png")
    (axes,) = drawn[0].axes
    assert axes.get_ylabel() == "batch size (requests per batch, mean)"
    assert len(axes.get_lines()) == 4
    assert [t.get_text() for t in axes.get_legend().get_texts()] == [
        "a planned", "a formed", "b planned", "b formed"]
