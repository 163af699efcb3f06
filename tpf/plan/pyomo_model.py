"""Blocks to Pyomo: one generic function per kind of block, none per constraint.

Every :class:`~tpf.plan.blocks.VariableBlock` becomes a ``Var`` indexed
0..size-1 (the share block only over the columns the model keeps); every
:class:`~tpf.plan.blocks.RowBlock` ``name`` becomes ``<name>_index``, a
mutable right-hand side ``<name>_rhs`` (sweeps change it and re-solve), with
``elastic`` an ``<name>_slack >= 0`` on relaxable blocks, and the indexed
``Constraint`` ``<name>``; the objective becomes ``objective``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

from tpf.plan.blocks import ObjectiveBlock, RowBlock, VariableBlock
from tpf.plan.define import Formulation


def _kept_positions(formulation: Formulation, columns: np.ndarray) -> np.ndarray:
    """Stacked positions of the model's variables: the kept share columns, then every other block."""
    parts = [block.start + (columns if block.name == "x" else np.arange(block.size))
             for block in formulation.variables.values()]
    return np.concatenate(parts).astype(np.int64)


def add_variables(model: pyo.ConcreteModel, formulation: Formulation, columns: np.ndarray) -> list[Any]:
    """One ``Var`` per variable block; returns the Pyomo variable of each kept stacked position."""
    out: list[Any] = []
    for block in formulation.variables.values():
        kept = columns if block.name == "x" else np.arange(block.size)
        out.extend(_add_variable(model, block, kept))
    model.column = columns
    return out


def _add_variable(model: pyo.ConcreteModel, block: VariableBlock, kept: np.ndarray) -> list[Any]:
    index = pyo.RangeSet(0, len(kept) - 1)
    setattr(model, f"{block.name}_index", index)
    domain = pyo.NonNegativeIntegers if block.integer else pyo.NonNegativeReals
    upper = [None if np.isinf(u) else u for u in block.upper[kept].tolist()]
    if len(set(upper)) <= 1:   # one bound for all (shares: 1; GPU counts: none)
        var = pyo.Var(index, domain=domain, bounds=(0.0, upper[0] if upper else None), initialize=0.0)
    else:
        var = pyo.Var(index, domain=domain, bounds=lambda m, i: (0.0, upper[i]), initialize=0.0)
    setattr(model, block.name, var)
    return [var[i] for i in range(len(kept))]


def _row_expressions(block: RowBlock, positions: np.ndarray, variables: list[Any]) -> list[Any]:
    """Per row, ``sum coefficient * variable`` over the model's variables (exact zeros dropped)."""
    matrix = sp.csr_matrix(block.coefficients[:, positions])
    matrix.eliminate_zeros()
    out = []
    for r in range(block.size):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        coefs = matrix.data[lo:hi].tolist()
        terms = [variables[j] for j in matrix.indices[lo:hi].tolist()]
        out.append(linear(coefs, terms))
    return out


def linear(coefs: list[float], variables: list[Any]) -> Any:
    """``sum_i coefs[i] * variables[i]`` as one Pyomo linear expression."""
    return LinearExpression([MonomialTermExpression((c, v)) for c, v in zip(coefs, variables, strict=True)])


def add_rows(model: pyo.ConcreteModel, block: RowBlock, positions: np.ndarray, variables: list[Any],
             elastic: bool) -> None:
    """``<name>_index``, ``<name>_rhs`` (mutable), ``<name>_slack`` (elastic only) and ``<name>``."""
    index = pyo.RangeSet(0, block.size - 1)
    setattr(model, f"{block.name}_index", index)
    rhs = pyo.Param(index, mutable=True, initialize=dict(enumerate(block.rhs.tolist())))
    setattr(model, f"{block.name}_rhs", rhs)
    slack = None
    if elastic and block.relaxable:
        slack = pyo.Var(index, domain=pyo.NonNegativeReals, initialize=0.0)
        setattr(model, f"{block.name}_slack", slack)
    expressions = _row_expressions(block, positions, variables)

    def rule(m: pyo.ConcreteModel, r: int) -> object:
        expr = expressions[r]
        if block.sense == "=":
            return expr == rhs[r]
        if block.sense == "<=":
            return expr <= rhs[r] + (slack[r] if slack is not None else 0.0)
        return expr + (slack[r] if slack is not None else 0.0) >= rhs[r]

    setattr(model, block.name, pyo.Constraint(index, rule=rule))


def add_objective(model: pyo.ConcreteModel, objective: ObjectiveBlock, positions: np.ndarray,
                  variables: list[Any]) -> None:
    """``objective``: the block's coefficients over the model's variables."""
    coef = objective.coefficients[positions]
    nonzero = np.flatnonzero(coef).tolist()
    expr = linear([float(coef[j]) for j in nonzero], [variables[j] for j in nonzero])
    model.objective = pyo.Objective(expr=expr, sense=pyo.maximize if objective.maximize else pyo.minimize)


def add_diagnosis_objective(model: pyo.ConcreteModel, blocks: list[RowBlock]) -> None:
    """Minimize the relative violation ``sum_i slack_i / max(|rhs_i|, 1e-6)`` of every relaxed row."""
    terms = []
    for block in blocks:
        slack = getattr(model, f"{block.name}_slack", None)
        if slack is None:
            continue
        scale = np.maximum(np.abs(block.rhs), 1e-6)
        terms += [slack[i] / float(scale[i]) for i in range(block.size)]
    model.objective = pyo.Objective(expr=pyo.quicksum(terms), sense=pyo.minimize)


def build_pyomo_model(formulation: Formulation, columns: np.ndarray, *, elastic: bool = False,
                      duals: bool = True) -> pyo.ConcreteModel:
    """Variables, then every block's rows in order, then the objective (or the diagnosis objective).

    The cyclic garbage collector is paused while the many small expression
    objects are created (it would otherwise rescan them over and over).
    """
    with _gc_paused():
        return _build(formulation, columns, elastic, duals)


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(formulation: Formulation, columns: np.ndarray, elastic: bool, duals: bool) -> pyo.ConcreteModel:
    model = pyo.ConcreteModel(name="tpf_plan")
    variables = add_variables(model, formulation, columns)
    positions = _kept_positions(formulation, columns)
    for block in formulation.rows:
        add_rows(model, block, positions, variables, elastic)
    if elastic:
        add_diagnosis_objective(model, formulation.rows)
    else:
        add_objective(model, formulation.objective, positions, variables)
    if duals:
        model.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    return model
