"""Validated, vectorized planner data: the LP's columns, rows and caps as arrays.

One *column* per (class c, option o of c, period t) with positive demand; its
decision variable is the share of class c's queries in period t that option o
serves (``x[c,o,t]`` in [0, 1]; queries = share * demand). Everything the
constraint functions need is precomputed here once, in user units:
energy in kWh, power in kW, carbon in kg, GPU time in GPU-hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tpf.domain import J_PER_KWH, Facility, Fleet, Grid, Workload
from tpf.errors import ConfigError
from tpf.plan.defer import deadline_periods, expand_serve_periods
from tpf.plan.options import OPTION_COLUMNS, OptionTable, dominated_mask
from tpf.plan.settings import PlannerSettings

S_PER_H = 3600.0


@dataclass
class PlanData:
    """Arrays of one planning problem (see the module docstring for the units)."""

    options: pd.DataFrame          # kept option rows (after pruning), index 0..n-1
    pruned: pd.DataFrame           # option rows dropped as dominated
    class_names: list[str]
    model_names: list[str]
    period_s: float
    pue: np.ndarray                # (T,)
    carbon_g_per_kwh: np.ndarray   # (T,)
    demand_queries: np.ndarray     # (C, T) queries per period
    # columns
    col_option: np.ndarray         # index into options
    col_class: np.ndarray
    col_period: np.ndarray
    col_model: np.ndarray
    col_queries: np.ndarray        # demand of the column's (class, period)
    col_accuracy: np.ndarray       # fraction
    col_energy_kwh: np.ndarray     # IT energy charged per unit share (above idle when GPUs are modelled)
    col_gpu_h: np.ndarray          # GPU-hours per unit share
    col_ttft_gpu_h: np.ndarray | None  # GPU-hours per unit share at the tail-latency SLO's load (None: no SLO)
    col_demand_row: np.ndarray     # index of the column's (class, period) demand row
    demand_rows: np.ndarray        # (R, 2): class index, period index
    # models
    gpu_vars: bool                 # powered-on GPU counts n[m,t] are modelled
    fleet_gpus: np.ndarray         # (M,)
    utilization: np.ndarray        # (M,)
    idle_power_kw: np.ndarray      # (M,)
    # caps (None = constraint off), floors NaN = none
    settings: PlannerSettings
    cap_facility_power_kw: float | None
    accuracy_floors: np.ndarray    # (C,)
    constraints: tuple[Any, ...] | None = None   # constraint definitions; None = tpf.plan.define's
    col_arrival: np.ndarray | None = None         # arrival period of a deferrable column (None: col_period)
    embodied_kg_per_gpu_h: np.ndarray | None = None  # (M,) per powered-on GPU-hour (None: none)
    # operating points: one per (model, batch size) of the kept options
    col_point: np.ndarray | None = None           # index of the column's operating point
    point_model: np.ndarray | None = None         # (P,) model index of each point
    point_batch: np.ndarray | None = None         # (P,) batch size of each point (requests)
    col_e2e_gpu_h: np.ndarray | None = None       # GPU-hours per unit share at the e2e SLO's load (None: no SLO)
    gpus_per_replica: np.ndarray | None = None    # (M,) GPUs one replica of the model spans

    @property
    def n_points(self) -> int:
        return 0 if self.point_model is None else len(self.point_model)

    @property
    def point_lowest(self) -> np.ndarray:
        """(P,) True for the lowest operating point of its model (no batch-forming floor)."""
        assert self.point_model is not None and self.point_batch is not None
        lowest = np.full(len(self.model_names), np.inf)
        np.minimum.at(lowest, self.point_model, self.point_batch)
        return self.point_batch <= lowest[self.point_model]

    @property
    def replica_gpus(self) -> np.ndarray:
        """(P,) GPUs one replica of each point's model spans."""
        per_model = np.ones(len(self.model_names)) if self.gpus_per_replica is None else self.gpus_per_replica
        return per_model[self.point_model]

    @property
    def integer_counts(self) -> bool:
        """The plan is a MILP: whole replicas (``replicas="integer"``) or integer GPU counts."""
        return self.gpu_vars and (self.settings.integer_gpus
                                  or (self.replicas_modelled and self.settings.replicas == "integer"))

    @property
    def replicas_modelled(self) -> bool:
        """Powered replicas per (model, operating point, period) are variables (with GPU capacity)."""
        return self.gpu_vars and self.n_points > 0

    @property
    def n_periods(self) -> int:
        return len(self.pue)

    @property
    def period_h(self) -> float:
        return self.period_s / S_PER_H

    @property
    def n_columns(self) -> int:
        return len(self.col_option)

    @property
    def arrival_period(self) -> np.ndarray:
        """Per column, the period its queries arrive in (``col_period`` is when they are served)."""
        return self.col_period if self.col_arrival is None else self.col_arrival

    @property
    def total_queries(self) -> float:
        return float(self.demand_queries.sum())

    @property
    def class_queries(self) -> np.ndarray:
        return self.demand_queries.sum(axis=1)

    @property
    def col_weight(self) -> np.ndarray:
        """Share of all queries one unit of a column's share stands for."""
        return self.col_queries / self.total_queries

    @property
    def col_class_weight(self) -> np.ndarray:
        """Share of its class's queries over the horizon one unit of a column's share stands for."""
        return self.col_queries / self.class_queries[self.col_class]

    def col_floor_row(self) -> np.ndarray:
        """Per column: its ``accuracy_floors`` row (floored classes in class order), -1 if none."""
        floored = np.flatnonzero(~np.isnan(self.accuracy_floors))
        row_of_class = -np.ones(len(self.class_names), dtype=np.int64)
        row_of_class[floored] = np.arange(len(floored))
        return row_of_class[self.col_class]


def _as_table(options: OptionTable | pd.DataFrame) -> pd.DataFrame:
    table = options.table if isinstance(options, OptionTable) else options
    missing = [c for c in OPTION_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(f"options: missing columns {missing}; an option table needs {list(OPTION_COLUMNS)}")
    return table.reset_index(drop=True)


def _option_problems(table: pd.DataFrame, workload: Workload, fleet_models: set[str],
                     gpu_vars: bool) -> list[str]:
    problems = []
    known = {c.name for c in workload.classes}
    for name in sorted(set(table["class_name"]) - known):
        problems.append(f"options.class_name: {name!r} is not a workload class; known: {sorted(known)}")
    if gpu_vars:
        for model in sorted(set(table["model"]) - fleet_models):
            problems.append(f"options.model: {model!r} has no fleet entry (fleet models: "
                            f"{sorted(fleet_models)}); add one or switch gpu_capacity off")
        for row in np.flatnonzero(table["gpu_s"].isna().to_numpy())[:5]:
            problems.append(f"options[{row}].gpu_s: unknown (card without duration curve) but "
                            "gpu_capacity is on")
    checks = [("accuracy", 0.0, 1.0), ("energy_j", 0.0, np.inf), ("gpu_s", 0.0, np.inf)]
    for column, low, high in checks:
        values = table[column].to_numpy(float)
        outside = ~((values >= low) & (values <= high))
        if column == "gpu_s":
            outside &= ~np.isnan(values)   # unknown GPU time is checked above
        for row in np.flatnonzero(outside)[:5]:
            problems.append(f"options[{row}].{column}: must be in [{low}, {high}], got {values[row]}")
    return problems


def _fleet_arrays(fleet: Fleet, models: list[str], table: pd.DataFrame) -> tuple[np.ndarray, ...]:
    by_model = {e.model: e for e in fleet.entries}
    gpus = np.array([by_model[m].gpus if m in by_model else 0 for m in models], float)
    util = np.array([by_model[m].utilization if m in by_model else 1.0 for m in models], float)
    idle = np.zeros(len(models))
    if "idle_power_w" in table.columns:
        per_model = table.groupby("model")["idle_power_w"].max()
        idle = np.array([float(per_model.get(m, 0.0)) for m in models]) / 1000.0
    return gpus, util, idle


def _check_environment(workload: Workload, facility: Facility, grid: Grid, fleet: Fleet,
                       settings: PlannerSettings) -> None:
    problems: list[str] = []
    for check in (workload.validate, lambda: facility.validate(workload.n_periods),
                  lambda: grid.validate(workload.n_periods), fleet.validate, settings.validate):
        try:
            check()
        except ConfigError as exc:
            problems += exc.problems
    duplicates = sorted({e.model for e in fleet.entries
                         if [f.model for f in fleet.entries].count(e.model) > 1})
    problems += [f"fleet.entries: model {m!r} listed more than once" for m in duplicates]
    names = {c.name for c in workload.classes}
    problems += [f"planner.accuracy_floors[{c!r}]: not a workload class; known: {sorted(names)}"
                 for c in settings.accuracy_floors if c not in names]
    if problems:
        raise ConfigError(problems)


def prepare(options: OptionTable | pd.DataFrame, workload: Workload, facility: Facility,
            grid: Grid, fleet: Fleet, settings: PlannerSettings,
            constraints: Sequence[Any] | None = None) -> PlanData:
    """Validate every input (all problems at once) and build the column arrays."""
    _check_environment(workload, facility, grid, fleet, settings)
    table = _as_table(options)
    gpu_vars = settings.gpu_capacity and bool(fleet.entries)
    problems = _option_problems(table, workload, {e.model for e in fleet.entries}, gpu_vars)
    if problems:
        raise ConfigError(problems)
    class_names = [c.name for c in workload.classes]
    demand = np.array([[c.rate_at(t) * workload.period_s for t in range(workload.n_periods)]
                       for c in workload.classes], float)
    problems = _demand_problems(table, class_names, demand)
    if problems:
        raise ConfigError(problems)
    models = sorted(set(table["model"]))
    gpus, util, idle_kw = _fleet_arrays(fleet, models, table)
    pruned_mask = np.zeros(len(table), dtype=bool)
    if settings.prune_dominated:
        idle_w = dict(zip(models, idle_kw * 1000.0, strict=True)) if gpu_vars else None
        pruned_mask = dominated_mask(table, same_model=gpu_vars, idle_power_w=idle_w)
    kept = table[~pruned_mask].reset_index(drop=True)
    data = _columns(kept, class_names, models, demand, gpu_vars, idle_kw)
    deadlines = deadline_periods(workload)
    if deadlines.any():
        data = expand_serve_periods(data, deadlines, workload.n_periods)
    floors = np.array([settings.accuracy_floors.get(c, np.nan) for c in class_names], float)
    cap_kw = facility.power_cap_w / 1000.0 if (settings.facility_power and facility.power_cap_w) else None
    return PlanData(
        options=kept, pruned=table[pruned_mask].reset_index(drop=True), class_names=class_names,
        model_names=models, period_s=workload.period_s,
        pue=np.array([facility.pue_at(t) for t in range(workload.n_periods)], float),
        carbon_g_per_kwh=np.array([grid.intensity_at(t) for t in range(workload.n_periods)], float),
        demand_queries=demand, gpu_vars=gpu_vars, fleet_gpus=gpus, utilization=util,
        idle_power_kw=idle_kw if gpu_vars else np.zeros(len(models)), settings=settings,
        cap_facility_power_kw=cap_kw, accuracy_floors=floors,
        constraints=None if constraints is None else tuple(constraints),
        embodied_kg_per_gpu_h=_embodied(fleet, models), gpus_per_replica=_replica_gpus(kept, models), **data,
    )


def _replica_gpus(table: pd.DataFrame, models: list[str]) -> np.ndarray:
    """(M,) GPUs one replica of each model spans (the option table's ``gpus_per_replica``, else 1)."""
    if "gpus_per_replica" not in table.columns:
        return np.ones(len(models))
    per_model = table.groupby("model")["gpus_per_replica"].max()
    return np.array([float(per_model.get(m, 1.0)) for m in models])


def _embodied(fleet: Fleet, models: list[str]) -> np.ndarray:
    by_model = {e.model: e.embodied_kg_per_gpu_h for e in fleet.entries}
    return np.array([by_model.get(m, 0.0) for m in models], float)


def _demand_problems(table: pd.DataFrame, class_names: list[str], demand: np.ndarray) -> list[str]:
    problems = []
    if not demand.sum() > 0:
        problems.append("workload.classes[*].rate_per_s: every rate is 0; nothing to plan")
    served = set(table["class_name"])
    for i, name in enumerate(class_names):
        if demand[i].sum() > 0 and name not in served:
            problems.append(f"options: class {name!r} has demand but no usable option "
                            "(check strategies, accuracy curves and the latency SLO)")
    return problems


def _columns(kept: pd.DataFrame, class_names: list[str], models: list[str], demand: np.ndarray,
             gpu_vars: bool, idle_kw: np.ndarray) -> dict[str, Any]:
    """Cross the kept options with the periods of positive demand, vectorized."""
    class_index = {n: i for i, n in enumerate(class_names)}
    model_index = {n: i for i, n in enumerate(models)}
    opt_class = kept["class_name"].map(class_index).to_numpy(np.int64)
    opt_model = kept["model"].map(model_index).to_numpy(np.int64)
    n_periods = demand.shape[1]
    positive = demand > 0
    demand_rows = np.argwhere(positive)                       # (R, 2) sorted by class then period
    row_of = -np.ones_like(demand, dtype=np.int64)
    row_of[positive] = np.arange(len(demand_rows))
    options_rep = np.repeat(np.arange(len(kept)), n_periods)
    periods_rep = np.tile(np.arange(n_periods), len(kept))
    keep = positive[opt_class[options_rep], periods_rep]
    col_option, col_period = options_rep[keep], periods_rep[keep]
    col_class, col_model = opt_class[col_option], opt_model[col_option]
    queries = demand[col_class, col_period]
    energy_j = kept["energy_j"].to_numpy(float)[col_option]
    gpu_s = kept["gpu_s"].fillna(0.0).to_numpy(float)[col_option]
    if gpu_vars:
        energy_j = np.maximum(energy_j - idle_kw[col_model] * 1000.0 * gpu_s, 0.0)
    slo_gpu_h = {}
    for name in ("ttft", "e2e"):
        slo_gpu_h[name] = None
        if f"{name}_max_utilization" in kept.columns:
            utilization = np.maximum(kept[f"{name}_max_utilization"].to_numpy(float)[col_option], 1e-12)
            slo_gpu_h[name] = queries * gpu_s / utilization / S_PER_H
    return {
        "col_ttft_gpu_h": slo_gpu_h["ttft"], "col_e2e_gpu_h": slo_gpu_h["e2e"],
        **_points(kept, opt_model, col_option),
        "col_option": col_option, "col_class": col_class, "col_period": col_period,
        "col_model": col_model, "col_queries": queries,
        "col_accuracy": kept["accuracy"].to_numpy(float)[col_option],
        "col_energy_kwh": queries * energy_j / J_PER_KWH, "col_gpu_h": queries * gpu_s / S_PER_H,
        "col_demand_row": row_of[col_class, col_period], "demand_rows": demand_rows,
    }


def _points(kept: pd.DataFrame, opt_model: np.ndarray, col_option: np.ndarray) -> dict[str, np.ndarray]:
    """Operating points (one per (model, batch size) of the options) and each column's point."""
    batch = kept["batch_size"].to_numpy(float) if "batch_size" in kept.columns else np.ones(len(kept))
    pairs, opt_point = np.unique(np.stack([opt_model.astype(float), batch], axis=1), axis=0,
                                 return_inverse=True)
    return {"col_point": opt_point.reshape(-1)[col_option].astype(np.int64),
            "point_model": pairs[:, 0].astype(np.int64), "point_batch": pairs[:, 1]}


def with_options(data: PlanData, table: pd.DataFrame, settings: PlannerSettings | None = None) -> PlanData:
    """The same problem over another option table (no pruning), e.g. for baselines."""
    kept = table.reset_index(drop=True)
    class_index = {n: i for i, n in enumerate(data.class_names)}
    served = np.zeros(len(data.class_names), dtype=bool)
    served[kept["class_name"].map(class_index).to_numpy(np.int64)] = True
    demand = np.where(served[:, None], data.demand_queries, 0.0)
    columns: dict[str, Any] = _columns(kept, data.class_names, data.model_names, demand, data.gpu_vars,
                       data.idle_power_kw)
    if data.col_arrival is not None:
        deadlines = np.zeros(len(data.class_names), np.int64)
        np.maximum.at(deadlines, data.col_class, data.col_period - data.col_arrival)
        columns = expand_serve_periods(columns, deadlines, data.n_periods)
    return replace(data, options=kept, pruned=kept.iloc[:0], demand_queries=demand,
                   settings=settings or data.settings, **columns)
