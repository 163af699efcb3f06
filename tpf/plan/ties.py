"""Stable plans: among allocations of equal objective, the one whose hourly split changes least.

An LP often has many optimal allocations: when the objective and the binding
rows are sums over the day (an accuracy target, a daily energy or carbon
budget), moving a class's share of an option from one hour to another with the
same prices leaves the optimum unchanged, and the simplex method returns a
vertex that flips between tied options hour by hour. The exported policy then
changes every hour although the optimum does not ask for it.

Rule (a lexicographic second solve): on the optimal face, minimize the
total variation of the shares, ``sum over (class, option, delay) and
consecutive arrival periods t of |x[t+1] - x[t]|``. The optimal face is
kept two ways: every share column whose reduced cost at the first optimum is
not zero (beyond ``rel_tol`` of the largest cost) keeps its value, as
complementary slackness requires of every optimum, and the objective is held
at its optimum (within ``rel_tol`` of its magnitude, at least ``abs_tol``).
The objective value, the
row duals and shadow prices stay those of the first solve (they are read
before this step); only the allocation changes, and only where the optimum
leaves a choice. A split then changes from one hour to the next only where the
optimum needs it. If the second solve does not end optimal, the first
allocation is kept. Integer GPU counts stay fixed at the first solve's values
(a MILP's allocation is re-chosen within its fixed-GPU LP).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyomo.environ as pyo

from tpf.plan.model import PlanModel


def share_pairs(plan_model: PlanModel) -> list[tuple[int, int]]:
    """Pairs of model columns (k at arrival period t, k' at t + 1) of one class, option and delay."""
    data = plan_model.data
    cols = plan_model.columns
    arrival = data.arrival_period[cols]
    delay = data.col_period[cols] - arrival
    where = {(int(c), int(o), int(d), int(t)): k for k, (c, o, d, t)
             in enumerate(zip(data.col_class[cols], data.col_option[cols], delay, arrival, strict=True))}
    return [(k, where[(c, o, d, t + 1)]) for (c, o, d, t), k in where.items() if (c, o, d, t + 1) in where]


def _fixed_integers(model: Any) -> list[Any]:
    """Fix every integer variable at its value (rounded); returns those it fixed."""
    fixed = []
    for var in model.component_data_objects(pyo.Var, active=True):
        if var.is_integer() and not var.fixed and var.value is not None:
            var.fix(round(var.value))
            fixed.append(var)
    return fixed


def priced_out(plan_model: PlanModel, duals: np.ndarray | None, rel_tol: float) -> np.ndarray:
    """Model columns (positions in ``model.x``) whose reduced cost is not zero: fixed in every optimum."""
    if duals is None or np.isnan(duals).any():
        return np.zeros(0, dtype=int)
    lp = plan_model.linear_program()
    sign = -1.0 if lp.maximize else 1.0            # lp.cost is a minimization
    reduced = lp.cost[: lp.n_x] - lp.matrix[:, : lp.n_x].T @ (sign * duals)
    tol = rel_tol * max(1e-12, float(np.abs(lp.cost[: lp.n_x]).max(initial=0.0)))
    return np.flatnonzero(np.abs(reduced[plan_model.columns]) > tol)


def break_ties(opt: Any, plan_model: PlanModel, duals: np.ndarray | None = None, rel_tol: float = 1e-7,
               abs_tol: float = 1e-9) -> dict[str, Any]:
    """Re-choose the allocation by least total variation on the optimal face (module doc)."""
    model = plan_model.model
    pairs = share_pairs(plan_model)
    if not pairs:
        return {"tie_break": "none: no consecutive periods"}
    x = model.x
    before = np.array([pyo.value(x[k], exception=False) or 0.0 for k in range(len(plan_model.columns))])
    dual = dict(model.dual.items()) if hasattr(model, "dual") else None
    optimum = float(pyo.value(model.objective))
    tol = max(abs_tol, rel_tol * abs(optimum))
    maximize = model.objective.sense == pyo.maximize
    fixed = _fixed_integers(model)
    for k in priced_out(plan_model, duals, rel_tol):
        if not x[int(k)].fixed:
            x[int(k)].fix(before[k])
            fixed.append(x[int(k)])
    index = range(len(pairs))
    model.tie_change = pyo.Var(index, within=pyo.NonNegativeReals)
    model.tie_up = pyo.Constraint(index, rule=lambda m, i: m.tie_change[i] >= x[pairs[i][1]] - x[pairs[i][0]])
    model.tie_down = pyo.Constraint(index, rule=lambda m, i: m.tie_change[i] >= x[pairs[i][0]] - x[pairs[i][1]])
    expr = model.objective.expr
    model.tie_optimum = pyo.Constraint(expr=expr >= optimum - tol if maximize else expr <= optimum + tol)
    model.objective.deactivate()
    model.tie_objective = pyo.Objective(expr=pyo.quicksum(model.tie_change[i] for i in index))
    try:
        results = opt.solve(model, load_solutions=False)
        ok = results.solver.termination_condition == pyo.TerminationCondition.optimal
        if ok:
            model.solutions.load_from(results)
    except (ValueError, RuntimeError):
        ok = False
    finally:
        for name in ("tie_objective", "tie_optimum", "tie_down", "tie_up", "tie_change"):
            model.del_component(name)
        model.objective.activate()
        for var in fixed:
            var.unfix()
    if not ok:
        for k, value in enumerate(before):
            x[k].set_value(value)
    if dual is not None:
        model.dual.clear()
        model.dual.update(dual)
    return {"tie_break": "least total variation of hourly shares" if ok else "kept the first solve's allocation",
            "tie_break_pairs": len(pairs)}
