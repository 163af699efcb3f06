"""The planning LP in matrix form: the blocks of ``tpf.plan.define`` stacked.

The same rows as the Pyomo model (both are built from the same blocks), in
the same order, as one sparse matrix. Used to price columns (column generation), to
check baselines against the constraints, and to hand the LP to highspy
directly (the benchmark's reference). Internally a minimization:
``cost = -objective`` when the objective is maximized.

Columns: the shares ``x`` (one per data column), then, when GPUs are
modelled, the powered-on GPU counts ``n[m, t]`` at ``n_x + m * T + t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from tpf.plan.blocks import RowBlock
from tpf.plan.data import PlanData
from tpf.plan.define import Formulation, define_problem

INF = np.inf


@dataclass
class LinearProgram:
    cost: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    blocks: list[RowBlock]
    maximize: bool
    n_x: int
    extra: dict[str, object] = field(default_factory=dict)


def build_lp(data: PlanData, formulation: Formulation | None = None) -> LinearProgram:
    """The whole LP over every column of ``data``: the defined blocks stacked as one sparse matrix."""
    formulation = formulation or define_problem(data)
    blocks, variables = formulation.rows, formulation.variables
    n_vars = variables.count
    matrix = (sp.vstack([b.coefficients for b in blocks]).tocsc() if blocks
              else sp.csc_matrix((0, n_vars)))
    lower, upper = _row_bounds(blocks)
    objective = formulation.objective
    cost = objective.coefficients
    col_upper = np.concatenate([v.upper for v in variables.values()])
    integrality = np.concatenate([np.full(v.size, int(v.integer)) for v in variables.values()])
    return LinearProgram(-cost if objective.maximize else cost, matrix, lower, upper, np.zeros(n_vars),
                         col_upper.astype(float), integrality.astype(np.int64), blocks,
                         objective.maximize, variables["x"].size)


def _row_bounds(blocks: list[RowBlock]) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = [], []
    for block in blocks:
        lower.append(block.rhs if block.sense in ("=", ">=") else np.full(block.size, -INF))
        upper.append(block.rhs if block.sense in ("=", "<=") else np.full(block.size, INF))
    return np.concatenate(lower), np.concatenate(upper)


def row_activity(lp: LinearProgram, values: np.ndarray) -> np.ndarray:
    return lp.matrix @ values


def violations(lp: LinearProgram, values: np.ndarray, tol: float = 1e-7) -> dict[str, float]:
    """Row name -> amount by which ``values`` breaks it (user units), for broken rows only."""
    activity = row_activity(lp, values)
    excess = np.maximum(activity - lp.row_upper, lp.row_lower - activity)
    out = {}
    for block in lp.blocks:
        names = block.row_names()
        for i in range(block.size):
            amount = excess[block.start + i]
            if amount > tol * max(1.0, abs(block.rhs[i])):
                out[names[i]] = float(amount)
    return out
