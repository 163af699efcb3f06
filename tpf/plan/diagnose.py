"""Infeasibility diagnosis: re-solve with a priced slack on every cap and report the shortfalls."""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.environ as pyo

from tpf.errors import InfeasiblePlanError, SolverError
from tpf.plan.model import PlanModel, build_diagnosis_model

PHRASES = {
    "it_energy_per_period": ("IT energy cap per period", "kWh"),
    "it_energy_total": ("IT energy cap over the horizon", "kWh"),
    "it_power": ("IT power cap", "kW"),
    "facility_power": ("facility power", "kW"),
    "carbon_budget": ("carbon budget", "kgCO2"),
    "gpu_capacity": ("GPU fleet", "GPUs"),
    "accuracy_floor": ("accuracy floor", "accuracy points"),
    "accuracy_target": ("accuracy target", "accuracy points"),
}


@dataclass(frozen=True)
class Shortfall:
    """One relaxed row: how far it must move (in ``unit``) for a plan to exist."""

    constraint: str
    label: str
    shortfall: float
    unit: str
    message: str


def _where(block_name: str, label: str, period_s: float) -> str:
    if not label:
        return ""
    if block_name == "accuracy_floor":
        return f" of class {label!r}"
    if block_name == "gpu_capacity":
        model, period = label.rsplit(",", 1)
        return f" of model {model!r}{_when(int(period), period_s)}"
    return _when(int(label), period_s)


def _when(period: int, period_s: float) -> str:
    if period_s == 3600.0 and period < 24:
        return f" at {period:02d}:00 (period {period})"
    return f" in period {period}"


def diagnose(plan_model: PlanModel, *, solver: str = "highs") -> list[Shortfall]:
    """Solve the elastic model (minimum total relative relaxation) and list every shortfall."""
    from tpf.plan.solve import make_solver
    elastic = build_diagnosis_model(plan_model)
    opt = make_solver(solver, time_limit_s=None, mip_gap=None)
    results = opt.solve(elastic.model, load_solutions=False)
    if str(results.solver.termination_condition) != "optimal":
        raise SolverError("the relaxed (diagnosis) model did not solve: "
                          f"{results.solver.termination_condition}")
    elastic.model.solutions.load_from(results)
    out = []
    for block in elastic.blocks:
        slack = getattr(elastic.model, f"{block.name}_slack", None)
        if slack is None:
            continue
        phrase, unit = PHRASES[block.name]
        scale = 100.0 if unit == "accuracy points" else 1.0
        for i, label in enumerate(block.labels):
            value = (pyo.value(slack[i], exception=False) or 0.0) * scale
            if value > 1e-7 * max(1.0, abs(block.rhs[i]) * scale):
                where = _where(block.name, label, plan_model.data.period_s)
                message = f"{phrase}{where} short by {value:.4g} {unit}"
                out.append(Shortfall(block.name, label, value, unit, message))
    return out


def raise_infeasible(plan_model: PlanModel, *, solver: str = "highs") -> None:
    """Raise :class:`InfeasiblePlanError` naming every conflicting constraint and its shortfall."""
    shortfalls = diagnose(plan_model, solver=solver)
    if not shortfalls:
        raise SolverError("the solver reported the plan infeasible, but relaxing every cap "
                          "needed no slack; the model may be numerically ill-conditioned")
    shown = "; ".join(s.message for s in shortfalls[:12])
    more = f"; and {len(shortfalls) - 12} more" if len(shortfalls) > 12 else ""
    raise InfeasiblePlanError(
        f"no plan meets the constraints; in the best case (smallest total relative relaxation): "
        f"{shown}{more}", diagnosis=shortfalls)
