"""The matrix-form LP handed to HiGHS through highspy, and column generation on it.

Column generation: a plan has one demand row per (class, period) and only a
few dozen coupling rows (energy, power, GPU rows per period, one carbon row,
accuracy floors), so an optimal basis uses about one option per demand row.
The master LP starts from a few columns per demand row (the best by
objective, the least energy, the least GPU time), prices every column with
the master's duals (reduced cost ``c_j - a_j^T y``, one sparse product) and
adds the most negative column of each demand row until none prices out: the
master's optimum is then the full LP's optimum. Phase 1 minimizes elastic
slacks on the coupling rows, so the master is always feasible and no big-M
is needed; a positive phase-1 optimum proves the full LP infeasible.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from tpf.errors import SolverError
from tpf.plan.data import PlanData
from tpf.plan.lp import LinearProgram

HIGHS_METHODS = {"choose": "choose", "simplex": "simplex", "ipm": "ipm", "pdlp": "pdlp"}


@dataclass
class LpSolution:
    status: str
    objective: float          # in the plan's sense and units (maximized objectives positive)
    values: np.ndarray
    row_dual: np.ndarray      # HiGHS convention for the internal minimization
    iterations: int = 0


def new_highs(*, method: str = "choose", time_limit_s: float | None = None,
              mip_gap: float | None = None, threads: int | None = None) -> highspy.Highs:
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("solver", HIGHS_METHODS[method])
    if time_limit_s is not None:
        highs.setOptionValue("time_limit", float(time_limit_s))
    if mip_gap is not None:
        highs.setOptionValue("mip_rel_gap", float(mip_gap))
    if threads is not None:
        highs.setOptionValue("threads", int(threads))
    return highs


def pass_lp(highs: highspy.Highs, lp: LinearProgram, cost: np.ndarray | None = None) -> None:
    """Hand the matrix to HiGHS (column-wise, no copies beyond dtype casts)."""
    matrix = lp.matrix.tocsc()
    status = highs.passModel(
        matrix.shape[1], matrix.shape[0], matrix.nnz, 1, 1, 0.0,
        np.ascontiguousarray(lp.cost if cost is None else cost, float), lp.col_lower, lp.col_upper,
        lp.row_lower, lp.row_upper, matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32),
        matrix.data.astype(float), lp.integrality.astype(np.int32))
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the LP (passModel returned an error)")


def solve_lp(lp: LinearProgram, *, method: str = "choose", time_limit_s: float | None = None,
             mip_gap: float | None = None) -> LpSolution:
    """Solve the whole LP with highspy; the reference for the Pyomo path."""
    highs = new_highs(method=method, time_limit_s=time_limit_s, mip_gap=mip_gap)
    pass_lp(highs, lp)
    highs.run()
    return _read_solution(highs, lp.maximize)


def _read_solution(highs: highspy.Highs, maximize: bool) -> LpSolution:
    status = highs.modelStatusToString(highs.getModelStatus())
    solution = highs.getSolution()
    value = highs.getInfo().objective_function_value
    return LpSolution(status, -value if maximize else value, np.asarray(solution.col_value),
                      np.asarray(solution.row_dual), int(highs.getInfo().simplex_iteration_count))


def _first_per_group(candidates: np.ndarray, group: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Of ``candidates``, the one with the lowest score in each group."""
    if len(candidates) == 0:
        return candidates
    order = candidates[np.lexsort((score[candidates], group[candidates]))]
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    return order[first]


def initial_columns(data: PlanData, cost: np.ndarray) -> np.ndarray:
    """Per demand row: the best column by objective, the least energy, the least GPU time."""
    everything = np.arange(data.n_columns)
    picks = [_first_per_group(everything, data.col_demand_row, score)
             for score in (cost[: data.n_columns], data.col_energy_kwh, data.col_gpu_h)]
    return np.unique(np.concatenate(picks))


@dataclass
class ColumnGenerationResult:
    columns: np.ndarray        # selected share columns (indices into data columns)
    solution: LpSolution       # master solution over [selected x, n, slacks]
    feasible: bool
    rounds: int


def _slack_matrix(lp: LinearProgram, rows: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
    """One elastic column per row of ``rows`` (loosening it), and its price ``1 / max(|rhs|, 1e-6)``."""
    sense = np.concatenate([np.full(b.size, -1.0 if b.sense == "<=" else 1.0) for b in lp.blocks])
    rhs = np.concatenate([b.rhs for b in lp.blocks])
    slack = sp.csc_matrix((sense[rows], (rows, np.arange(len(rows)))),
                          shape=(lp.matrix.shape[0], len(rows)))
    return slack, 1.0 / np.maximum(np.abs(rhs[rows]), 1e-6)


def _elastic_master(data: PlanData, lp: LinearProgram, slack: sp.csc_matrix,
                    slack_price: np.ndarray, method: str) -> tuple[highspy.Highs, np.ndarray]:
    """Phase-1 master: a few columns per demand row, every GPU column, the elastic slacks.

    Returns HiGHS holding it (share and GPU columns at cost 0, slacks at
    ``slack_price``) and ``master_index``: the data column of every master
    column (share columns ``< n_x``, GPU columns ``>= n_x``, slacks -1).
    """
    n_x, n_other = lp.n_x, lp.matrix.shape[1] - lp.n_x
    selected = initial_columns(data, lp.cost)
    master_index = np.concatenate([selected, n_x + np.arange(n_other), -np.ones(slack.shape[1], int)])
    master_cols = master_index[: len(selected) + n_other]
    n_master = len(master_index)
    master = LinearProgram(
        np.zeros(n_master), sp.hstack([lp.matrix[:, master_cols], slack]).tocsc(),
        lp.row_lower, lp.row_upper, np.zeros(n_master),
        np.concatenate([lp.col_upper[master_cols], np.full(slack.shape[1], np.inf)]),
        np.zeros(n_master, dtype=np.int64), lp.blocks, False, len(selected))
    highs = new_highs(method=method)
    pass_lp(highs, master, np.concatenate([np.zeros(len(master_cols)), slack_price]))
    return highs, master_index


def column_generation(data: PlanData, lp: LinearProgram, *, method: str = "simplex",
                      tol: float = 1e-9, max_rounds: int = 200) -> ColumnGenerationResult:
    """Find a small column set whose restricted LP has the full LP's optimum (see module doc)."""
    n_x = lp.n_x
    coupling = np.arange(lp.blocks[0].size, lp.matrix.shape[0])   # every row but demand
    slack, slack_price = _slack_matrix(lp, coupling)
    highs, master_index = _elastic_master(data, lp, slack, slack_price, method)
    zero_cost = np.zeros(lp.matrix.shape[1])
    master_index, rounds = _price_loop(highs, lp, zero_cost, master_index, data.col_demand_row,
                                       tol, max_rounds)
    phase1 = _read_solution(highs, False)
    if phase1.objective > 1e-7:   # infeasible: ``solve`` goes straight to the diagnosis
        shares = master_index[(master_index >= 0) & (master_index < n_x)]
        return ColumnGenerationResult(np.sort(shares), phase1, False, rounds)
    slack_pos = np.flatnonzero(master_index < 0).astype(np.int32)
    highs.changeColsBounds(len(slack_pos), slack_pos, np.zeros(len(slack_pos)), np.zeros(len(slack_pos)))
    real = np.flatnonzero(master_index >= 0).astype(np.int32)
    highs.changeColsCost(len(real), real, lp.cost[master_index[real]])
    master_index, more = _price_loop(highs, lp, lp.cost, master_index, data.col_demand_row,
                                     tol, max_rounds)
    shares = master_index[(master_index >= 0) & (master_index < n_x)]
    return ColumnGenerationResult(np.sort(shares), _read_solution(highs, lp.maximize), True,
                                  rounds + more)


def min_relaxation(data: PlanData, lp: LinearProgram, relaxable: np.ndarray, *,
                   generate_columns: bool, method: str = "simplex", tol: float = 1e-9,
                   max_rounds: int = 200) -> tuple[float, np.ndarray]:
    """The least total relative relaxation ``sum_i s_i / max(|rhs_i|, 1e-6)`` making ``lp`` feasible.

    ``relaxable`` marks the rows that get a slack ``s_i >= 0`` (in the row's
    unit); GPU counts lose their fleet bound (the fleet is the relaxable
    ``gpu_capacity`` row). Returns (optimum, slack per row, 0 on the others).
    With ``generate_columns`` (LPs only) the elastic LP is solved by column
    generation from a small master, which prices every column to the same
    optimum; otherwise in full (a MILP keeps its integer GPU counts).
    """
    rows = np.flatnonzero(relaxable)
    slack, price = _slack_matrix(lp, rows)
    col_upper = lp.col_upper.copy()
    col_upper[lp.n_x:] = np.inf   # GPU counts: their fleet bound is the relaxable gpu_capacity row
    unbounded = LinearProgram(lp.cost, lp.matrix, lp.row_lower, lp.row_upper, lp.col_lower, col_upper,
                              lp.integrality, lp.blocks, lp.maximize, lp.n_x)
    if generate_columns and not lp.integrality.any():
        highs, master_index = _elastic_master(data, unbounded, slack, price, method)
        master_index, _ = _price_loop(highs, unbounded, np.zeros(lp.matrix.shape[1]), master_index,
                                      data.col_demand_row, tol, max_rounds)
        values = np.asarray(highs.getSolution().col_value)[master_index < 0]
    else:
        n = lp.matrix.shape[1]
        full = LinearProgram(
            np.concatenate([np.zeros(n), price]), sp.hstack([lp.matrix, slack]).tocsc(),
            lp.row_lower, lp.row_upper, np.zeros(n + len(rows)),
            np.concatenate([col_upper, np.full(len(rows), np.inf)]),
            np.concatenate([lp.integrality, np.zeros(len(rows), dtype=np.int64)]), lp.blocks, False, lp.n_x)
        highs = new_highs(method="choose" if lp.integrality.any() else method)
        pass_lp(highs, full)
        highs.run()
        status = highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise SolverError(f"the relaxed (diagnosis) model did not solve: {highs.modelStatusToString(status)}")
        values = np.asarray(highs.getSolution().col_value)[n:]
    out = np.zeros(lp.matrix.shape[0])
    out[rows] = np.maximum(values, 0.0)
    return float(np.dot(price, values)), out


def _price_loop(highs: highspy.Highs, lp: LinearProgram, cost: np.ndarray,
                master_index: np.ndarray, demand_row: np.ndarray, tol: float,
                max_rounds: int) -> tuple[np.ndarray, int]:
    """Solve the master, append the most negative reduced-cost column per demand row, repeat.

    ``master_index`` maps master columns to data columns (share columns
    ``< n_x``, GPU columns ``>= n_x``, slacks -1); returns it extended.
    """
    in_master = np.zeros(lp.n_x, dtype=bool)
    in_master[master_index[(master_index >= 0) & (master_index < lp.n_x)]] = True
    share_matrix_t = lp.matrix[:, : lp.n_x].T.tocsr()
    for round_ in range(max_rounds):
        highs.run()
        status = highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise SolverError("column generation master: HiGHS status "
                              f"{highs.modelStatusToString(status)}")
        row_dual = np.asarray(highs.getSolution().row_dual)
        reduced = cost[: lp.n_x] - share_matrix_t @ row_dual
        candidates = np.flatnonzero((reduced < -tol) & ~in_master)
        new = _first_per_group(candidates, demand_row, reduced)
        if len(new) == 0:
            return master_index, round_
        block = lp.matrix[:, new].tocsc()
        highs.addCols(len(new), cost[new], np.zeros(len(new)), np.ones(len(new)), block.nnz,
                      block.indptr[:-1].astype(np.int32), block.indices.astype(np.int32),
                      block.data.astype(float))
        in_master[new] = True
        master_index = np.concatenate([master_index, new])
    raise SolverError(f"column generation did not converge in {max_rounds} rounds")
