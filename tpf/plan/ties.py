"""Stable plans: among allocations of equal objective, the one whose hourly splits differ least.

An LP often has many optimal allocations: when the objective and the binding
rows are sums over the day (an accuracy target, a daily energy or carbon
budget), moving a class's share of an option from one hour to another with the
same prices leaves the optimum unchanged, and the simplex method returns a
vertex that flips between tied options hour by hour. The exported policy then
changes every hour although the optimum does not ask for it.

Rule (a lexicographic second solve): on the optimal face, minimize how far
each class's hourly shares stray from one reference split per class (a free
share ``ref`` per class, option and delay): ``sum |x[t] - ref|`` over the
periods, plus ``TV_WEIGHT`` (1e-3) times the total variation
``sum |x[t+1] - x[t]|`` over consecutive arrival periods. The L1 distance
keeps every hour the optimum leaves free at the reference split, so hours
differ only where the optimum needs it (a binding hourly power cap, cleaner
hours); the small variation term orders what the first leaves tied. The
optimal face is kept two ways: every share column whose reduced cost at the first optimum is
not zero (beyond ``rel_tol`` of the largest cost) keeps its value, as
complementary slackness requires of every optimum, and the objective is held
at its optimum (within ``rel_tol`` of its magnitude, at least ``abs_tol``).
The row duals and shadow prices stay those of the first solve (read before
this step), the objective value within that tolerance; only the allocation
changes, and only where the optimum leaves a choice. If the second solve does not end optimal, the first
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


TIE_COMPONENTS = ("tie_down", "tie_up", "tie_change", "tie_dev_down", "tie_dev_up", "tie_dev", "tie_ref")
#: Weight of the total variation beside the deviation from the reference split.
TV_WEIGHT = 1e-3


def share_groups(plan_model: PlanModel) -> list[list[int]]:
    """Model columns of one class, option and delay over the periods (two or more)."""
    data = plan_model.data
    cols = plan_model.columns
    arrival = data.arrival_period[cols]
    groups: dict[tuple[int, int, int], list[int]] = {}
    for k, key in enumerate(zip(data.col_class[cols].tolist(), data.col_option[cols].tolist(),
                                (data.col_period[cols] - arrival).tolist(), strict=True)):
        groups.setdefault(key, []).append(k)
    return [g for g in groups.values() if len(g) > 1]


def _secondary(model: Any, plan_model: PlanModel, pairs: list[tuple[int, int]]) -> Any:
    """``sum |x - ref| + TV_WEIGHT * sum |x[t+1] - x[t]|`` with a free reference share per group."""
    x = model.x
    index = range(len(pairs))
    model.tie_change = pyo.Var(index, within=pyo.NonNegativeReals)
    model.tie_up = pyo.Constraint(index, rule=lambda m, i: m.tie_change[i] >= x[pairs[i][1]] - x[pairs[i][0]])
    model.tie_down = pyo.Constraint(index, rule=lambda m, i: m.tie_change[i] >= x[pairs[i][0]] - x[pairs[i][1]])
    change = pyo.quicksum(model.tie_change[i] for i in index)
    groups = share_groups(plan_model)
    group_of = {k: g for g, members in enumerate(groups) for k in members}
    members = sorted(group_of)
    model.tie_ref = pyo.Var(range(len(groups)), bounds=(0.0, 1.0))
    model.tie_dev = pyo.Var(members, within=pyo.NonNegativeReals)
    model.tie_dev_up = pyo.Constraint(members, rule=lambda m, k: m.tie_dev[k] >= x[k] - m.tie_ref[group_of[k]])
    model.tie_dev_down = pyo.Constraint(members, rule=lambda m, k: m.tie_dev[k] >= m.tie_ref[group_of[k]] - x[k])
    return pyo.quicksum(model.tie_dev[k] for k in members) + TV_WEIGHT * change


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
    """Re-choose the allocation by least deviation from a reference split on the optimal face (module doc)."""
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
    expr = model.objective.expr
    model.tie_optimum = pyo.Constraint(expr=expr >= optimum - tol if maximize else expr <= optimum + tol)
    model.objective.deactivate()
    model.tie_objective = pyo.Objective(expr=_secondary(model, plan_model, pairs))
    try:
        results = opt.solve(model, load_solutions=False)
        ok = results.solver.termination_condition == pyo.TerminationCondition.optimal
        if ok:
            model.solutions.load_from(results)
    except (ValueError, RuntimeError):
        ok = False
    finally:
        for name in ("tie_objective", "tie_optimum", *TIE_COMPONENTS):
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
    return {"tie_break": "least deviation of hourly shares from one split per class" if ok else "kept the first solve's allocation",
            "tie_break_pairs": len(pairs)}
