"""The planner's building blocks: variable, row and objective blocks, as plain arrays.

A plan is a list of :class:`VariableBlock` (stacked into one variable
vector), a list of :class:`RowBlock` (one per named constraint family, each
holding its coefficients over that vector) and one :class:`ObjectiveBlock`.
``tpf.plan.define`` writes each of them once; ``tpf.plan.pyomo_model`` turns
them into Pyomo components and ``tpf.plan.lp`` stacks them into one sparse
matrix. Neither knows any constraint by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

SENSES = ("=", "<=", ">=")


@dataclass
class VariableBlock:
    """One family of decision variables: a Pyomo ``Var`` named ``name`` indexed 0..size-1.

    ``start`` is the position of its first variable in the stacked vector
    (set by :func:`stack`). Lower bounds are 0.
    """

    name: str
    size: int
    upper: np.ndarray
    integer: bool
    unit: str
    description: str = ""
    start: int = 0

    def positions(self) -> np.ndarray:
        return self.start + np.arange(self.size)


@dataclass
class RowBlock:
    """One named constraint family: ``coefficients @ v  <sense>  rhs``, row by row.

    ``coefficients`` is (size x number of stacked variables). ``unit`` is the
    row's unit; a shadow price in user units is the dual divided by
    ``per_unit`` (100 for accuracy fractions reported in points). ``phrase``
    names the row in an infeasibility diagnosis; a block without one (demand,
    GPU busy time) is never relaxed. ``setting`` is the ``PlannerSettings``
    field that switches the block on (empty when always on).
    """

    name: str
    labels: list[str]
    sense: str
    rhs: np.ndarray
    unit: str
    coefficients: sp.csr_matrix = field(repr=False, default_factory=lambda: sp.csr_matrix((0, 0)))
    phrase: str | None = None
    per_unit: float = 1.0
    setting: str = ""
    description: str = ""
    start: int = 0

    def __post_init__(self) -> None:
        if self.sense not in SENSES:
            raise ValueError(f"row block {self.name}: sense must be one of {SENSES}, got {self.sense!r}")
        self.rhs = np.asarray(self.rhs, float)
        if len(self.rhs) != len(self.labels):
            raise ValueError(f"row block {self.name}: {len(self.labels)} labels but {len(self.rhs)} rhs")

    @property
    def size(self) -> int:
        return len(self.labels)

    @property
    def relaxable(self) -> bool:
        return self.phrase is not None

    def row_names(self) -> list[str]:
        return [f"{self.name}[{label}]" if label != "" else self.name for label in self.labels]


@dataclass
class ObjectiveBlock:
    """``maximize`` or minimize ``coefficients @ v`` (user units: ``unit``)."""

    name: str
    coefficients: np.ndarray
    maximize: bool
    unit: str


def coefficients(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int,
                 n_vars: int) -> sp.csr_matrix:
    """A block's coefficient matrix from (row, variable, value) triplets (duplicates summed)."""
    return sp.csr_matrix((np.asarray(values, float), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
                         shape=(n_rows, n_vars))


def stack(variables: list[VariableBlock], rows: list[RowBlock]) -> None:
    """Number the variable blocks and row blocks in order (sets every ``start``)."""
    position = 0
    for variable in variables:
        variable.start, position = position, position + variable.size
    position = 0
    for block in rows:
        block.start, position = position, position + block.size
