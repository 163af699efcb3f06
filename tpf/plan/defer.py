"""Deferrable classes: serve-hour columns, backlog and deadline checks.

A class with a deadline of ``d`` periods (``QueryClass.deadline_periods``)
may serve a query that arrives in period ``a`` in any period ``s`` with
``a <= s <= min(a + d, T - 1)``: each of its (option, arrival period)
columns is repeated once per allowed serve period. The column's
``col_period`` is then the *serve* period (every energy, power, GPU and
carbon row charges it there) and ``col_arrival`` the arrival period; the
demand row stays per (class, arrival period), so every query is served
exactly once within the horizon and never dropped. A single plan serves
every query by the end of its horizon (the deadline is cut there); the
rolling re-planner (:mod:`tpf.replan`) carries the backlog over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tpf.domain import Workload

#: Column arrays that follow a column when it is repeated over serve periods.
_REPEATED = ("col_option", "col_class", "col_model", "col_queries", "col_accuracy", "col_energy_kwh",
             "col_gpu_h", "col_demand_row", "col_point")


def deadline_periods(workload: Workload) -> np.ndarray:
    """Per class, the whole periods a query may wait (0 = served on arrival)."""
    return np.array([c.deadline_periods(workload.period_s) for c in workload.classes], np.int64)


def expand_serve_periods(columns: Mapping[str, np.ndarray], deadlines: np.ndarray,
                         n_periods: int) -> dict[str, Any]:
    """The columns with each deferrable one repeated over its allowed serve periods.

    Adds ``col_arrival`` (the arrival period); ``col_period`` becomes the serve period.
    """
    arrival = np.asarray(columns["col_period"], np.int64)
    wait = np.minimum(deadlines[columns["col_class"]], n_periods - 1 - arrival)
    repeat = wait + 1
    out: dict[str, Any] = {name: np.repeat(np.asarray(columns[name]), repeat) for name in _REPEATED}
    for name in ("col_ttft_gpu_h", "col_e2e_gpu_h"):
        slo = columns.get(name)
        out[name] = None if slo is None else np.repeat(np.asarray(slo), repeat)
    for name in ("point_model", "point_batch"):
        out[name] = np.asarray(columns[name])
    out["col_arrival"] = np.repeat(arrival, repeat)
    first = np.repeat(np.cumsum(repeat) - repeat, repeat)
    out["col_period"] = np.repeat(arrival, repeat) + (np.arange(int(repeat.sum())) - first)
    out["demand_rows"] = np.asarray(columns["demand_rows"])
    return out


def backlog_queries(allocation: pd.DataFrame, n_periods: int) -> pd.DataFrame:
    """Queries arrived but not yet served at the end of each period, per class.

    ``allocation`` needs ``class_name``, ``arrival_period``, ``period`` (served) and ``queries``.
    """
    rows = []
    for name, part in allocation.groupby("class_name"):
        arrived = np.bincount(part["arrival_period"].to_numpy(np.int64), part["queries"].to_numpy(float),
                              n_periods)
        served = np.bincount(part["period"].to_numpy(np.int64), part["queries"].to_numpy(float), n_periods)
        backlog = np.cumsum(arrived) - np.cumsum(served)
        rows += [{"class_name": name, "period": t, "backlog_queries": max(float(b), 0.0)}
                 for t, b in enumerate(backlog)]
    return pd.DataFrame(rows, columns=["class_name", "period", "backlog_queries"])


def late_queries(allocation: pd.DataFrame, deadlines: Mapping[str, int]) -> float:
    """Queries served more than their class's deadline (in periods) after arrival."""
    wait = allocation["period"].to_numpy(np.int64) - allocation["arrival_period"].to_numpy(np.int64)
    allowed = allocation["class_name"].map(lambda c: deadlines.get(c, 0)).to_numpy(np.int64)
    late = (wait > allowed) | (wait < 0)
    return float(allocation["queries"].to_numpy(float)[late].sum())
