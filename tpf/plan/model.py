"""``build_model``: the planning LP/MILP as a Pyomo model, read top to bottom like DESIGN.md."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from tpf.domain import Facility, Fleet, Grid, Workload
from tpf.plan import constraints as con
from tpf.plan.data import PlanData, prepare
from tpf.plan.highs_direct import ColumnGenerationResult, column_generation
from tpf.plan.lp import LinearProgram, RowBlock, build_lp, row_blocks
from tpf.plan.objective import add_diagnosis_objective, add_objective
from tpf.plan.options import OptionTable
from tpf.plan.settings import PlannerSettings
from tpf.plan.variables import add_gpu_variables, add_it_energy_expression, add_share_variables

#: Above this many share columns, ``column_generation="auto"`` builds the Pyomo
#: model over the columns column generation selects instead of all of them.
COLUMN_GENERATION_THRESHOLD = 50_000


@dataclass
class PlanModel:
    """A built (not yet solved) plan: the Pyomo model, its data and its row families."""

    model: pyo.ConcreteModel
    data: PlanData
    blocks: list[RowBlock]
    columns: np.ndarray
    elastic: bool = False
    lp: LinearProgram | None = None
    column_generation: ColumnGenerationResult | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def is_milp(self) -> bool:
        """Integer GPU counts are modelled (``integer_gpus`` with GPU capacity rows)."""
        return self.data.settings.integer_gpus and self.data.gpu_vars

    @property
    def restricted(self) -> bool:
        return len(self.columns) < self.data.n_columns

    def linear_program(self) -> LinearProgram:
        """The full LP in matrix form (every data column), built on first use and kept."""
        if self.lp is None:
            self.lp = build_lp(self.data)
        return self.lp

    def describe(self) -> dict[str, object]:
        return {"columns_total": int(self.data.n_columns), "columns_in_model": int(len(self.columns)),
                "options_kept": len(self.data.options), "options_pruned": len(self.data.pruned),
                "rows": {b.name: b.size for b in self.blocks}, "timings_s": dict(self.timings_s)}


def build_pyomo(data: PlanData, columns: np.ndarray, *, elastic: bool = False) -> pyo.ConcreteModel:
    """Variables, then every switched-on constraint, then the objective."""
    blocks = {b.name: b for b in row_blocks(data)}
    model = pyo.ConcreteModel(name="tpf_plan")
    add_share_variables(model, data, columns)
    add_gpu_variables(model, data)
    add_it_energy_expression(model, data)
    con.add_demand(model, data, blocks["demand"])
    optional = [("it_energy_per_period", con.add_it_energy_per_period),
                ("it_energy_total", con.add_it_energy_total), ("it_power", con.add_it_power),
                ("facility_power", con.add_facility_power), ("carbon_budget", con.add_carbon_budget),
                ("gpu_capacity", con.add_gpu_capacity), ("accuracy_floor", con.add_accuracy_floors),
                ("accuracy_target", con.add_accuracy_target)]
    if "gpu_busy" in blocks:
        con.add_gpu_busy(model, data, blocks["gpu_busy"])
    for name, add in optional:
        if name in blocks:
            add(model, data, blocks[name], elastic)
    if elastic:
        add_diagnosis_objective(model, list(blocks.values()))
    else:
        add_objective(model, data)
    if not (data.settings.integer_gpus and data.gpu_vars):   # a MILP has no duals (see solve)
        model.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    return model


def _use_column_generation(data: PlanData) -> bool:
    mode = data.settings.column_generation
    if data.settings.integer_gpus:
        return False
    return mode == "on" or (mode == "auto" and data.n_columns > COLUMN_GENERATION_THRESHOLD)


def build_model(options: OptionTable | pd.DataFrame, workload: Workload, facility: Facility,
                grid: Grid, fleet: Fleet, settings: PlannerSettings | None = None) -> PlanModel:
    """Validate the inputs, prune dominated options and build the Pyomo model.

    Large LPs (more than :data:`COLUMN_GENERATION_THRESHOLD` columns, or
    ``settings.column_generation == "on"``) are first reduced by column
    generation on the matrix form; :func:`tpf.plan.solve` then proves the
    restricted model's optimum is the full LP's by pricing every column.
    When column generation's phase 1 proves the LP infeasible, the model is
    built over its few columns and ``solve`` goes straight to the diagnosis.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    data = prepare(options, workload, facility, grid, fleet, settings or PlannerSettings())
    timings["prepare"] = time.perf_counter() - start
    columns, lp, generated = np.arange(data.n_columns), None, None
    if _use_column_generation(data):
        start = time.perf_counter()
        lp = build_lp(data)
        generated = column_generation(data, lp)
        # infeasible: the restricted model is too, and ``solve`` diagnoses without solving it
        columns = generated.columns
        timings["column_generation"] = time.perf_counter() - start
    start = time.perf_counter()
    model = build_pyomo(data, columns)
    timings["pyomo_build"] = time.perf_counter() - start
    return PlanModel(model, data, row_blocks(data), columns, False, lp, generated, timings)


def build_diagnosis_model(plan_model: PlanModel) -> PlanModel:
    """The same plan with every cap, floor and target relaxed by a priced slack."""
    data = plan_model.data
    columns = np.arange(data.n_columns)
    model = build_pyomo(data, columns, elastic=True)
    return PlanModel(model, data, plan_model.blocks, columns, True)
