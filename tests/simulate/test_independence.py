"""The simulator is a witness: it takes the plan's routing and powered GPUs, prices from the cards.

A plan's price or operating point carried on the routed requests must not move
the simulation; a card the plan did not see must.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.simulate.conftest import integer_card
from tpf.cost.pricing import query_curves
from tpf.domain import QueryClass, Workload
from tpf.simulate import Pool, simulate
from tpf.simulate.routing import PlannedPrices, Routed
from tpf.simulate.workload import synthetic_requests

WORKLOAD = Workload((QueryClass("c", "default", 500.0, (2.0,), n_answer_tokens=10.0),), n_periods=1)


class PlannedRouting:
    """Every request to model ``m`` zero-shot, carrying a planned batch and price."""

    def __init__(self, batch_size: float, energy_j: float, window_s: float):
        self.planned = (batch_size, energy_j, window_s)

    def route(self, batch) -> Routed:
        n = len(batch)
        size, energy_j, window_s = self.planned
        planned = PlannedPrices(np.full(n, size), np.full(n, energy_j), np.full(n, window_s),
                                np.full(n, 500.0), np.full(n, 10.0))
        return Routed(np.zeros(n, np.int32), ("m",), np.zeros(n, np.int8), np.zeros(n), np.ones(n),
                      np.full(n, 0.5), planned)


@pytest.mark.parametrize("engine", ["fluid", "event"])
def test_planned_prices_and_batch_do_not_move_the_simulation(engine):
    card = integer_card(idle_power_w=10.0, max_batch_size=64)
    requests = synthetic_requests(WORKLOAD, seed=1)
    nominal = query_curves(card, np.array([500.0]), np.array([10.0]), np.array([1.0]))
    runs = [simulate(requests, PlannedRouting(batch, factor * float(nominal.energy_j(batch)[0]),
                                              float(nominal.window_s(batch)[0])),
                     [Pool(card, gpus=(2.5,))], engine=engine, idle_mode="unbusy", keep_records=True)
            for batch, factor in ((8.0, 2.0), (64.0, 0.1), (1.0, 1.0))]
    for other in runs[1:]:
        assert other.totals == runs[0].totals
    records = runs[0].records
    # 2 requests/s of a ~0.1 s window form batches near 1, not the planned 8 or 64
    assert records["batch_size"].max() < 8
    curves = query_curves(card, records["n_in_tokens"].to_numpy(), np.full(len(records), 10.0), np.ones(len(records)))
    assert records["energy_j"].to_numpy() == pytest.approx(curves.energy_j(records["batch_size"].to_numpy()))
    # 2.5 GPUs in the plan are 3 whole GPUs powered, each paying its idle power when not busy
    assert runs[0].hourly["powered_gpus"].tolist() == [3.0]
    busy_gpu_s = runs[0].totals["busy_gpu_s"]
    assert runs[0].totals["idle_energy_j"] == pytest.approx((3 * 3600.0 - busy_gpu_s) * 10.0)


def test_a_costlier_card_moves_the_simulation_not_the_routing():
    card = integer_card(idle_power_w=10.0, max_batch_size=64)
    costly = dataclasses.replace(card, energy=dataclasses.replace(
        card.energy, coefficients=tuple(2.0 * c for c in card.energy.coefficients)))
    requests = synthetic_requests(WORKLOAD, seed=1)
    routing = PlannedRouting(8.0, 1.0, 0.1)
    base = simulate(requests, routing, [Pool(card, gpus=(1,))], engine="event")
    twice = simulate(requests, routing, [Pool(costly, gpus=(1,))], engine="event")
    assert twice.totals["query_energy_j"] == pytest.approx(2.0 * base.totals["query_energy_j"])
    assert twice.totals["served_queries"] == base.totals["served_queries"]
