"""The re-planning window: one LP over the next H hours, built once and re-solved warm.

Per class k (its blended option: energy, GPU time per model, accuracy; see
:mod:`tpf.replan.inputs`) and deadline ``d_k`` (whole hours, 0 = served on
arrival), the window holds *slots* of queries with the hours they may be
served in (window hours 0..H-1, hour 0 is now):

* backlog slots ``r = 0..d_k``: queries that must be served within ``r``
  more hours (``r = d_k``: this hour's arrivals; ``r = 0``: due now),
  servable in hours ``0..min(r, H-1)``;
* future slots ``a = 1..H-1``: the forecast arrivals of hour ``a``,
  servable in hours ``a..min(a + d_k, H-1)``.

With several sites j (each its own fleet, PUE, power cap and carbon series;
a class may only use the sites its latency or residency rule allows),
every column also names a site. Variables, each defined once
(``define_window_*``): ``y[slot, s, j] >= 0`` queries of a slot served in
hour s at site j; ``gpus_on[j, m, s]`` in ``[0, N_jm]``; ``late[slot] >= 0``
queries of a slot not served by its deadline (priced at
:data:`LATE_KG_PER_QUERY`, so only used when capacity or the power cap
leave no other way). Rows: ``demand[slot]``: ``sum_{s,j} y + late = D_slot``;
``gpu_busy[j, m, s]``: ``sum g_km y - U_m gpus_on <= 0`` (GPU-h);
``facility_power_cap[j, s]``: ``PUE_j (sum e_k y + P_idle gpus_on) <= P_cap,j`` (kW).
Objective (kgCO2): forecast ``CI_js PUE_j / 1000`` times IT kWh, plus, when
priced, embodied kg per powered GPU-hour, plus a tiny cost per hour of
waiting (ties go to the earliest hour).

Hour to hour only the costs (the forecast) and the demand rows' right-hand
sides (backlog and forecast arrivals) change; the HiGHS object is kept and
re-solved from its last basis.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from tpf.errors import SolverError
from tpf.plan.blocks import RowBlock, VariableBlock, coefficients, stack
from tpf.plan.highs_direct import new_highs, pass_lp
from tpf.plan.lp import LinearProgram, _row_bounds

#: Cost of one query missing its deadline (kgCO2-equivalent): far above any query's carbon.
LATE_KG_PER_QUERY = 1.0e3
#: Cost of one query-hour of waiting (kg): breaks ties toward the earliest hour.
WAIT_KG_PER_QUERY_H = 1.0e-12


@dataclass(frozen=True)
class WindowSpec:
    """What a window LP needs, per class k and model m (user units)."""

    horizon_h: int
    deadlines_h: np.ndarray          # (K,) whole hours a query may wait
    energy_kwh_per_query: np.ndarray  # (K,) IT energy above idle
    gpu_h_per_query: np.ndarray      # (K, M) busy GPU-hours per query on each model
    idle_kw: np.ndarray              # (M,) per powered-on GPU
    utilization: np.ndarray          # (M,)
    fleet_gpus: np.ndarray           # (S, M); one site may be given as (M,)
    pue: np.ndarray | float          # (S,)
    power_cap_kw: np.ndarray | float | None   # (S,) kW, inf or None = no cap
    embodied_kg_per_gpu_h: np.ndarray  # (M,)
    price_embodied: bool = True
    allowed: np.ndarray | None = None  # (K, S) sites each class may use; None = every site
    site_names: tuple[str, ...] = ("site",)

    def __post_init__(self) -> None:
        fleet = np.atleast_2d(np.asarray(self.fleet_gpus, float))
        n_sites = fleet.shape[0]
        cap = np.full(n_sites, np.inf) if self.power_cap_kw is None else self.power_cap_kw
        allowed = np.ones((len(self.deadlines_h), n_sites), bool) if self.allowed is None else self.allowed
        names = self.site_names if len(self.site_names) == n_sites else tuple(f"site{j}" for j in range(n_sites))
        for name, value in (("fleet_gpus", fleet), ("pue", np.broadcast_to(np.asarray(self.pue, float), n_sites)),
                            ("power_cap_kw", np.broadcast_to(np.asarray(cap, float), n_sites)),
                            ("allowed", np.asarray(allowed, bool)), ("site_names", names)):
            object.__setattr__(self, name, value)

    @property
    def n_models(self) -> int:
        return len(self.idle_kw)

    @property
    def n_sites(self) -> int:
        return int(np.asarray(self.fleet_gpus).shape[0])


@dataclass
class Slots:
    """The window's slots and columns as arrays."""

    slot_class: np.ndarray
    slot_first: np.ndarray
    slot_last: np.ndarray
    slot_backlog: np.ndarray     # remaining hours r for a backlog slot, -1 for a future slot
    col_slot: np.ndarray
    col_hour: np.ndarray
    col_site: np.ndarray

    @property
    def n_slots(self) -> int:
        return len(self.slot_class)

    @property
    def n_cols(self) -> int:
        return len(self.col_slot)


def window_slots(spec: WindowSpec) -> Slots:
    """Every slot of every class, and one column per (slot, hour it may be served in)."""
    h_last = spec.horizon_h - 1
    rows: list[tuple[int, int, int, int]] = []    # (class, first hour, last hour, hours left or -1)
    for k, d in enumerate(spec.deadlines_h):
        rows += [(k, 0, min(r, h_last), r) for r in range(int(d) + 1)]
        rows += [(k, a, min(a + int(d), h_last), -1) for a in range(1, spec.horizon_h)]
    table = np.array(rows, np.int64).reshape(-1, 4)
    cls_a, first_a, last_a, backlog = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
    width = last_a - first_a + 1
    col_slot = np.repeat(np.arange(len(first_a)), width)
    col_hour = np.repeat(first_a, width) + np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width)
    allowed = np.asarray(spec.allowed, bool)[cls_a[col_slot]]          # (columns, S)
    column, site = np.nonzero(allowed)
    return Slots(cls_a, first_a, last_a, backlog, col_slot[column], col_hour[column], site)


# --- variables -----------------------------------------------------------------------------


def define_window_served(spec: WindowSpec, slots: Slots) -> VariableBlock:
    """``y[slot, s, j] >= 0``: queries of a slot served in window hour s at site j."""
    return VariableBlock("served", slots.n_cols, np.full(slots.n_cols, np.inf), False, "query",
                         "queries of a slot served in an hour of the window")


def define_window_gpus_on(spec: WindowSpec, slots: Slots) -> VariableBlock:
    """``gpus_on[j, m, s]`` in [0, N_jm]: GPUs of model m powered on at site j in window hour s."""
    return VariableBlock("gpus_on", spec.n_sites * spec.n_models * spec.horizon_h,
                         np.repeat(np.asarray(spec.fleet_gpus, float).ravel(), spec.horizon_h), False, "GPU",
                         "GPUs of a model powered on at a site in an hour of the window")


def define_window_late(spec: WindowSpec, slots: Slots) -> VariableBlock:
    """``late[slot] >= 0``: queries of a slot the window cannot serve by their deadline."""
    return VariableBlock("late", slots.n_slots, np.full(slots.n_slots, np.inf), False, "query",
                         "queries of a slot not served by their deadline")


# --- rows -------------------------------------------------------------------------------------


def define_window_demand(spec: WindowSpec, slots: Slots, var: dict[str, VariableBlock],
                         n_vars: int) -> RowBlock:
    """demand[slot]: ``sum_s y[slot, s] + late[slot] = D_slot`` (queries; the rhs changes each hour)."""
    rows = np.concatenate([slots.col_slot, np.arange(slots.n_slots)])
    cols = np.concatenate([var["served"].positions(), var["late"].positions()])
    matrix = coefficients(rows, cols, np.ones(len(rows)), slots.n_slots, n_vars)
    return RowBlock("demand", [str(i) for i in range(slots.n_slots)], "=", np.zeros(slots.n_slots), "query",
                    matrix, description="every query of a slot is served or counted late")


def define_window_gpu_busy(spec: WindowSpec, slots: Slots, var: dict[str, VariableBlock],
                           n_vars: int) -> RowBlock:
    """gpu_busy[j, m, s]: ``sum g_km y[., s, j] - U_m gpus_on[j, m, s] <= 0`` (GPU-h)."""
    horizon, n_models = spec.horizon_h, spec.n_models
    col_class = slots.slot_class[slots.col_slot]
    rows, cols, vals = [], [], []
    for m in range(n_models):
        g = spec.gpu_h_per_query[col_class, m]
        used = g > 0
        rows.append((slots.col_site[used] * n_models + m) * horizon + slots.col_hour[used])
        cols.append(var["served"].positions()[used])
        vals.append(g[used])
    size = spec.n_sites * n_models * horizon
    rows.append(np.arange(size))
    cols.append(var["gpus_on"].positions())
    vals.append(-np.tile(np.repeat(spec.utilization, horizon), spec.n_sites))
    matrix = coefficients(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), size, n_vars)
    labels = [f"{site},{m},{s}" for site in spec.site_names for m in range(n_models) for s in range(horizon)]
    return RowBlock("gpu_busy", labels, "<=",
                    np.zeros(size), "GPU-h", matrix, setting="gpu_capacity",
                    description="busy GPU-hours within the powered-on GPUs")


def it_energy_triplets(spec: WindowSpec, slots: Slots,
                       var: dict[str, VariableBlock]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(site * H + hour, variable, kWh per unit) of the IT energy of each site and window hour."""
    col_class = slots.slot_class[slots.col_slot]
    per_site = spec.n_models * spec.horizon_h
    gpu_hour = np.tile(np.arange(spec.horizon_h), spec.n_models * spec.n_sites)
    gpu_model = np.tile(np.repeat(np.arange(spec.n_models), spec.horizon_h), spec.n_sites)
    gpu_site = np.repeat(np.arange(spec.n_sites), per_site)
    return (np.concatenate([slots.col_site * spec.horizon_h + slots.col_hour,
                            gpu_site * spec.horizon_h + gpu_hour]),
            np.concatenate([var["served"].positions(), var["gpus_on"].positions()]),
            np.concatenate([spec.energy_kwh_per_query[col_class], spec.idle_kw[gpu_model]]))


def define_window_facility_power_cap(spec: WindowSpec, slots: Slots, var: dict[str, VariableBlock],
                                     n_vars: int) -> RowBlock | None:
    """facility_power_cap[j, s]: ``PUE_j * IT kWh of site j in hour s <= P_cap,j * 1 h`` (kW), capped sites only."""
    capped = np.flatnonzero(np.isfinite(np.asarray(spec.power_cap_kw, float)))
    if not len(capped):
        return None
    keys, cols, kwh = it_energy_triplets(spec, slots, var)
    site = keys // spec.horizon_h
    row_of_site = -np.ones(spec.n_sites, np.int64)
    row_of_site[capped] = np.arange(len(capped))
    keep = row_of_site[site] >= 0
    rows = row_of_site[site[keep]] * spec.horizon_h + keys[keep] % spec.horizon_h
    pue = np.asarray(spec.pue, float)
    size = len(capped) * spec.horizon_h
    matrix = coefficients(rows, cols[keep], pue[site[keep]] * kwh[keep], size, n_vars)
    caps = np.repeat(np.asarray(spec.power_cap_kw, float)[capped], spec.horizon_h)
    labels = [f"{spec.site_names[j]},{s}" for j in capped for s in range(spec.horizon_h)]
    return RowBlock("facility_power_cap", labels, "<=", caps, "kW", matrix, phrase="facility power",
                    setting="facility_power", description="mean facility power of each site and hour")


WINDOW_VARIABLES = (define_window_served, define_window_gpus_on, define_window_late)
WINDOW_ROWS = (define_window_demand, define_window_gpu_busy, define_window_facility_power_cap)


def window_cost(spec: WindowSpec, slots: Slots, var: dict[str, VariableBlock], n_vars: int,
                carbon_g_per_kwh: np.ndarray) -> np.ndarray:
    """Objective (kg) for a forecast of the window's carbon intensity (g/kWh; (S, H) or (H,) for one site)."""
    cost = np.zeros(n_vars)
    keys, cols, kwh = it_energy_triplets(spec, slots, var)
    factor = np.asarray(spec.pue, float)[:, None] * np.atleast_2d(carbon_g_per_kwh) / 1000.0   # (S, H)
    np.add.at(cost, cols, kwh * factor.ravel()[keys])
    if spec.price_embodied:
        cost[var["gpus_on"].positions()] += np.tile(np.repeat(spec.embodied_kg_per_gpu_h, spec.horizon_h),
                                                    spec.n_sites)
    wait = slots.col_hour - slots.slot_first[slots.col_slot]
    cost[var["served"].positions()] += WAIT_KG_PER_QUERY_H * (wait + 1)
    cost[var["late"].positions()] = LATE_KG_PER_QUERY
    return cost


class WindowSolver:
    """The window LP held in one HiGHS object; each :meth:`solve` changes costs and demands only."""

    def __init__(self, spec: WindowSpec) -> None:
        self.spec, self.slots = spec, window_slots(spec)
        blocks = [define(spec, self.slots) for define in WINDOW_VARIABLES]
        stack(blocks, [])
        self.var = {b.name: b for b in blocks}
        self.n_vars = sum(b.size for b in blocks)
        rows = [b for define in WINDOW_ROWS if (b := define(spec, self.slots, self.var, self.n_vars))]
        stack([], rows)
        self.rows = rows
        import scipy.sparse as sp
        matrix = sp.vstack([b.coefficients for b in rows]).tocsc()
        lower, upper = _row_bounds(rows)
        upper_cols = np.concatenate([b.upper for b in blocks]).astype(float)
        lp = LinearProgram(np.zeros(self.n_vars), matrix, lower, upper, np.zeros(self.n_vars), upper_cols,
                           np.zeros(self.n_vars, np.int64), rows, False, self.var["served"].size)
        self.highs = new_highs(method="simplex")
        pass_lp(self.highs, lp)
        self._all = np.arange(self.n_vars, dtype=np.int32)
        self._demand = np.arange(self.slots.n_slots, dtype=np.int32)
        self.solves = 0

    def solve(self, carbon_g_per_kwh: np.ndarray, demand_queries: np.ndarray) -> np.ndarray:
        """Optimal values of every variable for this forecast and these slot demands."""
        cost = window_cost(self.spec, self.slots, self.var, self.n_vars, carbon_g_per_kwh)
        self.highs.changeColsCost(self.n_vars, self._all, cost)
        rhs = np.asarray(demand_queries, float)
        self.highs.changeRowsBounds(len(rhs), self._demand, rhs, rhs)  # type: ignore[attr-defined]
        self.highs.run()
        status = self.highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise SolverError(f"re-planning window: HiGHS status {self.highs.modelStatusToString(status)}")
        self.solves += 1
        return np.asarray(self.highs.getSolution().col_value)

    def part(self, values: np.ndarray, name: str) -> np.ndarray:
        block = self.var[name]
        return values[block.start: block.start + block.size]
