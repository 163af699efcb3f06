"""The simulator runs a plan: each query at its option's operating point and price, the plan's GPU-hours."""

from __future__ import annotations

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
    """Every request to model ``m`` zero-shot, at a planned batch and price."""

    def __init__(self, batch_size: float, energy_j: float, window_s: float):
        self.planned = (batch_size, energy_j, window_s)

    def route(self, batch) -> Routed:
        n = len(batch)
        size, energy_j, window_s = self.planned
        planned = PlannedPrices(np.full(n, size), np.full(n, energy_j), np.full(n, window_s),
                                np.full(n, 500.0), np.full(n, 10.0))
        return Routed(np.zeros(n, np.int32), ("m",), np.zeros(n, np.int8), np.zeros(n), np.ones(n),
                      np.full(n, 0.5), planned)


def test_queries_cost_the_planned_price_at_the_planned_batch():
    card = integer_card(idle_power_w=10.0, max_batch_size=64)
    requests = synthetic_requests(WORKLOAD, seed=1)
    nominal = query_curves(card, np.array([500.0]), np.array([10.0]), np.array([1.0]))
    planned_energy_j = 2.0 * float(nominal.energy_j(8.0)[0])     # e.g. a published anchor above the curve
    window_s = float(nominal.window_s(8.0)[0])
    result = simulate(requests, PlannedRouting(8.0, planned_energy_j, window_s), [Pool(card, gpus=(2.5,))],
                      idle_mode="unbusy", keep_records=True)
    records = result.records
    assert records["batch_size"].unique().tolist() == [8.0]
    assert records["energy_j"].to_numpy() == pytest.approx(planned_energy_j)
    busy_gpu_s = len(records) * window_s / 8.0
    assert result.totals["busy_gpu_s"] == pytest.approx(busy_gpu_s)
    # idle power on the unbusy part of 2.5 GPU-hours (a fractional count is GPU-hours of power)
    assert result.totals["idle_energy_j"] == pytest.approx((2.5 * 3600.0 - busy_gpu_s) * 10.0)
    assert result.hourly["powered_gpus"].tolist() == [2.5]
