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

#: Relative round-off below which a slot counts as fully served (HiGHS's primal tolerance is 1e-7).
MISS_TOL = 1.0e-9

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

    carbon_g_per_kwh: np.ndarray     # (N + tail,) or (S, N + tail) per site
    arrivals: np.ndarray             # (K, N + tail) queries per hour
    accuracy: np.ndarray             # (K,) accuracy of each class's blended option
    n_hours: int
    user_forecast: np.ndarray | None = None   # like carbon_g_per_kwh
    plan_weights: np.ndarray | None = None    # (S,) fixed planning weights replacing the forecast (agnostic)

    @property
    def carbon_by_site(self) -> np.ndarray:
        return np.atleast_2d(self.carbon_g_per_kwh)


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


@dataclass
class Committed:
    """What hour 0 of a window commits: queries per (site, class), GPUs per (site, model), misses."""

    served: np.ndarray     # (S, K)
    gpus: np.ndarray       # (S, M)
    misses: float
    slo_misses: float


def _commit(solver: WindowSolver, values: np.ndarray, demand: np.ndarray, backlog: _Backlog) -> Committed:
    """Serve window hour 0; roll the backlog on."""
    slots, n_classes, spec = solver.slots, len(backlog.deadlines), solver.spec
    served_cols = solver.part(values, "served")
    now = slots.col_hour == 0
    served_slot = np.bincount(slots.col_slot[now], served_cols[now], slots.n_slots)
    key = slots.col_site[now] * n_classes + slots.slot_class[slots.col_slot[now]]
    served = np.bincount(key, served_cols[now], spec.n_sites * n_classes).reshape(spec.n_sites, n_classes)
    left = [np.zeros_like(b) for b in backlog.left]
    misses = slo = 0.0
    overdue = np.zeros(n_classes)
    for i in np.flatnonzero(slots.slot_backlog >= 0):
        k, r = slots.slot_class[i], slots.slot_backlog[i]
        remaining = demand[i] - served_slot[i]
        remaining = remaining if remaining > MISS_TOL * max(demand[i], 1.0) else 0.0   # solver round-off
        if r == 0:
            new = max(remaining - backlog.overdue[k], 0.0)
            overdue[k] = remaining
            misses += new
            slo += new if backlog.deadlines[k] == 0 else 0.0
        else:
            left[k][r - 1] = remaining
    backlog.left, backlog.overdue = left, overdue
    gpus = solver.part(values, "gpus_on").reshape(spec.n_sites, spec.n_models, spec.horizon_h)[:, :, 0]
    return Committed(served, gpus, misses, slo)


def run_policy(name: str, spec: WindowSpec, span: Span, forecast: str) -> PolicyRun:
    """Walk the span hour by hour with ``forecast`` (see :mod:`tpf.replan.forecast`)."""
    check_forecast(forecast)
    load_forecast = "seasonal_naive" if forecast == "csv" else forecast
    start = time.perf_counter()
    solver, backlog = WindowSolver(spec), _Backlog(spec.deadlines_h)
    horizon, rows, served_log = spec.horizon_h, [], []
    carbon = span.carbon_by_site
    user = None if span.user_forecast is None else np.atleast_2d(span.user_forecast)
    for t in range(span.n_hours):
        ci = (np.repeat(span.plan_weights[:, None], horizon, axis=1) if span.plan_weights is not None else
              np.stack([forecast_window(forecast, carbon[j], t, horizon, None if user is None else user[j])
                        for j in range(len(carbon))]))
        ahead = np.stack([forecast_window(load_forecast, a, t, horizon) for a in span.arrivals])
        demand = _slot_demand(solver, backlog, span.arrivals[:, t], ahead)
        committed = _commit(solver, solver.solve(ci, demand), demand, backlog)
        served_log.append(committed.served.sum(axis=0))
        rows.append(_account(spec, span, t, ci[:, 0], committed, backlog.total(), name))
    hourly = pd.DataFrame(rows)
    return PolicyRun(name, hourly, time.perf_counter() - start, solver.solves,
                     np.array(served_log).reshape(span.n_hours, len(spec.deadlines_h)))


def _account(spec: WindowSpec, span: Span, t: int, forecast_now: np.ndarray, done: Committed,
             backlog: float, name: str) -> dict[str, float | str | int]:
    """One hour's row: per site ``facility kWh = PUE_j * IT kWh_j``, operational kg = facility kWh x CI_j / 1000."""
    ci_now = span.carbon_by_site[:, t]
    it_kwh = done.served @ spec.energy_kwh_per_query + done.gpus @ spec.idle_kw          # (S,)
    facility_kwh = np.asarray(spec.pue, float) * it_kwh
    operational = facility_kwh * ci_now / 1000.0
    embodied = float((done.gpus @ spec.embodied_kg_per_gpu_h).sum())
    facility = float(facility_kwh.sum())
    # one intensity per hour: the facility-energy-weighted mean over the sites (exact for the carbon)
    mean_ci = float(operational.sum() * 1000.0 / facility) if facility > 0 else float(ci_now.mean())
    weights = facility_kwh if facility > 0 else np.ones(len(ci_now))
    row: dict[str, float | str | int] = dict(zip(HOURLY_COLUMNS, [
        t, name, mean_ci, float(np.average(forecast_now, weights=weights)), float(span.arrivals[:, t].sum()),
        float(done.served.sum()), backlog, done.misses, done.slo_misses, float(done.gpus.sum()),
        float(it_kwh.sum()), facility, float(operational.sum()), embodied, float(operational.sum()) + embodied,
        float(np.dot(span.accuracy, done.served.sum(axis=0))) * 100.0], strict=True))
    if spec.n_sites > 1:
        for j, site in enumerate(spec.site_names):
            row[f"queries_served_{site}"] = float(done.served[j].sum())
            row[f"facility_energy_kwh_{site}"] = float(facility_kwh[j])
            row[f"carbon_g_per_kwh_{site}"] = float(ci_now[j])
    return row


def serve_on_arrival(spec: WindowSpec) -> WindowSpec:
    """The carbon-agnostic policy's window: every deadline 0, one hour."""
    return replace(spec, horizon_h=1, deadlines_h=np.zeros_like(spec.deadlines_h))


def home_first(n_sites: int) -> np.ndarray:
    """Planning weights that fill the first listed (home) site, then the next, whatever the carbon."""
    return 1.0 + 1.0e3 * np.arange(n_sites, dtype=float)


def run_policies(spec: WindowSpec, span: Span, forecast: str) -> dict[str, PolicyRun]:
    """The forecast policy, the oracle (same horizon, true series) and the carbon-agnostic policy
    (on arrival, at the first listed site while its fleet lasts); with several sites also ``spatial``
    (on arrival, each hour at the cleanest sites the rules allow)."""
    agnostic_span = replace(span, plan_weights=home_first(spec.n_sites))
    runs = {"agnostic": run_policy("agnostic", serve_on_arrival(spec), agnostic_span, "oracle"),
            "forecast": run_policy("forecast", spec, span, forecast)}
    if spec.n_sites > 1:
        runs["spatial"] = run_policy("spatial", serve_on_arrival(spec), span, "oracle")
    runs["oracle"] = (runs["forecast"] if forecast == "oracle"
                      else run_policy("oracle", spec, span, "oracle"))
    return runs
