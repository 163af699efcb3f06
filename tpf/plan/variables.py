"""Decision variables and the per-period IT energy expression of the planning model."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from tpf.plan.data import PlanData


def group_positions(keys: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Positions of ``keys`` grouped by key value 0..n_groups-1 (vectorized split)."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n_groups + 1))
    return [order[bounds[g]: bounds[g + 1]] for g in range(n_groups)]


def add_share_variables(model: pyo.ConcreteModel, data: PlanData, columns: np.ndarray) -> None:
    """``x[k]`` in [0, 1]: share of the demand of column k's (class, period) served by its option.

    Index set: the model's columns ``k`` (a subset of the data's columns, all
    of them unless column generation picked fewer); ``model.column[k]`` is
    the data column. Unit: fraction of that (class, period)'s queries.
    """
    model.columns = pyo.RangeSet(0, len(columns) - 1)
    model.column = columns
    model.x = pyo.Var(model.columns, bounds=(0.0, 1.0), initialize=0.0)


def add_gpu_variables(model: pyo.ConcreteModel, data: PlanData) -> None:
    """``gpus_on[m, t] >= 0``: GPUs of model m powered on in period t.

    Integer when ``settings.integer_gpus`` (a MILP for capacity planning).
    Only when GPU capacity is modelled (``data.gpu_vars``); the fleet bound is
    the named constraint ``gpu_capacity`` (not a variable bound), so it has a dual.
    """
    model.model_periods = pyo.Set(initialize=[(m, t) for m in range(len(data.model_names))
                                              for t in range(data.n_periods)], ordered=True)
    if not data.gpu_vars:
        return
    domain = pyo.NonNegativeIntegers if data.settings.integer_gpus else pyo.NonNegativeReals
    model.gpus_on = pyo.Var(model.model_periods, domain=domain, bounds=(0.0, None))


def add_it_energy_expression(model: pyo.ConcreteModel, data: PlanData) -> None:
    """``it_energy_kwh[t]`` (kWh): IT energy of period t.

    ``E_t = sum_{k in t} D_k * e_k * x_k + sum_m P_idle,m * period_h * gpus_on[m, t]``
    where ``D_k * e_k`` is the column's demand times its energy per query (above
    idle when GPUs are modelled, the full card energy otherwise).
    """
    columns = model.column
    energy = data.col_energy_kwh[columns]
    by_period = group_positions(data.col_period[columns], data.n_periods)
    idle_kwh = data.idle_power_kw * data.period_h

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        dynamic = pyo.quicksum(energy[k] * m.x[k] for k in by_period[t].tolist())
        if not data.gpu_vars:
            return dynamic
        idle = pyo.quicksum(idle_kwh[g] * m.gpus_on[g, t] for g in range(len(data.model_names))
                            if idle_kwh[g] > 0)
        return dynamic + idle

    model.periods = pyo.RangeSet(0, data.n_periods - 1)
    model.it_energy_kwh = pyo.Expression(model.periods, rule=rule)
