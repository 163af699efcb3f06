"""The planner's objectives (one per ``PlannerSettings.objective``) and the diagnosis objective."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from tpf.plan.data import PlanData
from tpf.plan.lp import RowBlock, objective_weights


def _gpu_term(model: pyo.ConcreteModel, data: PlanData) -> object:
    if not data.gpu_vars or data.settings.gpu_cost == 0:
        return 0.0
    return data.settings.gpu_cost * pyo.quicksum(model.gpus_on[i] for i in model.model_periods)


def add_objective(model: pyo.ConcreteModel, data: PlanData) -> None:
    """The objective, in user units.

    * ``max_accuracy``: maximize ``100 * sum_k (D_k / D) * a_k * x_k - gpu_cost * sum n``
      (query-weighted mean accuracy in accuracy points).
    * ``min_it_energy``: minimize ``sum_t E_t + gpu_cost * sum n`` (kWh).
    * ``min_facility_energy``: minimize ``sum_t PUE_t * E_t + ...`` (kWh).
    * ``min_carbon``: minimize ``sum_t CI_t * PUE_t * E_t / 1000 + ...`` (kgCO2).
    """
    weights, accuracy_part = objective_weights(data)
    if weights is None:
        coef = accuracy_part[model.column]
        nonzero = np.flatnonzero(coef).tolist()
        expr = pyo.quicksum(float(coef[k]) * model.x[k] for k in nonzero) - _gpu_term(model, data)
        model.objective = pyo.Objective(expr=expr, sense=pyo.maximize)
        return
    expr = pyo.quicksum(float(weights[t]) * model.it_energy_kwh[t] for t in model.periods
                        if weights[t] != 0)
    model.objective = pyo.Objective(expr=expr + _gpu_term(model, data), sense=pyo.minimize)


def add_diagnosis_objective(model: pyo.ConcreteModel, blocks: list[RowBlock]) -> None:
    """Minimize the relative violation ``sum_i slack_i / max(|rhs_i|, 1e-6)`` of every relaxed row."""
    terms = []
    for block in blocks:
        slack = getattr(model, f"{block.name}_slack", None)
        if slack is None:
            continue
        scale = np.maximum(np.abs(block.rhs), 1e-6)
        terms += [slack[i] / float(scale[i]) for i in range(block.size)]
    model.objective = pyo.Objective(expr=pyo.quicksum(terms), sense=pyo.minimize)
