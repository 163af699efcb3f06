"""``solve``: hand a built plan to a solver and read back a :class:`PlanResult`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.opt import TerminationCondition

from tpf.errors import SolverError
from tpf.plan import evaluate
from tpf.plan.data import PlanData
from tpf.plan.model import PlanModel
from tpf.plan.result import PlanResult
from tpf.plan.settings import OBJECTIVE_UNITS
from tpf.plan.ties import break_ties

INFEASIBLE = {TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded,
              TerminationCondition.noSolution}
TIGHT_TOL = 1e-6
#: ``solver_info["duals_from"]`` of an integer-GPU plan: its shadow prices are the
#: duals of the LP with the GPU counts fixed at the MILP's values.
FIXED_LP = "lp with integer gpus fixed"


def make_solver(solver: str, *, time_limit_s: float | None, mip_gap: float | None,
                method: str | None = None) -> Any:
    """A Pyomo solver by name; ``highs`` means the persistent ``appsi_highs`` interface."""
    name = "appsi_highs" if solver == "highs" else solver
    opt = pyo.SolverFactory(name)
    if opt is None or not opt.available(exception_flag=False):
        raise SolverError(f"solver {solver!r} is not available; install it or use solver='highs'")
    if name == "appsi_highs":
        if time_limit_s is not None:
            opt.config.time_limit = float(time_limit_s)
        if mip_gap is not None:
            opt.config.mip_gap = float(mip_gap)
        if method is not None:
            opt.highs_options = {"solver": method}
        return opt
    if time_limit_s is not None:
        opt.options["time_limit" if "highs" in name else "timelimit"] = float(time_limit_s)
    if mip_gap is not None:
        opt.options["mip_rel_gap" if "highs" in name else "mipgap"] = float(mip_gap)
    return opt


def run_solver(opt: Any, plan_model: PlanModel) -> tuple[str, Any]:
    """Solve; return (termination condition name, results). Loads the solution when one exists."""
    start = time.perf_counter()
    try:
        results = opt.solve(plan_model.model, load_solutions=False)
        if results.solver.termination_condition == TerminationCondition.unknown:
            results = _solve_without_presolve(opt, plan_model) or results
    except (ValueError, RuntimeError) as exc:
        raise SolverError(f"solver failed: {exc}") from exc
    plan_model.timings_s["solve"] = plan_model.timings_s.get("solve", 0.0) + time.perf_counter() - start
    condition = results.solver.termination_condition
    if condition in INFEASIBLE:
        return "infeasible", results
    if condition not in (TerminationCondition.optimal, TerminationCondition.maxTimeLimit):
        raise SolverError(f"solver stopped with termination condition {condition}")
    try:
        plan_model.model.solutions.load_from(results)
    except (ValueError, RuntimeError, AttributeError) as exc:
        raise SolverError(f"solver reported {condition} but returned no solution: {exc}") from exc
    return ("optimal" if condition == TerminationCondition.optimal else "time_limit"), results


def _solve_without_presolve(opt: Any, plan_model: PlanModel) -> Any:
    """HiGHS's results with presolve off (None for another solver).

    HiGHS ends with model status "unknown" when the solution it recovers from its
    presolved problem misses the tolerances on the original rows, as on a row met
    with equality at its bound (an accuracy target equal to the best reachable
    accuracy); solving the problem as given settles it.
    """
    if not hasattr(opt, "highs_options"):
        return None
    saved = dict(opt.highs_options or {})
    opt.highs_options = {**saved, "presolve": "off"}
    try:
        return opt.solve(plan_model.model, load_solutions=False)
    finally:
        opt.highs_options = saved


def row_duals(plan_model: PlanModel) -> np.ndarray:
    """Every row's dual (d objective / d rhs), in the matrix row order; NaN where unavailable."""
    model = plan_model.model
    if not hasattr(model, "dual"):
        return np.full(sum(b.size for b in plan_model.blocks), np.nan)
    out: list[float] = []
    for block in plan_model.blocks:
        component = getattr(model, block.name)
        out.extend(model.dual.get(component[i], np.nan) for i in range(block.size))
    return np.asarray(out, float)


@dataclass(frozen=True)
class MipOutcome:
    """A MILP's incumbent objective and the solver's bound on it; ``gap`` is relative to the incumbent."""

    objective: float
    bound: float

    @property
    def gap(self) -> float:
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-12)


def solve_for_duals(opt: Any, plan_model: PlanModel) -> tuple[str, np.ndarray, MipOutcome | None]:
    """Solve; return (status, row duals, the MILP's objective and bound, or None for an LP).

    An LP's duals come from the solver. A MILP has none: its GPU counts are
    fixed at the incumbent's values and the remaining LP re-solved
    (:func:`fixed_gpu_duals`); its solution and duals are then the model's.
    A MILP first tries its relaxation rounded up (:func:`relaxed_and_rounded`).
    """
    rounded, counts = None, np.zeros(0)
    if plan_model.is_milp:
        rounded, counts = relaxed_and_rounded(opt, plan_model)
        wanted = getattr(getattr(opt, "config", None), "mip_gap", None)
        if rounded is not None and wanted is not None and rounded.gap <= wanted:
            return "optimal", fixed_gpu_duals(opt, plan_model), rounded
    try:
        status, results = run_solver(opt, plan_model)
    except SolverError:
        if not plan_model.is_milp or rounded is None:
            raise
        _fix_gpus(plan_model, counts)   # the rounded plan stands, its gap stated
        return "time_limit", fixed_gpu_duals(opt, plan_model), rounded
    if status == "infeasible" or not plan_model.is_milp:
        return status, row_duals(plan_model), None
    mip_objective = float(pyo.value(plan_model.model.objective))
    return status, fixed_gpu_duals(opt, plan_model), MipOutcome(mip_objective, _mip_bound(results, mip_objective))


def relaxed_and_rounded(opt: Any, plan_model: PlanModel) -> tuple[MipOutcome | None, np.ndarray]:
    """The LP relaxation (the bound) and its GPU counts rounded up (an incumbent, None if
    infeasible), with those counts.

    Rounding the relaxation's GPU counts up (after consolidating the model-periods it
    uses for less than one GPU, :func:`_dive`) keeps every share feasible for the GPU rows; the idle power of the extra GPU fractions may break a cap, and
    then there is no incumbent. When the two are within the asked MIP gap the
    branch and bound is skipped; when it finds no incumbent in its time limit
    (very large plans) the rounded plan is the answer, with its gap stated.
    """
    model = plan_model.model
    variables = integer_variables(plan_model)
    for var in variables:
        var.domain = pyo.NonNegativeReals
    counts, incumbent, bound = np.zeros(0), None, float("nan")
    try:
        status, _ = run_solver(opt, plan_model)
        if status != "optimal":
            return None, counts
        bound = float(pyo.value(model.objective))
        counts = _dive(opt, plan_model)   # consolidates the relaxation onto fewer points, then:
        if _whole_replicas(plan_model):
            counts = _round_replicas(opt, plan_model)
        _fix_gpus(plan_model, counts)
        status, _ = run_solver(opt, plan_model)
        incumbent = float(pyo.value(model.objective)) if status == "optimal" else None
    finally:
        for var in variables:
            var.unfix()
            var.domain = pyo.NonNegativeIntegers
    return (None if incumbent is None else MipOutcome(incumbent, bound)), counts


def _whole_replicas(plan_model: PlanModel) -> bool:
    return "replicas" in plan_model.formulation.variables and plan_model.formulation.variables["replicas"].integer


def _round_replicas(opt: Any, plan_model: PlanModel) -> np.ndarray:
    """Whole counts from the relaxation at hand: at each operating point above a model's lowest the
    replicas its load needs, or, where whole replicas could not form the batch from that load,
    the most that can (the LP then moves the rest of the load); the lowest points' replicas are
    re-solved as fractions with those fixed, then rounded up (no floor there, so rounding up
    stays feasible but for caps). Counts in :func:`integer_variables` order."""
    data, model = plan_model.data, plan_model.model
    shares, _ = _shares_and_gpus(plan_model, fewest=False)
    key = data.col_point * data.n_periods + data.col_period
    per_replica_h = np.repeat(data.replica_gpus, data.n_periods) * data.period_h
    busy_h = np.bincount(key, weights=data.col_gpu_h * shares, minlength=data.n_points * data.n_periods)
    fill = np.repeat(np.minimum(data.settings.batch_fill_min, data.utilization[data.point_model]), data.n_periods)
    needed = evaluate.required_replicas(data, shares)
    most = np.floor(busy_h / np.maximum(fill * per_replica_h, 1e-300) + 1e-6)
    lowest = np.repeat(data.point_lowest, data.n_periods)
    replicas = list(model.replicas.values())
    for var, count in zip(replicas, np.where(needed <= most, needed, most), strict=True):
        var.fix(float(count))
    for var, low in zip(replicas, lowest, strict=True):
        if low:
            var.unfix()
    try:
        status, _ = run_solver(opt, plan_model)
    except SolverError:
        status = "failed"
    values = np.array([pyo.value(v, exception=False) or 0.0 for v in replicas])
    for var in replicas:
        var.unfix()
    if status != "optimal":
        return rounded_counts(plan_model)
    parts = []
    for block in plan_model.formulation.variables.values():
        if block.integer and block.name == "gpus_on":   # whole replicas' GPUs, rounded up
            gpr = np.zeros(block.size)
            np.add.at(gpr, np.repeat(data.point_model, data.n_periods) * data.n_periods
                      + np.tile(np.arange(data.n_periods), data.n_points),
                      np.ceil(values - 1e-7) * np.repeat(data.replica_gpus, data.n_periods))
            parts.append(np.ceil(gpr - 1e-7))
        elif block.integer:
            parts.append(np.ceil(values - 1e-7))
    return np.concatenate(parts)


def _dive(opt: Any, plan_model: PlanModel, rounds: int = 3) -> np.ndarray:
    """Rounded-up counts after switching off, round by round, the (model, period)s the
    relaxation uses for less than one GPU and re-solving it (consolidation onto fewer GPUs);
    the last solvable round's counts."""
    variables = integer_variables(plan_model)
    best = rounded_counts(plan_model)
    off: list[int] = []
    for _ in range(rounds):
        values = np.array([pyo.value(var, exception=False) or 0.0 for var in variables])
        small = np.flatnonzero((values > 1e-9) & (values < 1.0 - 1e-9))
        if not len(small):
            break
        off += [int(i) for i in small]
        for i in small:
            variables[int(i)].fix(0.0)
        try:
            status, _ = run_solver(opt, plan_model)
        except SolverError:
            status = "failed"
        if status != "optimal":
            break
        best = rounded_counts(plan_model)
    for position in off:
        variables[position].unfix()
    return best


def integer_variables(plan_model: PlanModel) -> list[Any]:
    """The Pyomo variables of every integer block (replicas, and GPU counts with ``integer_gpus``)."""
    out: list[Any] = []
    for block in plan_model.formulation.variables.values():
        if block.integer:
            out.extend(getattr(plan_model.model, block.name).values())
    return out


def rounded_counts(plan_model: PlanModel) -> np.ndarray:
    """The model's current integer counts (replicas, GPUs) rounded up (a hair's tolerance)."""
    values = np.array([pyo.value(var, exception=False) or 0.0 for var in integer_variables(plan_model)])
    return np.ceil(values - 1e-7)


def _fewest_counts(plan_model: PlanModel) -> np.ndarray:
    """The integer variables' values at the fewest replicas and GPUs the current shares need."""
    data = plan_model.data
    shares, gpus = _shares_and_gpus(plan_model)
    parts = []
    for block in plan_model.formulation.variables.values():
        if block.integer and block.name == "gpus_on":
            parts.append(np.round(gpus if gpus is not None else np.zeros(0)))
        elif block.integer and block.name == "replicas":
            current = np.array([pyo.value(v, exception=False) or 0.0 for v in plan_model.model.replicas.values()])
            parts.append(np.minimum(np.round(current), evaluate.required_replicas(data, shares)))
    return np.concatenate(parts) if parts else np.zeros(0)


def _fix_gpus(plan_model: PlanModel, counts: np.ndarray) -> None:
    for var, count in zip(integer_variables(plan_model), counts, strict=True):
        var.domain = pyo.NonNegativeReals
        var.fix(float(count))


def _mip_bound(results: Any, incumbent: float) -> float:
    """The solver's best bound on the MILP objective (the incumbent where it reports none)."""
    bound: Any = getattr(results, "best_objective_bound", None)
    if bound is None:
        bound = getattr(getattr(results, "problem", None), "lower_bound", None)
    try:
        value = float(bound)
    except (TypeError, ValueError):
        return incumbent
    return value if np.isfinite(value) else incumbent


def fixed_gpu_duals(opt: Any, plan_model: PlanModel) -> np.ndarray:
    """Duals of the LP left when the integer GPU counts are fixed at the MILP's values.

    The counts are rounded (and lowered to the fewest the allocation needs,
    rounded up: a solution at least as good, :func:`_fewest_gpus`), fixed, and the LP over the shares solved
    with duals; the variables are then released and integer again, so the
    model can be re-solved. The duals are shadow prices *conditional on the
    GPU counts*. The ``gpu_capacity`` rows, constant once the counts are
    fixed, are priced by :func:`_fleet_prices`. NaN if the fixed LP fails.
    """
    model = plan_model.model
    counts = _fewest_counts(plan_model)
    variables = integer_variables(plan_model)
    for var, count in zip(variables, counts, strict=True):
        var.domain = pyo.NonNegativeReals
        var.fix(float(count))
    model.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    try:
        status, _ = run_solver(opt, plan_model)
        duals = (row_duals(plan_model) if status == "optimal"
                 else np.full(sum(b.size for b in plan_model.blocks), np.nan))
    finally:
        for var in variables:
            var.unfix()
            var.domain = pyo.NonNegativeIntegers
        model.del_component(model.dual)
    return _fleet_prices(plan_model, duals, counts)


def _fleet_prices(plan_model: PlanModel, duals: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Price ``gpu_capacity[m, t]`` in the fixed-GPU LP: the value of one more GPU where the
    count is the fleet size (the fleet is what stops more), else 0.

    One more GPU of m in t changes every row's activity by its column ``a_n``
    (``-period_h * U_m`` GPU-h on ``gpu_busy``, idle energy on the energy and
    power rows) and the objective by its coefficient; its value is that
    coefficient's improvement plus the rows' marginal values times the
    loosening. Negative values (more GPUs would not help) price at 0.
    """
    block = next((b for b in plan_model.blocks if b.name == "gpu_capacity"), None)
    if block is None or np.isnan(duals).all() or not plan_model.data.settings.integer_gpus:
        return duals   # GPU counts not fixed: the fixed LP's own gpu_capacity duals stand
    counts = counts[: block.size]
    data = plan_model.data
    lp, maximize = plan_model.linear_program(), data.settings.objective == "max_accuracy"
    # per row: improvement per unit the row's activity falls (for <=) or rises (for >=)
    loosen = np.concatenate([np.full(b.size, 1.0 if b.sense == "<=" else -1.0) for b in lp.blocks])
    marginal = loosen * (1.0 if maximize else -1.0) * np.nan_to_num(duals)
    marginal[block.start: block.start + block.size] = 0.0
    gpu_positions = plan_model.formulation.variables["gpus_on"].positions()
    columns = lp.matrix[:, gpu_positions]
    direct = plan_model.formulation.objective.coefficients[gpu_positions] * (1.0 if maximize else -1.0)
    value = direct - columns.T @ (loosen * marginal)
    at_fleet = counts >= block.rhs - 1e-9
    out = duals.copy()
    out[block.start: block.start + block.size] = (np.where(at_fleet, np.maximum(value, 0.0), 0.0)
                                                  * (1.0 if maximize else -1.0))
    return out


def _improving_columns(plan_model: PlanModel, duals: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Columns outside the model whose reduced cost would improve the objective."""
    lp = plan_model.linear_program()
    sign = -1.0 if lp.maximize else 1.0            # lp.cost is a minimization
    reduced = lp.cost[: lp.n_x] - lp.matrix[:, : lp.n_x].T @ (sign * duals)
    outside = np.ones(lp.n_x, dtype=bool)
    outside[plan_model.columns] = False
    return np.flatnonzero((reduced < -tol) & outside)


def _master_duals(plan_model: PlanModel) -> np.ndarray:
    """Duals of the column-generation master, as d objective / d rhs.

    A degenerate restricted LP has many optimal duals; the master's are
    feasible for the full LP (no column prices out), so they are the full
    LP's shadow prices. The restricted model's optimum equals the full LP's
    (the master proved it), so only the duals are taken from the master.
    """
    generated = plan_model.column_generation
    if generated is None:
        raise SolverError("restricted model without a column-generation master")
    raw = generated.solution.row_dual
    return -raw if plan_model.data.settings.objective == "max_accuracy" else raw


def solve(plan_model: PlanModel, *, solver: str = "highs", time_limit_s: float | None = None,
          mip_gap: float | None = None, write_lp: str | None = None,
          method: str | None = None, baselines: bool = True, stable_ties: bool = True) -> PlanResult:
    """Solve a built plan. Infeasible -> :class:`InfeasiblePlanError` with a diagnosis.

    ``method`` picks HiGHS's algorithm (``simplex``, ``ipm``, ``choose``).
    A model restricted by column generation is verified by pricing every
    column with the solver's duals; if the (degenerate) duals price columns out, the
    optimum stands (column generation proved it) and the shadow prices come
    from the column-generation master, whose duals are feasible for the full LP
    (``solver_info["duals_from"]`` says which). An integer-GPU plan (MILP)
    is re-solved as an LP with its GPU counts fixed; its shadow prices are
    that LP's duals, conditional on the counts (``duals_from`` is
    :data:`FIXED_LP`, ``solver_info["mip_objective"]`` the MILP's value).
    A plan column generation proved infeasible is diagnosed without a solve.
    ``stable_ties``: among optimal allocations keep the one whose hourly shares change least
    (:mod:`tpf.plan.ties`; duals and objective from the first solve).
    """
    if write_lp:
        plan_model.model.write(str(write_lp), io_options={"symbolic_solver_labels": True})
    opt = make_solver(solver, time_limit_s=time_limit_s, mip_gap=mip_gap, method=method)
    from tpf.plan.diagnose import raise_infeasible
    generated = plan_model.column_generation
    if generated is not None and not generated.feasible:   # phase 1 proved the LP infeasible
        raise_infeasible(plan_model, solver=solver)
    duals_from = "solver"
    status, duals, mip = solve_for_duals(opt, plan_model)
    if status == "infeasible":
        raise_infeasible(plan_model, solver=solver)
    if plan_model.is_milp:
        duals_from = FIXED_LP if not np.isnan(duals).all() else "none: the fixed-GPU LP did not solve"
    elif plan_model.restricted and len(_improving_columns(plan_model, np.nan_to_num(duals))):
        duals, duals_from = _master_duals(plan_model), "column_generation_master"
    ties = break_ties(opt, plan_model, duals) if stable_ties and status == "optimal" else {"tie_break": "off"}
    result = read_result(plan_model, status, duals, solver)
    result.solver_info.update(duals_from=duals_from, **ties)
    if mip is not None:
        result.solver_info.update(mip_objective=mip.objective, mip_bound=mip.bound, mip_gap=mip.gap)
    if baselines:
        from tpf.plan.baselines import attach_baselines
        attach_baselines(result, plan_model)
    return result


def _shares_and_gpus(plan_model: PlanModel, fewest: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    model, data = plan_model.model, plan_model.data
    shares = np.zeros(data.n_columns)
    values = np.array([pyo.value(model.x[k], exception=False) or 0.0 for k in range(len(plan_model.columns))])
    shares[plan_model.columns] = np.clip(values, 0.0, 1.0)
    if not data.gpu_vars:
        return shares, None
    gpus = np.array([pyo.value(var, exception=False) or 0.0 for var in model.gpus_on.values()])
    if fewest and not data.settings.keep_fleet_on:
        gpus = _fewest_gpus(data, shares, gpus)
    return shares, gpus


def _fewest_gpus(data: PlanData, shares: np.ndarray, gpus: np.ndarray) -> np.ndarray:
    """Power on only the GPUs the allocation needs.

    When the objective prices neither energy nor GPUs, any powered-on count
    between the need and the fleet is optimal and the solver may return the
    fleet; a MILP stopped at its gap may keep GPUs it does not need. Powering
    fewer GPUs only lowers idle energy, power and GPU cost (every other row
    and the objective are no worse), so the fewest (rounded up for integer
    counts) is a feasible solution at least as good, and the one whose idle
    energy the totals report. Not with ``keep_fleet_on``.
    """
    needed = evaluate.required_gpus(data, shares)
    if data.settings.integer_gpus:
        needed = np.ceil(needed - 1e-9)
    return np.minimum(gpus, np.maximum(needed, 0.0))


def shadow_prices(plan_model: PlanModel, duals: np.ndarray) -> tuple[dict[str, float], dict[str, str]]:
    """Marginal value of loosening each non-demand row by one user unit (>= 0 at an optimum)."""
    maximize = plan_model.data.settings.objective == "max_accuracy"
    prices: dict[str, float] = {}
    units: dict[str, str] = {}
    for block in plan_model.blocks[1:]:
        direction = 1.0 if block.sense == "<=" else -1.0
        sign = direction * (1.0 if maximize else -1.0)
        values = sign * duals[block.start: block.start + block.size] / block.per_unit
        for name, value in zip(block.row_names(), values, strict=True):
            prices[name] = 0.0 if abs(value) < 1e-12 else float(value)
            units[name] = block.unit
    return prices, units


def current_rhs(plan_model: PlanModel, name: str, built: np.ndarray) -> np.ndarray:
    """A block's right-hand sides as the model holds them now (sweeps change the mutable ones)."""
    param = getattr(plan_model.model, f"{name}_rhs", None)
    if param is None:
        return built
    return np.array([pyo.value(param[i]) for i in range(len(built))], float)


def _tight_rows(plan_model: PlanModel, shares: np.ndarray, gpus: np.ndarray | None) -> list[str]:
    lp = plan_model.linear_program()
    activity = lp.matrix @ evaluate.variable_values(plan_model.data, shares, gpus)
    tight = []
    for block in plan_model.blocks[1:]:
        rhs_now = current_rhs(plan_model, block.name, block.rhs)
        for i, name in enumerate(block.row_names()):
            rhs = rhs_now[i]
            if abs(activity[block.start + i] - rhs) <= TIGHT_TOL * max(1.0, abs(rhs)):
                tight.append(name)
    return tight


def read_result(plan_model: PlanModel, status: str, duals: np.ndarray, solver: str) -> PlanResult:
    data = plan_model.data
    # integer counts were fixed (at the fewest) before the duals' LP: report those
    shares, gpus = _shares_and_gpus(plan_model, fewest=not data.settings.integer_gpus)
    prices, units = shadow_prices(plan_model, duals)
    tight = _tight_rows(plan_model, shares, gpus)
    binding = sorted((n for n in tight if abs(prices.get(n, 0.0)) > 1e-9
                      and not n.startswith(STRUCTURAL_ROWS)),
                     key=lambda n: -abs(prices[n]))
    demand = plan_model.blocks[0]
    demand_duals = pd.DataFrame({
        "class_name": [data.class_names[c] for c, _ in data.demand_rows],
        "period": data.demand_rows[:, 1],
        "value_per_query": duals[: demand.size] / data.demand_queries[data.demand_rows[:, 0],
                                                                       data.demand_rows[:, 1]],
    })
    gpus_frame = pd.DataFrame()
    if gpus is not None:
        gpus_frame = evaluate.per_model_period(data, shares, gpus)
    info = plan_model.describe()
    if plan_model.column_generation is not None:
        info["column_generation_rounds"] = plan_model.column_generation.rounds
    replicas, solver_info = _replica_outputs(data, shares)
    allocation = evaluate.allocation(data, shares)
    if len(replicas):
        allocation = allocation.merge(replicas[["model", "period", *POINT_COLUMNS]], how="left",
                                      on=["model", "period", "batch_size"])
    return PlanResult(
        status=status, objective=float(pyo.value(plan_model.model.objective)),
        objective_name=data.settings.objective, objective_unit=OBJECTIVE_UNITS[data.settings.objective],
        allocation=allocation, totals=evaluate.totals(data, shares, gpus), replicas=replicas,
        shadow_prices=prices, shadow_price_units=units, binding_constraints=binding,
        tight_constraints=tight, demand_duals=demand_duals, gpus_on=gpus_frame,
        per_period=evaluate.per_period(data, shares, gpus), model_info=info,
        solver_info={"solver": solver, **solver_info}, shares=shares,
    )


#: Rows that tie the allocation to the powered GPUs and replicas (never a binding cap).
STRUCTURAL_ROWS = ("gpu_busy[", "replica_capacity[", "batch_forms[", "replica_gpus[")
#: Per (model, operating point, period) columns the allocation (plan.csv) carries.
POINT_COLUMNS = ("batch_size", "replicas", "gpus_on", "load_per_replica_per_s", "batch_formed",
                 "ttft_p99_s", "e2e_p99_s")


def _replica_outputs(data: PlanData, shares: np.ndarray) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The replicas per (model, operating point, period) with their load and p99 latencies, and for
    ``replicas="relaxed"`` the rounding gap: the idle energy (kWh) whole replicas would add."""
    if not data.replicas_modelled:
        return pd.DataFrame(), {}
    needed = evaluate.required_replicas(data, shares)
    info: dict[str, Any] = {"replicas": data.settings.replicas}
    if data.settings.replicas == "relaxed":
        extra_gpus = (np.ceil(needed - 1e-6) - needed) * np.repeat(data.replica_gpus, data.n_periods)
        idle_kw = np.repeat(data.idle_power_kw[data.point_model], data.n_periods)
        info["replica_rounding_gap_kwh"] = float(np.sum(np.maximum(extra_gpus, 0.0) * idle_kw) * data.period_h)
    return evaluate.point_latency(data, shares, needed), info
