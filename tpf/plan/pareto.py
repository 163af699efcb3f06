"""Pareto fronts by epsilon-constraint sweeps: maximum accuracy under an energy or carbon cap
(:func:`pareto_front`), or the least energy or carbon at an accuracy target (:func:`accuracy_front`).

The model is built once with the swept cap as a mutable parameter and
re-solved by the persistent HiGHS interface at each point (only the
right-hand side changes), so a sweep costs little more than one solve.
Every solve of a sweep runs under the same ``time_limit_s`` and ``mip_gap``
as the plan (``planner.time_limit_s``, ``planner.mip_gap``): a point whose
solve stopped at the time limit is kept with ``proven_optimal`` False, and a
MILP point is optimal to within ``mip_gap``. :func:`accuracy_fronts` sweeps
several objectives, one process per front, and solves a carbon front not at
all where its objective is the facility energy's times a constant (constant
grid intensity, no GPU cost, no embodied carbon priced): it reuses the energy
front's plans.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from tpf.domain import Facility, Fleet, Grid, Workload
from tpf.errors import ConfigError
from tpf.plan.define import OBJECTIVE_CAPS
from tpf.plan.model import build_model
from tpf.plan.options import OptionTable
from tpf.plan.settings import OBJECTIVES, PlannerSettings
from tpf.plan.solve import make_solver, read_result, solve, solve_for_duals

#: Per axis: the objective minimizing it and the total it is read from.
AXES = {"it_energy": ("min_it_energy", "it_energy_kwh"), "carbon": ("min_carbon", "carbon_kg")}


def pareto_front(options: OptionTable | pd.DataFrame, workload: Workload, facility: Facility,
                 grid: Grid, fleet: Fleet, settings: PlannerSettings | None = None, *,
                 axis: str = "it_energy", n_points: int = 11, solver: str = "highs",
                 time_limit_s: float | None = None, mip_gap: float | None = None) -> pd.DataFrame:
    """Accuracy vs IT energy (kWh) or carbon (kgCO2): one row per point of the sweep.

    The sweep runs from the least energy (carbon) any plan needs to the
    energy (carbon) of the most accurate plan; each point maximizes accuracy
    under the cap, with every other constraint of ``settings`` in force.
    Columns: ``cap``, ``accuracy``, ``it_energy_kwh``, ``facility_energy_kwh``,
    ``carbon_kg``, ``shadow_price`` (accuracy points per kWh or per kgCO2),
    ``binding_constraints``, ``proven_optimal`` (False: stopped at ``time_limit_s``).
    """
    if axis not in AXES:
        raise ConfigError(f"pareto axis: must be one of {sorted(AXES)}, got {axis!r}")
    if n_points < 2:
        raise ConfigError(f"pareto n_points: must be >= 2, got {n_points}")
    base = (settings or PlannerSettings()).with_changes(column_generation="off")
    minimize, total_key = AXES[axis]
    row_name, cap_field = OBJECTIVE_CAPS[minimize]
    inputs = (options, workload, facility, grid, fleet)
    limits: dict[str, Any] = {"time_limit_s": time_limit_s, "mip_gap": mip_gap}
    low = solve(build_model(*inputs, base.with_changes(objective=minimize, accuracy_target=0.0)),
                solver=solver, baselines=False, **limits).totals[total_key]
    best = solve(build_model(*inputs, base.with_changes(objective="max_accuracy")),
                 solver=solver, baselines=False, **limits).totals["accuracy"]
    high = solve(build_model(*inputs, base.with_changes(
        objective=minimize, accuracy_target=max(best - 1e-9, 0.0))),
        solver=solver, baselines=False, **limits).totals[total_key]
    existing = getattr(base, cap_field)
    plan_model = build_model(*inputs, base.with_changes(
        objective="max_accuracy", **{cap_field: high if existing is None else min(high, existing)}))
    rhs = getattr(plan_model.model, f"{row_name}_rhs")
    opt = make_solver(solver, **limits)
    rows = []
    for cap in np.linspace(low, high, n_points):
        rhs[0] = float(cap) * (1 + 1e-12) + 1e-12
        status, duals, _ = solve_for_duals(opt, plan_model)   # MILP: duals with GPU counts fixed
        if status == "infeasible":
            continue
        result = read_result(plan_model, status, duals, solver)
        rows.append({"cap": float(cap), **{k: result.totals[k] for k in (
            "accuracy", "it_energy_kwh", "facility_energy_kwh", "carbon_kg", "peak_facility_kw")},
            "shadow_price": result.shadow_prices.get(row_name, 0.0),
            "binding_constraints": ", ".join(result.binding_constraints),
            "proven_optimal": status == "optimal"})
    return pd.DataFrame(rows)


def accuracy_front(options: OptionTable | pd.DataFrame, workload: Workload, facility: Facility,
                   grid: Grid, fleet: Fleet, settings: PlannerSettings | None = None, *,
                   objective: str = "min_facility_energy", targets: Sequence[float] | np.ndarray = (),
                   solver: str = "highs", time_limit_s: float | None = None,
                   mip_gap: float | None = None) -> pd.DataFrame:
    """The least energy (or carbon: ``objective``) at each accuracy target: one row per feasible target.

    The model is built once at the first target with the accuracy target as
    a mutable right-hand side; each further target changes it and re-solves.
    Columns: ``accuracy_target``, the plan's totals, then ``proven_optimal``
    (False: the solve stopped at ``time_limit_s``; MILPs are optimal within ``mip_gap``).
    """
    if objective == "max_accuracy" or objective not in OBJECTIVES:
        raise ConfigError(f"accuracy front objective: must be one of {OBJECTIVES[1:]}, got {objective!r}")
    if not len(targets):
        return pd.DataFrame()
    base = (settings or PlannerSettings()).with_changes(column_generation="off", objective=objective,
                                                         accuracy_target=float(targets[0]))
    plan_model = build_model(options, workload, facility, grid, fleet, base)
    rhs = plan_model.model.accuracy_target_rhs
    opt = make_solver(solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
    rows = []
    for target in targets:
        rhs[0] = float(target)
        status, duals, _ = solve_for_duals(opt, plan_model)
        if status == "infeasible":
            continue
        rows.append({"accuracy_target": float(target),
                     **read_result(plan_model, status, duals, solver).totals,
                     "proven_optimal": status == "optimal"})
    return pd.DataFrame(rows)


def proportional_objectives(grid: Grid, n_periods: int, settings: PlannerSettings | None = None) -> bool:
    """Whether ``min_carbon`` is ``min_facility_energy`` times one constant: the grid's intensity
    is the same every period, no ``gpu_cost`` and no embodied carbon priced. Both then have the
    same optimal plans, so one sweep serves both fronts."""
    settings = settings or PlannerSettings()
    intensity = np.array([grid.intensity_at(t) for t in range(n_periods)], float)
    constant = bool(len(intensity)) and bool(np.allclose(intensity, intensity[0], rtol=1e-12, atol=0.0))
    return constant and intensity[0] > 0 and settings.gpu_cost == 0 and not settings.price_embodied


def accuracy_fronts(options: OptionTable | pd.DataFrame, workload: Workload, facility: Facility,
                    grid: Grid, fleet: Fleet, settings: PlannerSettings | None = None, *,
                    objectives: dict[str, str], targets: Sequence[float] | np.ndarray = (),
                    solver: str = "highs", time_limit_s: float | None = None,
                    mip_gap: float | None = None, workers: int | None = None) -> dict[str, pd.DataFrame]:
    """One :func:`accuracy_front` per ``name -> objective``, the fronts solved side by side in
    ``workers`` processes (default: one per front, at most the CPUs; 1: one after the other).

    A ``min_carbon`` front whose objective is the facility energy's times a constant
    (:func:`proportional_objectives`) is the ``min_facility_energy`` front's plans, not
    solved again (its ``attrs["solved_as"]`` names the objective solved).
    """
    same = proportional_objectives(grid, workload.n_periods, settings)
    solved: dict[str, str] = {}   # objective -> the front name that solves it
    twins: dict[str, str] = {}    # front name -> the front name whose plans it reuses
    for name, objective in objectives.items():
        twin = {"min_carbon": "min_facility_energy", "min_facility_energy": "min_carbon"}.get(objective)
        if same and twin in solved:
            twins[name] = solved[twin]
        else:
            solved.setdefault(objective, name)
    jobs = {name: objectives[name] for name in objectives if name not in twins}
    common = (options, workload, facility, grid, fleet, settings)
    limits = {"targets": targets, "solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    workers = min(len(jobs), os.cpu_count() or 1) if workers is None else max(1, min(workers, len(jobs)))
    if workers > 1:
        # fresh interpreters: a forked child would inherit the solver's threads in a broken state
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {name: pool.submit(accuracy_front, *common, objective=objective, **limits)
                       for name, objective in jobs.items()}
            fronts = {name: future.result() for name, future in futures.items()}
    else:
        fronts = {name: accuracy_front(*common, objective=objective, **limits) for name, objective in jobs.items()}
    for name, source in twins.items():
        fronts[name] = fronts[source].copy()
        fronts[name].attrs["solved_as"] = objectives[source]
    return {name: fronts[name] for name in objectives}
