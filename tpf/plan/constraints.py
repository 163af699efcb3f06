"""The planner's named constraints, one function each.

Every ``add_<name>(model, data, block, elastic)`` adds the Pyomo component
``model.<name>`` indexed by ``0..block.size-1`` (labels in ``block.labels``),
its right-hand side as the mutable parameter ``model.<name>_rhs`` (so sweeps
change it without rebuilding) and, when ``elastic``, a non-negative slack
``model.<name>_slack`` that relaxes it (infeasibility diagnosis). Sets: C
classes, O options, T periods, M models; ``k`` a model column = (c, o, t).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyomo.environ as pyo

from tpf.plan.data import PlanData
from tpf.plan.lp import RowBlock
from tpf.plan.variables import group_positions


def _rhs_and_slack(model: pyo.ConcreteModel, block: RowBlock, elastic: bool) -> tuple[Any, Any]:
    """Create ``<name>_rhs`` (mutable) and, if elastic, ``<name>_slack >= 0``."""
    index = pyo.RangeSet(0, block.size - 1)
    setattr(model, f"{block.name}_index", index)
    rhs = pyo.Param(index, mutable=True, initialize=dict(enumerate(block.rhs.tolist())))
    setattr(model, f"{block.name}_rhs", rhs)
    if not elastic:
        return rhs, None
    slack = pyo.Var(index, domain=pyo.NonNegativeReals, initialize=0.0)
    setattr(model, f"{block.name}_slack", slack)
    return rhs, slack


def _relax(slack: Any, i: int) -> Any:
    return 0.0 if slack is None else slack[i]


def add_demand(model: pyo.ConcreteModel, data: PlanData, block: RowBlock) -> None:
    """demand[c, t]: ``sum_o x[c, o, t] = 1`` for every (c, t) with demand D[c, t] > 0.

    Every query of class c in period t is served by some option (shares sum
    to one; queries = share * D[c, t]). Unit: share. Never relaxed.
    """
    rows = group_positions(data.col_demand_row[model.column], block.size)
    model.demand_index = pyo.RangeSet(0, block.size - 1)
    model.demand = pyo.Constraint(
        model.demand_index, rule=lambda m, r: pyo.quicksum(m.x[k] for k in rows[r].tolist()) == 1.0)


def add_it_energy_per_period(model: pyo.ConcreteModel, data: PlanData, block: RowBlock,
                             elastic: bool = False) -> None:
    """it_energy_per_period[t]: ``E_t <= E_cap`` (kWh per period), for t in T."""
    rhs, slack = _rhs_and_slack(model, block, elastic)
    model.it_energy_per_period = pyo.Constraint(
        model.it_energy_per_period_index,
        rule=lambda m, t: m.it_energy_kwh[t] <= rhs[t] + _relax(slack, t))


def add_it_energy_total(model: pyo.ConcreteModel, data: PlanData, block: RowBlock,
                        elastic: bool = False) -> None:
    """it_energy_total: ``sum_t E_t <= E_total_cap`` (kWh over the horizon)."""
    rhs, slack = _rhs_and_slack(model, block, elastic)
    model.it_energy_total = pyo.Constraint(
        model.it_energy_total_index,
        rule=lambda m, i: pyo.quicksum(m.it_energy_kwh[t] for t in m.periods)
        <= rhs[i] + _relax(slack, i))


def add_it_power(model: pyo.ConcreteModel, data: PlanData, block: RowBlock,
                 elastic: bool = False) -> None:
    """it_power[t]: ``E_t / period_h <= P_IT_cap`` (kW, mean IT power of period t)."""
    rhs, slack = _rhs_and_slack(model, block, elastic)
    model.it_power = pyo.Constraint(
        model.it_power_index,
        rule=lambda m, t: m.it_energy_kwh[t] / data.period_h <= rhs[t] + _relax(slack, t))


def add_facility_power(model: pyo.ConcreteModel, data: PlanData, block: RowBlock,
                       elastic: bool = False) -> None:
    """facility_power[t]: ``PUE_t * E_t / period_h <= P_facility_cap`` (kW).

    ``E_t`` includes the idle power of powered-on GPUs when GPUs are modelled,
    so this is ``PUE * (n * P_idle + dynamic J / period_s) <= cap``.
    """
    rhs, slack = _rhs_and_slack(model, block, elastic)
    pue = data.pue
    model.facility_power = pyo.Constraint(
        model.facility_power_index,
        rule=lambda m, t: float(pue[t]) * m.it_energy_kwh[t] / data.period_h
        <= rhs[t] + _relax(slack, t))


def add_carbon_budget(model: pyo.ConcreteModel, data: PlanData, block: RowBlock,
                      elastic: bool = False) -> None:
    """carbon_budget: ``sum_t CI_t * PUE_t * E_t / 1000 <= C_max`` (kgCO2; CI in g/kWh)."""
    rhs, slack = _rhs_and_slack(model, block, elastic)
    factor = data.carbon_g_per_kwh * data.pue / 1000.0
    model.carbon_budget = pyo.Constraint(
        model.carbon_budget_index,
        rule=lambda m, i: pyo.quicksum(float(factor[t]) * m.it_energy_kwh[t] for t in m.periods
                                       if factor[t] != 0) <= rhs[i] + _relax(slack, i))


def add_gpu_busy(model: pyo.ConcreteModel, data: PlanData, block: RowBlock) -> None:
    """gpu_busy[m, t]: ``sum_{k of m in t} D_k * g_k * x_k <= gpus_on[m, t] * period_h * U_m``.

    GPU-hours of model m in period t fit in its powered-on GPUs at utilization
    U_m (g_k: GPU-seconds per query / 3600). Unit: GPU-h. Never relaxed (the
    GPU count is a variable; its cap is gpu_capacity).
    """
    columns = model.column
    gpu_h = data.col_gpu_h[columns]
    key = data.col_model[columns] * data.n_periods + data.col_period[columns]
    rows = group_positions(key, block.size)
    model.gpu_busy_index = pyo.RangeSet(0, block.size - 1)

    def rule(m: pyo.ConcreteModel, r: int) -> object:
        model_i, t = divmod(r, data.n_periods)
        busy = pyo.quicksum(float(gpu_h[k]) * m.x[k] for k in rows[r].tolist())
        return busy - data.period_h * float(data.utilization[model_i]) * m.gpus_on[model_i, t] <= 0

    model.gpu_busy = pyo.Constraint(model.gpu_busy_index, rule=rule)


def add_gpu_capacity(model: pyo.ConcreteModel, data: PlanData, block: RowBlock,
                     elastic: bool = False) -> None:
    """gpu_capacity[m, t]: ``gpus_on[m, t] <= N_m`` (GPUs of model m in the fleet)."""
    rhs, slack = _rhs_and_slack(model, block, elastic)
    model.gpu_capacity = pyo.Constraint(
        model.gpu_capacity_index,
        rule=lambda m, r: m.gpus_on[divmod(r, data.n_periods)] <= rhs[r] + _relax(slack, r))


def add_accuracy_floors(model: pyo.ConcreteModel, data: PlanData, block: RowBlock,
                        elastic: bool = False) -> None:
    """accuracy_floor[c]: ``sum_{o,t} (D[c,t] / D_c) * a[c,o] * x[c,o,t] >= floor_c``.

    Query-weighted mean accuracy of class c over the horizon (fraction; shadow
    prices are reported per accuracy point = 0.01).
    """
    rhs, slack = _rhs_and_slack(model, block, elastic)
    columns = model.column
    weight = (data.col_class_weight * data.col_accuracy)[columns]
    row = data.col_floor_row()[columns]
    rows = group_positions(np.where(row >= 0, row, block.size), block.size + 1)
    model.accuracy_floor = pyo.Constraint(
        model.accuracy_floor_index,
        rule=lambda m, r: pyo.quicksum(float(weight[k]) * m.x[k] for k in rows[r].tolist())
        + _relax(slack, r) >= rhs[r])


def add_accuracy_target(model: pyo.ConcreteModel, data: PlanData, block: RowBlock,
                        elastic: bool = False) -> None:
    """accuracy_target: ``sum_{c,o,t} (D[c,t] / D) * a[c,o] * x[c,o,t] >= A_target`` (fraction)."""
    rhs, slack = _rhs_and_slack(model, block, elastic)
    weight = (data.col_weight * data.col_accuracy)[model.column]
    nonzero = np.flatnonzero(weight).tolist()
    model.accuracy_target = pyo.Constraint(
        model.accuracy_target_index,
        rule=lambda m, i: pyo.quicksum(float(weight[k]) * m.x[k] for k in nonzero)
        + _relax(slack, i) >= rhs[i])
