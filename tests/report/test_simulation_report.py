"""The simulate report: its warnings, the idle-energy split, grouped shadow prices, fractional GPUs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tpf.report.markdown import grouped_prices, report_markdown
from tpf.report.record import RunRecord
from tpf.report.simulation import (
    DEFAULT_LATENCY_P99_S,
    formed_batches,
    operating_point_status,
    simulation_warnings,
    with_ttft,
)


def hourly_plan(batch: float = 8.0, gpus: float = 2.0) -> pd.DataFrame:
    return pd.DataFrame({"period": [0, 1], "facility_kw": [1.0, 1.0], "dynamic_energy_kwh": [0.5, 0.5],
                         "idle_energy_kwh": [0.2, 0.2], "idle_energy_kwh_m": [0.2, 0.2],
                         "utilization_m": [0.25, 0.5], "batch_size_m": [batch, batch], "gpus_on_m": [gpus, gpus]})


def record(**changes) -> RunRecord:
    base = dict(command="simulate", scenario="s", title="t", description="", status="optimal", objective=1.0,
                objective_name="min_facility_energy", totals={"peak_facility_kw": 1.0, "it_energy_kwh": 1.4},
                shadow_prices={}, binding_constraints=[], allocation=pd.DataFrame(), hourly_plan=hourly_plan(),
                power_cap_kw=None, cards=[], simulation_hourly=pd.DataFrame({"hour": [0, 1]}),
                simulation_totals={"latency_p99_s": 1.0, "peak_facility_kw": 1.05,
                                   "idle_energy_j": 0.25 * 3.6e6, "query_energy_j": 1.15 * 3.6e6})
    base.update(changes)
    return RunRecord(**base)


def sim_records(batch: float) -> pd.DataFrame:
    return pd.DataFrame({"model": ["m"] * 4, "hour": [0, 0, 1, 1], "batch_size": [8.0, 8.0, batch, batch],
                         "wait_s": 0.0, "latency_s": 1.0, "n_in_tokens": 100.0})


def test_nothing_flagged_where_the_simulation_met_the_plan():
    assert simulation_warnings(record(simulation_records=sim_records(8.0))) == []


def test_p99_latency_is_checked_against_the_slo_or_the_stated_default():
    slow = {"latency_p99_s": 72.0, "peak_facility_kw": 1.0}
    assert simulation_warnings(record(simulation_totals=slow)) == [
        f"p99 latency 72 s exceeds {DEFAULT_LATENCY_P99_S:g} s (the report's default, no SLO set)"]
    assert simulation_warnings(record(simulation_totals={**slow, "latency_p99_s": 3.0}, latency_slo_s=2.0)) == [
        "p99 latency 3 s exceeds 2 s (planner.latency_slo_s)"]


def test_peak_power_is_checked_against_the_plan_and_the_cap():
    warnings = simulation_warnings(record(simulation_totals={"latency_p99_s": 1.0, "peak_facility_kw": 1.45},
                                          power_cap_kw=1.2))
    assert warnings == ["peak facility power 1.45 kW (per minute) is 45% above the plan's 1 kW (hourly mean)",
                        "peak facility power 1.45 kW exceeds the cap of 1.2 kW"]


def test_a_planned_batch_that_did_not_form_is_flagged_and_absent_columns_say_not_checked():
    rec = record(simulation_records=sim_records(2.0))
    table = formed_batches(rec)
    assert table[["hour", "planned", "formed"]].values.tolist() == [[0, 8.0, 8.0], [1, 8.0, 2.0]]
    assert simulation_warnings(rec) == [
        "1 of 2 planned operating points did not form (mean batch below 70% of the plan's), "
        "e.g. m hour 1: planned 8, formed 2"]
    assert operating_point_status(record())[1].startswith("operating points: not checked")
    no_batches = record(hourly_plan=hourly_plan().drop(columns="batch_size_m"), simulation_records=sim_records(2.0))
    assert simulation_warnings(no_batches) == []
    assert "not checked" in report_markdown(no_batches, {})


def test_warnings_head_the_report_and_go_into_the_summary():
    rec = record(simulation_totals={"latency_p99_s": 72.0, "peak_facility_kw": 1.0})
    rec.warnings = simulation_warnings(rec)
    text = report_markdown(rec, {})
    assert text.index("## Warnings") < text.index("## Result")
    assert "- **p99 latency 72 s exceeds 30 s" in text
    assert rec.summary()["warnings"] == rec.warnings


def test_idle_energy_is_split_alike_for_plan_and_simulation():
    text = report_markdown(record(), {})
    # plan: idle 0.2 kWh per hour at utilization 0.25 and 0.5 -> 0.15 + 0.1 idle while not serving
    assert "idle power of powered GPUs while not serving (kWh) | 0.25 | 0.25 | +0.00% |" in text
    assert "queries, whole card energy while serving (kWh) | 1.15 | 1.15 | +0.00% |" in text


def test_ttft_is_the_wait_plus_the_prefill_at_most_the_latency():
    class Card:
        def duration_s(self, n_in, n_out, batch):
            return np.asarray(n_in) / 100.0 * np.asarray(batch)

    table = sim_records(8.0).assign(wait_s=[0.0, 0.5, 0.0, 0.0], latency_s=[9.0, 9.0, 0.5, 9.0])
    assert with_ttft(table, {"m": Card()})["ttft_s"].tolist() == [8.0, 8.5, 0.5, 8.0]
    assert "ttft_s" not in with_ttft(table, {})


def test_shadow_prices_of_equal_rows_are_grouped_under_one_unit():
    prices = {f"gpu_busy[{i}]": 0.0845 for i in range(11)} | {"accuracy_target": 120.0, "gpu_busy[12]": 0.5}
    units = {name: "GPU" for name in prices} | {"accuracy_target": "accuracy_point"}
    rec = record(shadow_prices=prices, shadow_price_units=units, objective_unit="kWh",
                 binding_constraints=["accuracy_target"])
    rows = grouped_prices(rec)
    assert rows == [("accuracy_target", 120.0, "kWh per accuracy point", "yes"),
                    ("gpu_busy[12]", 0.5, "kWh per GPU", ""), ("gpu_busy[0..10]", 0.0845, "kWh per GPU", "")]
    text = report_markdown(rec, {})
    assert "in kWh per that unit" in text and "accuracy points per kWh" not in text


def test_fractional_gpu_counts_are_labelled():
    assert "Fractional GPU counts: 2 of 2" in report_markdown(
        record(hourly_plan=hourly_plan(gpus=2.4), fleet={"m": dict.fromkeys(
            ("gpu_h_powered", "gpu_h_unpowered", "idle_facility_kwh", "dynamic_facility_kwh",
             "keep_fleet_on_extra_facility_kwh"), 1.0)}), {})
    whole = report_markdown(record(fleet={"m": dict.fromkeys(
        ("gpu_h_powered", "gpu_h_unpowered", "idle_facility_kwh", "dynamic_facility_kwh",
         "keep_fleet_on_extra_facility_kwh"), 1.0)}), {})
    assert "Fractional GPU counts" not in whole


@pytest.mark.parametrize(("names", "label"), [
    (["gpu_busy[m,0]", "gpu_busy[m,1]", "gpu_busy[m,2]", "gpu_busy[n,5]"], "gpu_busy[m,0..2; n,5]"),
    (["row[a]", "row[b]"], "row[a; b]"),
])
def test_rows_indexed_by_model_and_period_group_in_period_ranges(names, label):
    rec = record(shadow_prices=dict.fromkeys(names, 1.0))
    assert grouped_prices(rec)[0][0] == label


def test_engines_without_request_records_are_checked_from_the_per_model_hour_table():
    model_hourly = pd.DataFrame({"model": ["m", "m"], "hour": [0, 1], "planned_batch_size": [8.0, 8.0],
                                 "formed_batch_size": [7.0, 3.0]})
    rec = record(simulation_model_hourly=model_hourly)
    assert formed_batches(rec)[["hour", "planned", "formed"]].values.tolist() == [[0, 8.0, 7.0], [1, 8.0, 3.0]]
    assert simulation_warnings(rec) == [
        "1 of 2 planned operating points did not form (mean batch below 70% of the plan's), "
        "e.g. m hour 1: planned 8, formed 3"]
    assert operating_point_status(rec)[1] == "operating points: 1 of 2 planned (model, hour) batches formed"
