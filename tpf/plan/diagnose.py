"""Infeasibility diagnosis: re-solve with a priced slack on every cap and report the shortfalls.

The elastic problem relaxes every cap, floor and target (never demand, never
``gpu_busy``) by a slack in the row's own unit and minimizes the total
relative relaxation ``sum_i slack_i / max(|rhs_i|, 1e-6)``. It is solved on
the matrix form of the plan (``tpf.plan.lp``) with HiGHS, over the pruned
option set (exact for feasibility: a pruned option is dominated by a kept one
with no larger coefficient in any cap row and no smaller accuracy), by column
generation above :data:`~tpf.plan.model.COLUMN_GENERATION_THRESHOLD` columns
(a MILP keeps its integer GPU counts and is solved in full). The elastic
Pyomo model (``engine="pyomo"``) gives the same optimum and serves as a check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from tpf.errors import ConfigError, InfeasiblePlanError, SolverError
from tpf.plan.highs_direct import min_relaxation
from tpf.plan.model import COLUMN_GENERATION_THRESHOLD, PlanModel, build_diagnosis_model

#: How a shortfall's unit reads in a message (a row block's unit is singular).
PLURAL_UNITS = {"GPU": "GPUs", "accuracy_point": "accuracy points"}
ENGINES = ("auto", "direct", "column_generation", "pyomo")
DAY_S = 86400.0


@dataclass(frozen=True)
class Shortfall:
    """One relaxed row: how far it must move (in ``unit``) for a plan to exist."""

    constraint: str
    label: str
    shortfall: float
    unit: str
    message: str


def _where(block_name: str, label: str, period_s: float, n_periods: int) -> str:
    if not label:
        return ""
    if block_name == "accuracy_floors":
        return f" of class {label!r}"
    if "," in label:   # "<model>,<period>" or "<model>,b<batch>,<period>" (per operating point)
        model, period = label.rsplit(",", 1)
        model, _, batch = model.partition(",")
        at_batch = f" at batch {batch[1:]}" if batch else ""
        return f" of model {model!r}{at_batch}{when(int(period), period_s, n_periods)}"
    return when(int(label), period_s, n_periods)


def when(period: int, period_s: float, n_periods: int) -> str:
    """The period as clock time: `` at 14:00 (period 14)``, `` on day 2 at 14:00 (period 38)``.

    Periods that do not tile a day evenly are named by number only.
    """
    if not (0 < period_s <= DAY_S and (DAY_S / period_s).is_integer()):
        return f" in period {period}"
    day, second = divmod(period * period_s, DAY_S)
    clock = f"{int(second // 3600):02d}:{int(second % 3600 // 60):02d}"
    on_day = f" on day {int(day) + 1}" if n_periods * period_s > DAY_S else ""
    return f"{on_day} at {clock} (period {period})"


def _pyomo_slacks(plan_model: PlanModel, solver: str) -> np.ndarray:
    """Slack per matrix row from the elastic Pyomo model (0 where a row has none)."""
    from tpf.plan.solve import make_solver
    elastic = build_diagnosis_model(plan_model)
    opt = make_solver(solver, time_limit_s=None, mip_gap=None)
    results = opt.solve(elastic.model, load_solutions=False)
    if str(results.solver.termination_condition) != "optimal":
        raise SolverError("the relaxed (diagnosis) model did not solve: "
                          f"{results.solver.termination_condition}")
    elastic.model.solutions.load_from(results)
    out = np.zeros(sum(b.size for b in elastic.blocks))
    for block in elastic.blocks:
        slack = getattr(elastic.model, f"{block.name}_slack", None)
        if slack is not None:
            out[block.start: block.start + block.size] = [
                pyo.value(slack[i], exception=False) or 0.0 for i in range(block.size)]
    return out


def _matrix_slacks(plan_model: PlanModel, engine: str) -> np.ndarray:
    lp = plan_model.linear_program()
    relaxable = np.concatenate([np.full(b.size, b.relaxable) for b in lp.blocks])
    generate = engine == "column_generation" or (
        engine == "auto" and plan_model.data.n_columns > COLUMN_GENERATION_THRESHOLD)
    return min_relaxation(plan_model.data, lp, relaxable, generate_columns=generate)[1]


def diagnose(plan_model: PlanModel, *, solver: str = "highs", engine: str = "auto") -> list[Shortfall]:
    """Solve the elastic problem (minimum total relative relaxation); list every shortfall.

    ``engine``: ``auto`` (matrix form with HiGHS; column generation above the
    threshold), ``direct`` (matrix form in full), ``column_generation``, or
    ``pyomo`` (the elastic Pyomo model, solved by ``solver``). Shortfalls are
    in the row's user unit (accuracy in points) with the period named as
    clock time.
    """
    if engine not in ENGINES:
        raise ConfigError(f"diagnose engine: must be one of {ENGINES}, got {engine!r}")
    slacks = _pyomo_slacks(plan_model, solver) if engine == "pyomo" else _matrix_slacks(plan_model, engine)
    data, out = plan_model.data, []
    for block in plan_model.blocks:
        if not block.relaxable:
            continue
        phrase, unit, scale = block.phrase, PLURAL_UNITS.get(block.unit, block.unit), block.per_unit
        for i, label in enumerate(block.labels):
            value = slacks[block.start + i] * scale
            if value > 1e-7 * max(1.0, abs(block.rhs[i]) * scale):
                where = _where(block.name, label, data.period_s, data.n_periods)
                message = f"{phrase}{where} short by {value:.4g} {unit}"
                out.append(Shortfall(block.name, label, float(value), unit, message))
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
