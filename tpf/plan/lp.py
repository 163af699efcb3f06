"""The planning LP in matrix form, built straight from :class:`PlanData` arrays.

The same rows as the Pyomo model (``tpf.plan.constraints``), in the same
order, as one sparse matrix. Used to price columns (column generation), to
check baselines against the constraints, and to hand the LP to highspy
directly (the benchmark's reference). Internally a minimization:
``cost = -objective`` when the objective is maximized.

Columns: the shares ``x`` (one per data column), then, when GPUs are
modelled, the powered-on GPU counts ``n[m, t]`` at ``n_x + m * T + t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from tpf.plan.data import PlanData

INF = np.inf


@dataclass
class RowBlock:
    """One named constraint family: its row labels, sense, right-hand sides and unit."""

    name: str
    labels: list[str]
    sense: str            # "=", "<=", ">="
    rhs: np.ndarray
    unit: str
    per_unit: float = 1.0  # shadow price in user units = marginal value / per_unit
    start: int = 0

    @property
    def size(self) -> int:
        return len(self.labels)

    def row_names(self) -> list[str]:
        return [f"{self.name}[{label}]" if label != "" else self.name for label in self.labels]


@dataclass
class LinearProgram:
    cost: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    blocks: list[RowBlock]
    maximize: bool
    n_x: int
    extra: dict[str, object] = field(default_factory=dict)


def _periods(data: PlanData) -> list[str]:
    return [str(t) for t in range(data.n_periods)]


def _model_periods(data: PlanData) -> list[str]:
    return [f"{m},{t}" for m in data.model_names for t in range(data.n_periods)]


def row_blocks(data: PlanData) -> list[RowBlock]:
    """The switched-on constraint families in build order, with right-hand sides."""
    s, T = data.settings, data.n_periods
    blocks = [RowBlock("demand", [f"{data.class_names[c]},{t}" for c, t in data.demand_rows], "=",
                       np.ones(len(data.demand_rows)), "share")]
    caps = [("it_energy_per_period", s.it_energy_kwh_per_period, _periods(data), "kWh", 1.0),
            ("it_energy_total", s.it_energy_kwh_total, [""], "kWh", 1.0),
            ("it_power", None if s.it_power_w is None else s.it_power_w / 1000, _periods(data), "kW", 1.0),
            ("facility_power", data.cap_facility_power_kw, _periods(data), "kW", 1.0),
            ("carbon_budget", s.carbon_budget_kg, [""], "kgCO2", 1.0)]
    for name, cap, labels, unit, per_unit in caps:
        if cap is not None:
            blocks.append(RowBlock(name, labels, "<=", np.full(len(labels), float(cap)), unit, per_unit))
    if data.gpu_vars:
        n_mt = len(data.model_names) * T
        blocks.append(RowBlock("gpu_busy", _model_periods(data), "<=", np.zeros(n_mt), "GPU-h"))
        blocks.append(RowBlock("gpu_capacity", _model_periods(data), "<=",
                               np.repeat(data.fleet_gpus, T), "GPU"))
    floored = np.flatnonzero(~np.isnan(data.accuracy_floors))
    if len(floored):
        blocks.append(RowBlock("accuracy_floor", [data.class_names[c] for c in floored], ">=",
                               data.accuracy_floors[floored], "accuracy_point", 100.0))
    if s.accuracy_target is not None:
        blocks.append(RowBlock("accuracy_target", [""], ">=", np.array([s.accuracy_target]),
                               "accuracy_point", 100.0))
    start = 0
    for block in blocks:
        block.start, start = start, start + block.size
    return blocks


def energy_weights(data: PlanData, block: str) -> np.ndarray | None:
    """Per period, the factor turning that period's IT energy (kWh) into the block's unit."""
    T = data.n_periods
    return {
        "it_energy_per_period": np.ones(T),
        "it_energy_total": np.ones(T),
        "it_power": np.full(T, 1.0 / data.period_h),
        "facility_power": data.pue / data.period_h,
        "carbon_budget": data.carbon_g_per_kwh * data.pue / 1000.0,
    }.get(block)


def objective_weights(data: PlanData) -> tuple[np.ndarray | None, np.ndarray]:
    """(energy weight per period or None, accuracy weight per column) of the objective."""
    objective = data.settings.objective
    if objective == "max_accuracy":
        return None, 100.0 * data.col_weight * data.col_accuracy
    weights = {"min_it_energy": np.ones(data.n_periods), "min_facility_energy": data.pue,
               "min_carbon": data.carbon_g_per_kwh * data.pue / 1000.0}[objective]
    return weights, np.zeros(data.n_columns)


def _block_triplets(data: PlanData, block: RowBlock, n_x: int) -> tuple[np.ndarray, ...]:
    """(rows, cols, values) of one block's coefficients, vectorized."""
    T, M = data.n_periods, len(data.model_names)
    cols_x = np.arange(n_x)
    n_cols = n_x + np.arange(M * T)
    n_model, n_period = np.repeat(np.arange(M), T), np.tile(np.arange(T), M)
    weights = energy_weights(data, block.name)
    if block.name == "demand":
        return data.col_demand_row, cols_x, np.ones(n_x)
    if weights is not None:
        period_row = (lambda t: t) if block.size == T else (lambda t: np.zeros_like(t))
        rows = [period_row(data.col_period)]
        cols, vals = [cols_x], [data.col_energy_kwh * weights[data.col_period]]
        if data.gpu_vars:
            rows.append(period_row(n_period))
            cols.append(n_cols)
            vals.append(data.idle_power_kw[n_model] * data.period_h * weights[n_period])
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    if block.name == "gpu_busy":
        busy_rows = data.col_model * T + data.col_period
        return (np.concatenate([busy_rows, np.arange(M * T)]), np.concatenate([cols_x, n_cols]),
                np.concatenate([data.col_gpu_h, -data.period_h * data.utilization[n_model]]))
    if block.name == "gpu_capacity":
        return np.arange(M * T), n_cols, np.ones(M * T)
    if block.name == "accuracy_floor":
        row = data.col_floor_row()
        keep = row >= 0
        return row[keep], cols_x[keep], (data.col_class_weight * data.col_accuracy)[keep]
    if block.name == "accuracy_target":
        return np.zeros(n_x, dtype=np.int64), cols_x, data.col_weight * data.col_accuracy
    raise KeyError(block.name)


def build_lp(data: PlanData) -> LinearProgram:
    """The whole LP over every column of ``data``, as a sparse matrix."""
    blocks = row_blocks(data)
    n_x = data.n_columns
    n_gpu = len(data.model_names) * data.n_periods if data.gpu_vars else 0
    rows, cols, vals = [], [], []
    for block in blocks:
        r, c, v = _block_triplets(data, block, n_x)
        rows.append(r + block.start)
        cols.append(c)
        vals.append(v)
    n_rows = sum(b.size for b in blocks)
    matrix = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(n_rows, n_x + n_gpu))
    lower, upper = _row_bounds(blocks)
    cost = objective_vector(data)
    maximize = data.settings.objective == "max_accuracy"
    col_upper = np.concatenate([np.ones(n_x), np.repeat(data.fleet_gpus, data.n_periods)[:n_gpu]])
    integrality = np.concatenate([np.zeros(n_x), np.full(n_gpu, int(data.settings.integer_gpus))])
    return LinearProgram(-cost if maximize else cost, matrix, lower, upper, np.zeros(n_x + n_gpu),
                         col_upper, integrality.astype(np.int64), blocks, maximize, n_x)


def objective_vector(data: PlanData) -> np.ndarray:
    """Objective coefficients in user units (points, kWh or kgCO2), shares then GPU counts."""
    weights, accuracy_part = objective_weights(data)
    T, M = data.n_periods, len(data.model_names)
    cost_x = accuracy_part.copy()
    n_model, n_period = np.repeat(np.arange(M), T), np.tile(np.arange(T), M)
    cost_n = np.zeros(M * T)
    if weights is not None:
        cost_x += data.col_energy_kwh * weights[data.col_period]
        cost_n += data.idle_power_kw[n_model] * data.period_h * weights[n_period]
    sign = -1.0 if weights is None else 1.0
    cost_n += sign * data.settings.gpu_cost
    return np.concatenate([cost_x, cost_n if data.gpu_vars else np.zeros(0)])


def _row_bounds(blocks: list[RowBlock]) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = [], []
    for block in blocks:
        lower.append(block.rhs if block.sense in ("=", ">=") else np.full(block.size, -INF))
        upper.append(block.rhs if block.sense in ("=", "<=") else np.full(block.size, INF))
    return np.concatenate(lower), np.concatenate(upper)


def row_activity(lp: LinearProgram, values: np.ndarray) -> np.ndarray:
    return lp.matrix @ values


def violations(lp: LinearProgram, values: np.ndarray, tol: float = 1e-7) -> dict[str, float]:
    """Row name -> amount by which ``values`` breaks it (user units), for broken rows only."""
    activity = row_activity(lp, values)
    excess = np.maximum(activity - lp.row_upper, lp.row_lower - activity)
    out = {}
    for block in lp.blocks:
        names = block.row_names()
        for i in range(block.size):
            amount = excess[block.start + i]
            if amount > tol * max(1.0, abs(block.rhs[i])):
                out[names[i]] = float(amount)
    return out
