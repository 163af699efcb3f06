"""Stable plans: ties between hours broken by least deviation from one split per class, on the optimal face."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.plan.conftest import fleet_of, option_rows
from tpf.domain import Facility, Grid, QueryClass, Workload
from tpf.plan import PlannerSettings, plan

# one class, two options; the day's accuracy target needs 40% of queries on the big model, in any hours
# (an LP: with whole replicas the idle power of a powered replica makes the hours no longer tied)
OPTIONS = option_rows({"A": [("small", "small", 0.5, 100.0, 1.0), ("big", "big", 0.75, 300.0, 3.0)]})
HOURS = 6


def _plan(stable: bool, carbon: tuple[float, ...] = (300.0,) * HOURS):
    workload = Workload((QueryClass("A", "A", 100.0, (1.0,) * HOURS),), n_periods=HOURS, period_s=3600.0)
    settings = PlannerSettings(objective="min_it_energy", accuracy_target=0.6, replicas="relaxed")
    return plan(OPTIONS, workload, Facility((1.0,) * HOURS), Grid(carbon), fleet_of({"small": 100, "big": 100}),
                settings, stable_ties=stable)


def _big_share(result) -> pd.Series:
    alloc = result.allocation
    big = alloc[alloc["option_id"] == "big"].groupby("period")["share"].sum()
    return big.reindex(range(HOURS), fill_value=0.0)


def test_tied_hours_get_one_split_at_the_same_optimum() -> None:
    first, stable = _plan(False), _plan(True)
    assert stable.objective == pytest.approx(first.objective, rel=1e-9)
    assert _big_share(first).mean() == pytest.approx(0.4, abs=1e-9)  # the optimum needs 40% overall
    np.testing.assert_allclose(_big_share(stable).to_numpy(), 0.4, atol=1e-7)  # ... and gets it every hour
    assert stable.solver_info["tie_break"] == "least deviation of hourly shares from one split per class"
    assert first.solver_info["tie_break"] == "off"
    assert stable.shadow_prices == pytest.approx(first.shadow_prices)  # from the first solve


def test_a_split_the_optimum_needs_still_changes() -> None:
    # min carbon with a dirty first half: the big model's energy goes to the clean hours only
    settings = PlannerSettings(objective="min_carbon", accuracy_target=0.6, replicas="relaxed")
    workload = Workload((QueryClass("A", "A", 100.0, (1.0,) * HOURS),), n_periods=HOURS, period_s=3600.0)
    carbon = (800.0,) * 3 + (100.0,) * 3
    result = plan(OPTIONS, workload, Facility((1.0,) * HOURS), Grid(carbon), fleet_of({"small": 100, "big": 100}),
                  settings)
    share = _big_share(result).to_numpy()
    assert share[:3] == pytest.approx([0.0] * 3, abs=1e-9)
    np.testing.assert_allclose(share[3:], 0.8, atol=1e-7)  # equal across the clean (tied) hours
