"""``build_model``: the planning LP/MILP as a Pyomo model, read top to bottom like DESIGN.md."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from tpf.domain import Facility, Fleet, Grid, Workload
from tpf.plan.blocks import RowBlock
from tpf.plan.data import PlanData, prepare
from tpf.plan.define import Formulation, RowDefinition, define_problem
from tpf.plan.highs_direct import ColumnGenerationResult, column_generation
from tpf.plan.lp import LinearProgram, build_lp
from tpf.plan.options import OptionTable
from tpf.plan.pyomo_model import build_pyomo_model
from tpf.plan.settings import PlannerSettings

#: Above this many share columns, ``column_generation="auto"`` builds the Pyomo
#: model over the columns column generation selects instead of all of them.
COLUMN_GENERATION_THRESHOLD = 50_000


@dataclass
class PlanModel:
    """A built (not yet solved) plan: the Pyomo model, its data and its row families."""

    model: pyo.ConcreteModel
    data: PlanData
    formulation: Formulation
    columns: np.ndarray
    elastic: bool = False
    lp: LinearProgram | None = None
    column_generation: ColumnGenerationResult | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def blocks(self) -> list[RowBlock]:
        return self.formulation.rows

    @property
    def is_milp(self) -> bool:
        """Whole replicas or integer GPU counts are modelled (with GPU capacity rows)."""
        return self.data.integer_counts

    @property
    def restricted(self) -> bool:
        return len(self.columns) < self.data.n_columns

    def linear_program(self) -> LinearProgram:
        """The full LP in matrix form (every data column), built on first use and kept."""
        if self.lp is None:
            self.lp = build_lp(self.data, self.formulation)
        return self.lp

    def describe(self) -> dict[str, object]:
        return {"columns_total": int(self.data.n_columns), "columns_in_model": int(len(self.columns)),
                "options_kept": len(self.data.options), "options_pruned": len(self.data.pruned),
                "rows": {b.name: b.size for b in self.blocks}, "timings_s": dict(self.timings_s)}


def build_pyomo(data: PlanData, columns: np.ndarray, *, elastic: bool = False,
                formulation: Formulation | None = None) -> pyo.ConcreteModel:
    """The Pyomo model of the defined blocks over ``columns`` (a MILP gets no dual suffix)."""
    formulation = formulation or define_problem(data)
    milp = data.integer_counts
    return build_pyomo_model(formulation, columns, elastic=elastic, duals=not milp)


def _use_column_generation(data: PlanData) -> bool:
    mode = data.settings.column_generation
    if data.integer_counts:
        return False
    return mode == "on" or (mode == "auto" and data.n_columns > COLUMN_GENERATION_THRESHOLD)


def build_model(options: OptionTable | pd.DataFrame, workload: Workload, facility: Facility,
                grid: Grid, fleet: Fleet, settings: PlannerSettings | None = None, *,
                constraints: Sequence[RowDefinition] | None = None) -> PlanModel:
    """Validate the inputs, prune dominated options and build the Pyomo model.

    Large LPs (more than :data:`COLUMN_GENERATION_THRESHOLD` columns, or
    ``settings.column_generation == "on"``) are first reduced by column
    generation on the matrix form; :func:`tpf.plan.solve` then proves the
    restricted model's optimum is the full LP's by pricing every column.
    When column generation's phase 1 proves the LP infeasible, the model is
    built over its few columns and ``solve`` goes straight to the diagnosis.
    ``constraints`` replaces the constraint definitions
    (default :data:`tpf.plan.define.CONSTRAINTS`).
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    data = prepare(options, workload, facility, grid, fleet, settings or PlannerSettings(),
                   constraints=constraints)
    formulation = define_problem(data)
    timings["prepare"] = time.perf_counter() - start
    columns, lp, generated = np.arange(data.n_columns), None, None
    if _use_column_generation(data):
        start = time.perf_counter()
        lp = build_lp(data, formulation)
        generated = column_generation(data, lp)
        # infeasible: the restricted model is too, and ``solve`` diagnoses without solving it
        columns = generated.columns
        timings["column_generation"] = time.perf_counter() - start
    start = time.perf_counter()
    model = build_pyomo(data, columns, formulation=formulation)
    timings["pyomo_build"] = time.perf_counter() - start
    return PlanModel(model, data, formulation, columns, False, lp, generated, timings)


def build_diagnosis_model(plan_model: PlanModel) -> PlanModel:
    """The same plan with every cap, floor and target relaxed by a priced slack."""
    data = plan_model.data
    columns = np.arange(data.n_columns)
    model = build_pyomo(data, columns, elastic=True, formulation=plan_model.formulation)
    return PlanModel(model, data, plan_model.formulation, columns, True)
