from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tpf.errors import ConfigError
from tpf.simulate import AllocationRouter, Pool, simulate, simulate_stream
from tpf.simulate.carbon import read_electricitymaps_csv
from tpf.simulate.workload import iter_trace_chunks, make_batch, read_trace

from .conftest import constant_window_card, integer_card, one_class_allocation


def _small_run(data_dir, engine, **kwargs):
    batch = read_trace(data_dir / "small_trace.csv")
    allocation, classes = one_class_allocation({"a": 0.6, "b": 0.4})
    classes = pd.concat([classes.assign(category=c, class_name=c) for c in ("history", "law", "math")])
    allocation = pd.concat([allocation.assign(class_name=c) for c in ("history", "law", "math")])
    pools = [Pool(integer_card("a"), gpus=(2,)), Pool(integer_card("b", idle_power_w=7.0), gpus=(1, 3, 2))]
    carbon = read_electricitymaps_csv(data_dir / "carbon_6h.csv").to_numpy()[:3]
    return simulate(batch, AllocationRouter(allocation, classes), pools, engine=engine,
                    carbon_g_per_kwh=carbon, pue=[1.5, 1.25, 1.1], keep_records=True, **kwargs)


@pytest.mark.parametrize("engine", ["fluid", "event"])
def test_totals_are_exactly_recomputable(data_dir, engine):
    result = _small_run(data_dir, engine)
    hourly, totals, records = result.hourly, result.totals, result.records
    assert len(records) == 60 and totals["served_queries"] == 60
    # whole-joule energies: sums are exact whatever the order
    assert records["energy_j"].sum() + hourly["idle_energy_j"].sum() == totals["it_energy_j"]
    expected_idle = 3600 * (2 * 10.0 * 3 + 7.0 * (1 + 3 + 2))
    assert hourly["idle_energy_j"].sum() == expected_idle
    by_hour = records.groupby("hour")["energy_j"].sum().reindex(range(3), fill_value=0.0)
    if engine == "fluid":  # fluid books at arrival; the event engine at service start (same hour here)
        assert (by_hour.to_numpy() == hourly["query_energy_j"].to_numpy()).all()
    facility = hourly["it_energy_j"] / 3.6e6 * hourly["pue"]
    assert (facility == hourly["facility_energy_kwh"]).all()
    carbon = (hourly["facility_energy_kwh"] * hourly["carbon_g_per_kwh"] / 1000).sum()
    assert carbon == totals["carbon_kg"]
    assert hourly["carbon_g_per_kwh"].tolist() == [200.0, 180.0, 150.0]
    tokens = records["n_out_tokens"].sum()
    assert tokens == totals["output_tokens"] == read_trace(data_dir / "small_trace.csv").n_out_tokens.sum()


def test_fluid_and_event_agree_on_totals_without_batching_effects(data_dir):
    fluid, event = _small_run(data_dir, "fluid"), _small_run(data_dir, "event")
    for key in ("served_queries", "output_tokens", "query_energy_j", "idle_energy_j", "it_energy_j", "carbon_kg"):
        assert fluid.totals[key] == pytest.approx(event.totals[key], rel=1e-12), key


def test_event_queue_matches_hand_computation():
    # one replica, batch 1, 5 s per request; arrivals at 0, 1, 2 -> starts 0, 5, 10
    card = constant_window_card(window_s=5.0, max_batch_size=1)
    batch = make_batch(np.array([0.0, 1.0, 2.0]), np.full(3, 10.0), np.full(3, 3.0))
    allocation, classes = one_class_allocation({"m": 1.0})
    result = simulate(batch, AllocationRouter(allocation, classes), [Pool(card, gpus=(1,))],
                      engine="event", keep_records=True, batching="static")
    assert result.records["wait_s"].tolist() == [0.0, 4.0, 8.0]
    assert result.records["latency_s"].tolist() == [5.0, 9.0, 13.0]


def test_continuous_batching_joins_running_replica():
    # window 4 + 1*B s, up to 2 per replica: second request joins at B=2, third waits for a slot
    card = constant_window_card(window_s=4.0, max_batch_size=2, per_member_s=1.0)
    batch = make_batch(np.array([0.0, 1.0, 2.0]), np.full(3, 10.0), np.full(3, 3.0))
    allocation, classes = one_class_allocation({"m": 1.0})
    result = simulate(batch, AllocationRouter(allocation, classes), [Pool(card, gpus=(1,))],
                      engine="event", keep_records=True)
    records = result.records
    assert records["batch_size"].tolist() == [1.0, 2.0, 2.0]
    # first ends at 5, then the third joins (the second still runs until 1 + 6 = 7)
    assert records["wait_s"].tolist() == [0.0, 0.0, 3.0]
    assert records["latency_s"].tolist() == [5.0, 6.0, 9.0]


def test_fluid_backlog_under_overload():
    # 1 replica, batch 1, 10 s per request, 2 requests per 10 s for 10 minutes: backlog grows
    card = constant_window_card(window_s=10.0, max_batch_size=1)
    arrivals = np.arange(0, 600, 5.0)
    batch = make_batch(arrivals, np.full(len(arrivals), 10.0), np.full(len(arrivals), 3.0))
    allocation, classes = one_class_allocation({"m": 1.0})
    router = AllocationRouter(allocation, classes)
    fluid = simulate(batch, router, [Pool(card)], keep_records=True)
    event = simulate(batch, router, [Pool(card)], engine="event", keep_records=True)
    assert fluid.records["wait_s"].iloc[-1] > 200 and event.records["wait_s"].iloc[-1] > 500
    assert fluid.totals["query_energy_j"] == event.totals["query_energy_j"] == 100.0 * len(arrivals)


def test_routing_shares_are_respected_and_deterministic():
    count = 200_000
    batch = make_batch(np.linspace(0, 7199, count), np.full(count, 500.0), np.full(count, 10.0))
    allocation = pd.DataFrame({
        "class_name": "c", "period": [0, 0, 1], "option_id": ["a", "b", "a"], "model": ["a", "b", "a"],
        "strategy": "zero_shot", "budget_tokens": 0, "votes": 1, "share": [0.25, 0.75, 1.0],
    })
    classes = pd.DataFrame({"class_name": ["c"], "category": ["default"], "n_in_tokens": [500.0]})
    router = AllocationRouter(allocation, classes)
    routed = router.route(batch)
    models = np.asarray(routed.models)[routed.model_code]
    first_hour = batch.arrival_s < 3600
    assert abs(np.mean(models[first_hour] == "b") - 0.75) < 0.01
    assert (models[~first_hour] == "a").all()
    again = router.route(batch.take(np.arange(count)[::-1]))
    assert (np.asarray(again.models)[again.model_code][::-1] == models).all()


def test_nearest_length_class_and_unknown_category():
    allocation = pd.DataFrame({
        "class_name": ["short", "long"], "period": 0, "option_id": ["s", "l"], "model": ["s", "l"],
        "strategy": ["zero_shot", "cot"], "budget_tokens": [0, 256], "votes": 1, "share": 1.0,
    })
    classes = pd.DataFrame({"class_name": ["short", "long"], "category": "math", "n_in_tokens": [100.0, 2000.0]})
    router = AllocationRouter(allocation, classes)
    batch = make_batch(np.arange(3.0), np.array([50.0, 400.0, 600.0]), np.full(3, 5.0), ["math"] * 3)
    routed = router.route(batch)
    assert [routed.models[c] for c in routed.model_code] == ["s", "s", "l"]  # edge at sqrt(100*2000) = 447
    with pytest.raises(ConfigError, match="category 'law' match no query class"):
        router.route(make_batch(np.arange(1.0), np.array([5.0]), np.array([5.0]), ["law"]))


class FixedPolicy:
    def decide(self, request_id, category, n_in_tokens, hour):
        return ("a", "cot", 64, 1) if category == "math" else {"model": "b", "strategy": "mv", "budget_tokens": 0, "votes": 3}


def test_policy_object_drives_the_simulator(data_dir):
    batch = read_trace(data_dir / "small_trace.csv")
    result = simulate(batch, FixedPolicy(), [Pool(integer_card("a")), Pool(integer_card("b"))], keep_records=True)
    records = result.records
    math = records["category"] == "math"
    math_out = batch.n_out_tokens[math.to_numpy()] + 64  # the answer plus the CoT budget
    assert (records.loc[math, "n_out_tokens"].to_numpy() == math_out).all()
    assert (records.loc[math, "energy_j"].to_numpy() == records.loc[math, "n_in_tokens"].to_numpy() + 2 * math_out).all()
    others = records[~math]
    own_out = batch.n_out_tokens[~math.to_numpy()]
    # majority voting: one prefill (1 J per input token) and 3 decodes (2 J per output token)
    assert (others["energy_j"].to_numpy() == others["n_in_tokens"].to_numpy() + 3 * 2 * own_out).all()
    assert (others["n_out_tokens"].to_numpy() == 3 * own_out).all()


def test_missing_pool_and_powerless_hours_are_config_errors(data_dir):
    batch = read_trace(data_dir / "small_trace.csv")
    with pytest.raises(ConfigError, match=r"routed to model\(s\) \['b'\] without a pool"):
        simulate(batch, FixedPolicy(), [Pool(integer_card("a"))])
    with pytest.raises(ConfigError, match=r"pools\[a\].gpus: requests arrive in hour\(s\) \[1\]"):
        simulate(batch, FixedPolicy(), [Pool(integer_card("a"), gpus=(1, 0, 1)), Pool(integer_card("b"))])


def test_stream_matches_whole_run(data_dir):
    allocation, classes = one_class_allocation({"a": 0.5, "b": 0.5})
    classes = pd.concat([classes.assign(category=c, class_name=c) for c in ("history", "law", "math")])
    allocation = pd.concat([allocation.assign(class_name=c) for c in ("history", "law", "math")])
    router = AllocationRouter(allocation, classes)
    pools = [Pool(integer_card("a")), Pool(integer_card("b"))]
    whole = simulate(read_trace(data_dir / "small_trace.csv"), router, pools, n_hours=3)
    streamed = simulate_stream(iter_trace_chunks(data_dir / "small_trace.csv", chunk_rows=7), router, pools, n_hours=3)
    for key in ("served_queries", "output_tokens", "query_energy_j", "it_energy_j", "carbon_kg", "peak_facility_kw"):
        assert streamed.totals[key] == pytest.approx(whole.totals[key], rel=1e-12), key
    assert streamed.totals["latency_p95_s"] == pytest.approx(whole.totals["latency_p95_s"], rel=0.01)
