"""Rolling-horizon re-planning: plan H hours on a forecast, commit the first, roll on.

At hour t the window (:class:`~tpf.replan.window.WindowSolver`) is re-solved
with the forecast intensity of hours t..t+H-1, the backlog (queries arrived
and not served, by hours left to their deadline), this hour's arrivals and
the forecast arrivals of the next hours. Only hour t is committed: the
queries it serves, the GPUs it powers. What was not served stays in the
backlog with one hour less; queries whose deadline passes unserved are
counted once as deadline misses (misses of classes without a deadline are
SLO misses) and stay due until served, so nothing is dropped.

Accounting of a committed hour uses the *actual* intensity:
``facility kWh = PUE * (sum_k e_k served_k + sum_m P_idle,m gpus_on_m * 1 h)``,
``operational kg = facility kWh * CI_t / 1000``,
``embodied kg = sum_m embodied_kg_per_gpu_h * gpus_on_m``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from tpf.replan.forecast import check_forecast, forecast_window
from tpf.replan.window import WindowSolver, WindowSpec

HOURLY_COLUMNS = ("hour", "policy", "carbon_g_per_kwh", "forecast_g_per_kwh", "queries_arrived",
                  "queries_served", "backlog_queries", "deadline_misses", "slo_misses", "gpus_on",
                  "it_energy_kwh", "facility_energy_kwh", "operational_kg", "embodied_kg", "carbon_kg",
                  "accuracy_points")


@dataclass
class PolicyRun:
    """One policy over the span: per-hour accounting and totals."""

    name: str
    hourly: pd.DataFrame
    wall_s: float
    solves: int
    served_by_class: np.ndarray      # (N, K) queries served per hour and class

    def totals(self) -> dict[str, float]:
        h = self.hourly
        served = float(h["queries_served"].sum())
        return {
            "carbon_kg": float(h["carbon_kg"].sum()),
            "operational_kg": float(h["operational_kg"].sum()),
            "embodied_kg": float(h["embodied_kg"].sum()),
            "it_energy_kwh": float(h["it_energy_kwh"].sum()),
            "facility_energy_kwh": float(h["facility_energy_kwh"].sum()),
            "queries_served": served,
            "accuracy": float(h["accuracy_points"].sum() / served / 100.0) if served else float("nan"),
            "deadline_misses": float(h["deadline_misses"].sum()),
            "slo_misses": float(h["slo_misses"].sum()),
            "backlog_end_queries": float(h["backlog_queries"].iloc[-1]) if len(h) else 0.0,
            "gpu_hours": float(h["gpus_on"].sum()),
            "wall_s": self.wall_s,
            "solves": float(self.solves),
        }


@dataclass(frozen=True)
class Span:
    """The actual series over the span plus the horizon's tail (hours beyond the span)."""

    carbon_g_per_kwh: np.ndarray     # (N + tail,)
    arrivals: np.ndarray             # (K, N + tail) queries per hour
    accuracy: np.ndarray             # (K,) accuracy of each class's blended option
    n_hours: int
    user_forecast: np.ndarray | None = None


class _Backlog:
    """Queries waiting, per class and hours left to the deadline (0 = due now), plus the overdue."""

    def __init__(self, deadlines: np.ndarray) -> None:
        self.deadlines = deadlines
        self.left = [np.zeros(int(d) + 1) for d in deadlines]
        self.overdue = np.zeros(len(deadlines))

    def total(self) -> float:
        return float(sum(b.sum() for b in self.left) + self.overdue.sum())


def _slot_demand(solver: WindowSolver, backlog: _Backlog, arrivals_now: np.ndarray,
                 arrivals_ahead: np.ndarray) -> np.ndarray:
    """Queries of every window slot: backlog (this hour's arrivals in r = d), overdue in r = 0, forecasts."""
    slots = solver.slots
    demand = np.zeros(slots.n_slots)
    for i in range(slots.n_slots):
        k, r = slots.slot_class[i], slots.slot_backlog[i]
        if r < 0:
            demand[i] = arrivals_ahead[k, slots.slot_first[i]]
        else:
            demand[i] = (arrivals_now[k] if r == backlog.deadlines[k] else backlog.left[k][r])
            if r == 0:
                demand[i] += backlog.overdue[k]
    return demand


def _commit(solver: WindowSolver, values: np.ndarray, demand: np.ndarray,
            backlog: _Backlog) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Serve window hour 0; roll the backlog on. Returns (served per class, GPUs on, misses, SLO misses)."""
    slots, n_classes = solver.slots, len(backlog.deadlines)
    served_cols = solver.part(values, "served")
    now = slots.col_hour == 0
    served_slot = np.bincount(slots.col_slot[now], served_cols[now], slots.n_slots)
    served = np.bincount(slots.slot_class, served_slot, n_classes)
    left = [np.zeros_like(b) for b in backlog.left]
    misses = slo = 0.0
    overdue = np.zeros(n_classes)
    for i in np.flatnonzero(slots.slot_backlog >= 0):
        k, r = slots.slot_class[i], slots.slot_backlog[i]
        remaining = max(demand[i] - served_slot[i], 0.0)
        if r == 0:
            new = max(remaining - backlog.overdue[k], 0.0)
            overdue[k] = remaining
            misses += new
            slo += new if backlog.deadlines[k] == 0 else 0.0
        else:
            left[k][r - 1] = remaining
    backlog.left, backlog.overdue = left, overdue
    gpus = solver.part(values, "gpus_on").reshape(solver.spec.n_models, solver.spec.horizon_h)[:, 0]
    return served, gpus, misses, slo


def run_policy(name: str, spec: WindowSpec, span: Span, forecast: str) -> PolicyRun:
    """Walk the span hour by hour with ``forecast`` (see :mod:`tpf.replan.forecast`)."""
    check_forecast(forecast)
    load_forecast = "seasonal_naive" if forecast == "csv" else forecast
    start = time.perf_counter()
    solver, backlog = WindowSolver(spec), _Backlog(spec.deadlines_h)
    horizon, rows, served_log = spec.horizon_h, [], []
    for t in range(span.n_hours):
        ci = forecast_window(forecast, span.carbon_g_per_kwh, t, horizon, span.user_forecast)
        ahead = np.stack([forecast_window(load_forecast, a, t, horizon) for a in span.arrivals])
        demand = _slot_demand(solver, backlog, span.arrivals[:, t], ahead)
        values = solver.solve(ci, demand)
        served, gpus, misses, slo = _commit(solver, values, demand, backlog)
        served_log.append(served)
        rows.append(_account(spec, span, t, ci[0], served, gpus, misses, slo, backlog.total(), name))
    hourly = pd.DataFrame(rows, columns=list(HOURLY_COLUMNS))
    return PolicyRun(name, hourly, time.perf_counter() - start, solver.solves,
                     np.array(served_log).reshape(span.n_hours, len(spec.deadlines_h)))


def _account(spec: WindowSpec, span: Span, t: int, forecast_now: float, served: np.ndarray,
             gpus: np.ndarray, misses: float, slo: float, backlog: float, name: str) -> list[float | str | int]:
    it_kwh = float(np.dot(spec.energy_kwh_per_query, served) + np.dot(spec.idle_kw, gpus))
    facility_kwh = spec.pue * it_kwh
    operational = facility_kwh * float(span.carbon_g_per_kwh[t]) / 1000.0
    embodied = float(np.dot(spec.embodied_kg_per_gpu_h, gpus))
    return [t, name, float(span.carbon_g_per_kwh[t]), float(forecast_now), float(span.arrivals[:, t].sum()),
            float(served.sum()), backlog, misses, slo, float(gpus.sum()), it_kwh, facility_kwh, operational,
            embodied, operational + embodied, float(np.dot(span.accuracy, served)) * 100.0]


def serve_on_arrival(spec: WindowSpec) -> WindowSpec:
    """The carbon-agnostic policy's window: every deadline 0, one hour."""
    return replace(spec, horizon_h=1, deadlines_h=np.zeros_like(spec.deadlines_h))


def run_policies(spec: WindowSpec, span: Span, forecast: str) -> dict[str, PolicyRun]:
    """The forecast policy, the oracle (same horizon, true series) and the carbon-agnostic policy."""
    runs = {"agnostic": run_policy("agnostic", serve_on_arrival(spec), span, "oracle"),
            "forecast": run_policy("forecast", spec, span, forecast)}
    runs["oracle"] = (runs["forecast"] if forecast == "oracle"
                      else run_policy("oracle", spec, span, "oracle"))
    return runs
