"""The iteration-level engine: steps priced from the card, equal to the request level where they must be."""

from __future__ import annotations

import numpy as np
import pytest

from tpf.cards import load_card
from tpf.cost.pricing import query_curves
from tpf.published_energy import PUBLISHED_CARDS_DIR
from tpf.simulate import Pool, simulate
from tpf.simulate.workload import make_batch

CARD = PUBLISHED_CARDS_DIR.parent / "llama-3.1-8b@l40s.yaml"  # the roofline card: no anchors


def _requests(arrival_s, n_in=300.0, n_out=50.0):
    count = len(arrival_s)
    return make_batch(np.asarray(arrival_s, np.float64), np.full(count, n_in), np.full(count, n_out))


class _Route:
    def decide(self, request_id, category, n_in_tokens, hour):
        return ("llama-3.1-8b", "zero_shot", 0, 1)


def test_a_lone_request_costs_its_card_price_at_batch_1():
    batch = _requests([10.0, 500.0, 1000.0])
    result = simulate(batch, _Route(), [Pool(load_card(CARD), gpus=(1,))], engine="event",
                      batching="iteration", keep_records=True)
    curves = query_curves(load_card(CARD), np.full(3, 300.0), np.full(3, 50.0), np.ones(3))
    records = result.records
    assert records["energy_j"].to_numpy() == pytest.approx(curves.energy_j(1.0), rel=1e-9)
    assert records["latency_s"].to_numpy() == pytest.approx(curves.window_s(1.0), rel=1e-9)
    assert records["batch_size"].tolist() == [1.0, 1.0, 1.0]


def test_simultaneous_requests_share_steps_and_match_the_request_level_at_their_batch():
    batch = _requests([1.0] * 8)
    iteration = simulate(batch, _Route(), [Pool(load_card(CARD), gpus=(1,))], engine="event", batching="iteration",
                         keep_records=True)
    records = iteration.records
    assert records["batch_size"].to_numpy() == pytest.approx(8.0)
    curves = query_curves(load_card(CARD), np.full(8, 300.0), np.full(8, 50.0), np.ones(8))
    # prefilled together at 8 and decoded together at 8: the card's price at batch 8
    assert records["energy_j"].to_numpy() == pytest.approx(curves.energy_j(8.0), rel=1e-9)
    assert records["latency_s"].to_numpy() == pytest.approx(curves.window_s(8.0), rel=1e-9)


def test_kv_cache_bounds_the_batch():
    batch = _requests([1.0] * 8, n_in=1000.0, n_out=100.0)
    pool = Pool(load_card(CARD), gpus=(1,), kv_capacity_tokens=2 * 1100.0)
    result = simulate(batch, _Route(), [pool], engine="event", batching="iteration", keep_records=True)
    assert result.records["batch_size"].max() == pytest.approx(2.0)
    assert result.totals["served_queries"] == 8
