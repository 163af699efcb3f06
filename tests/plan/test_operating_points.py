"""Operating points: options per batch level, the tail-latency rows (Erlang C), the whole-fleet switch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.plan.conftest import fleet_of, option_rows
from tests.plan.test_options_and_validation import WORKLOAD, accuracy_card, energy_card
from tpf.cards import ValidRange
from tpf.domain import Facility, Grid, QueryClass, Workload
from tpf.errors import ConfigError
from tpf.plan import PlannerSettings, StrategySpec, build_options, plan
from tpf.plan.queueing import erlang_c, max_utilization, wait_tail


def batch_card(max_batch: float = 64.0):
    """The bilinear test card, valid up to ``max_batch``."""
    return replace(energy_card("small", 0.5, 2.0), max_batch_size=int(max_batch),
                   valid_range=ValidRange((1, 4096), (1, 4096), (1.0, max_batch)))


ONE_HOUR = Workload((QueryClass("A", "A", 100.0, (1.0,)),), n_periods=1, period_s=3600.0)


def test_erlang_c_matches_the_closed_forms():
    # M/M/1: P(wait) = rho; M/M/2 at A = 1: C = 1/3
    assert erlang_c([1], [0.5])[0] == pytest.approx(0.5)
    assert erlang_c([2], [1.0])[0] == pytest.approx(1 / 3)
    assert erlang_c([4], [4.0])[0] == 1.0   # saturated


def test_max_utilization_puts_the_p99_wait_at_the_slo():
    # M/M/1, S = 1 s, prefill 0.1 s, SLO 2 s: rho * exp(-(1 - rho) * 1.9) = 0.01
    rho = max_utilization([1], [1.0], [0.1], 2.0)[0]
    assert rho * np.exp(-(1 - rho) * 1.9) == pytest.approx(0.01, rel=1e-6)
    # more slots at the same window carry a higher load; no room when the prefill breaks the SLO
    assert max_utilization([64], [1.0], [0.1], 2.0)[0] > max_utilization([8], [1.0], [0.1], 2.0)[0] > rho
    assert max_utilization([8], [1.0], [2.5], 2.0)[0] == 0.0
    assert wait_tail([8], [0.5], [1.0], [0.0])[0] == pytest.approx(erlang_c([8], [4.0])[0])


def test_options_are_priced_at_each_operating_point_within_the_card():
    card = batch_card()
    table = build_options(WORKLOAD, {"small": card}, accuracy_card(), StrategySpec(),
                          batch_sizes=(1, 4, 16, 10_000)).table
    # batch 10,000 lies outside the card's valid range and is dropped
    assert table["option_id"].tolist() == ["small/zero_shot/b1", "small/zero_shot/b4", "small/zero_shot/b16"]
    assert table["batch_size"].tolist() == [1.0, 4.0, 16.0]
    # GPU time per query is the window over the batch (the bilinear card's window does not grow with B)
    assert table["gpu_s"].tolist() == pytest.approx([0.12, 0.03, 0.0075])


def test_ttft_slo_adds_the_load_bound_and_excludes_what_the_prefill_breaks():
    card = batch_card()    # prefill (n_out 0) 0.1 s, window 0.12 s
    options = build_options(WORKLOAD, {"small": card}, accuracy_card(), StrategySpec(),
                            batch_sizes=(1, 8), ttft_p99_slo_s=0.2)
    utilization = options.table["ttft_max_utilization"].to_numpy()
    assert utilization == pytest.approx(max_utilization([1, 8], [0.12, 0.12], [0.1, 0.1], 0.2))
    excluded = build_options(WORKLOAD, {"small": energy_card("small", 0.5, 2.0)}, accuracy_card(), StrategySpec(),
                             ttft_p99_slo_s=0.05)
    assert excluded.exclusion_counts() == {"ttft_slo": 1}
    assert "p99 TTFT SLO 0.05 s" in excluded.excluded["detail"].iloc[0]


@pytest.mark.parametrize(("field", "kwargs"), [("operating_points[1]", {"batch_sizes": (4, 0)}),
                                               ("ttft_p99_slo_s", {"ttft_p99_slo_s": -1.0})])
def test_bad_operating_settings_name_their_field(field, kwargs):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[")):
        build_options(WORKLOAD, {"small": energy_card("small", 0.5, 2.0)}, accuracy_card(), StrategySpec(),
                      **kwargs)


def _one_option(utilization: float | None):
    table = option_rows({"A": [("one/b8", "one", 0.5, 100.0, 1.0)]}).assign(idle_power_w=20.0, batch_size=8.0)
    return table if utilization is None else table.assign(ttft_max_utilization=utilization)


def test_tail_latency_row_powers_the_gpus_the_slo_needs():
    # 3600 queries x 1 GPU-s = 1 GPU-h busy: U = 1 needs 1 GPU; rho = 0.25 needs 4
    fleet, facility, grid = fleet_of({"one": 10}), Facility((1.0,)), Grid((400.0,))
    settings = PlannerSettings(objective="min_it_energy", accuracy_target=0.5)
    free = plan(_one_option(None), ONE_HOUR, facility, grid, fleet, settings)
    bounded = plan(_one_option(0.25), ONE_HOUR, facility, grid, fleet, settings)
    assert free.gpus_on["gpus_on"].tolist() == pytest.approx([1.0])
    assert bounded.gpus_on["gpus_on"].tolist() == pytest.approx([4.0])
    # idle energy of the three extra GPUs: 3 x 20 W x 1 h
    assert bounded.totals["it_energy_kwh"] - free.totals["it_energy_kwh"] == pytest.approx(0.06)
    assert bounded.gpus_on["utilization"].tolist() == pytest.approx([0.25])


def test_keep_fleet_on_pays_every_gpus_idle_power():
    fleet, facility, grid = fleet_of({"one": 10}), Facility((1.0,)), Grid((400.0,))
    settings = PlannerSettings(objective="min_it_energy", accuracy_target=0.5)
    needed = plan(_one_option(None), ONE_HOUR, facility, grid, fleet, settings)
    whole = plan(_one_option(None), ONE_HOUR, facility, grid, fleet, settings.with_changes(keep_fleet_on=True))
    assert whole.gpus_on["gpus_on"].tolist() == [10.0]
    assert whole.totals["it_energy_kwh"] - needed.totals["it_energy_kwh"] == pytest.approx(9 * 0.02)
    assert needed.gpus_on["gpus_off"].tolist() == [9.0]
    assert needed.gpus_on["unpowered_idle_kwh"].tolist() == pytest.approx([0.18])
