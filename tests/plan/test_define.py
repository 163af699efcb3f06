"""A new constraint is one ``define_*`` function and one setting: the Pyomo model, the matrix
form, column generation, the diagnosis and the shadow prices all pick it up.

The toy constraint caps the queries served by the ``big`` model over the
horizon. Micro plan (see test_micro): with at most 1800 queries on big, half
of class A is upgraded (A gains 0.4 per upgraded query, B only 0.1):
65 points; one more query on big is worth 0.4 / 7200 * 100 points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.plan.conftest import option_rows
from tpf.domain import Facility, Fleet, Grid
from tpf.errors import InfeasiblePlanError
from tpf.plan import PlannerSettings, build_model, diagnose, solve
from tpf.plan.blocks import RowBlock, coefficients
from tpf.plan.define import CONSTRAINTS, Variables, define_problem
from tpf.plan.highs_direct import solve_lp
from tpf.plan.lp import build_lp

# --- the whole addition: one setting, one function ------------------------------------------


@dataclass(frozen=True)
class ToySettings(PlannerSettings):
    big_queries_max: float | None = None   # queries on model "big" over the horizon; None = off


def define_big_queries(data, var: Variables) -> RowBlock | None:
    """big_queries: ``sum_{k on big} D_k x_k <= Q_max`` (queries)."""
    if data.settings.big_queries_max is None:
        return None
    on_big = np.flatnonzero(data.col_model == data.model_names.index("big"))
    matrix = coefficients(np.zeros(len(on_big)), var["x"].positions()[on_big], data.col_queries[on_big],
                          1, var.count)
    return RowBlock("big_queries", [""], "<=", [data.settings.big_queries_max], "query", matrix,
                    phrase="queries on big", setting="big_queries_max")


# --- its checks ------------------------------------------------------------------------------

WITH_TOY = (*CONSTRAINTS, define_big_queries)
FACILITY, GRID, NO_FLEET = Facility((1.0,)), Grid((500.0,)), Fleet(())


def toy_model(options, workload, column_generation="off", **settings):
    return build_model(options, workload, FACILITY, GRID, NO_FLEET,
                       ToySettings(column_generation=column_generation, **settings), constraints=WITH_TOY)


@pytest.mark.parametrize("column_generation", ["off", "on"])
def test_toy_constraint_binds_with_hand_computed_optimum_and_price(micro_options, micro_workload,
                                                                   column_generation):
    result = solve(toy_model(micro_options, micro_workload, column_generation, big_queries_max=1800.0))
    assert result.objective == pytest.approx(65.0, abs=1e-7)
    assert result.binding_constraints == ["big_queries"]
    assert result.shadow_prices["big_queries"] == pytest.approx(0.4 / 7200 * 100, rel=1e-7)
    assert result.shadow_price_units["big_queries"] == "query"


def test_toy_constraint_is_in_the_matrix_form_with_the_same_optimum(micro_options, micro_workload):
    model = toy_model(micro_options, micro_workload, big_queries_max=1800.0)
    lp = build_lp(model.data, define_problem(model.data))
    assert [b.name for b in lp.blocks][-1] == "big_queries"
    assert solve_lp(lp).objective == pytest.approx(65.0, abs=1e-7)


def test_toy_constraint_is_diagnosed_in_its_own_words(micro_workload):
    # class A can only go to big (3600 queries): a cap of 1800 on big is 1800 queries short
    options = option_rows({"A": [("big", "big", 0.9, 300.0, 3.0)],
                           "B": [("small", "small", 0.6, 100.0, 1.0), ("big", "big", 0.7, 300.0, 3.0)]})
    model = toy_model(options, micro_workload, big_queries_max=1800.0)
    with pytest.raises(InfeasiblePlanError, match="queries on big short by 1800 query"):
        solve(model)
    for engine in ("direct", "column_generation", "pyomo"):
        (shortfall,) = diagnose(model, engine=engine)
        assert (shortfall.constraint, shortfall.unit) == ("big_queries", "query")
        assert shortfall.shortfall == pytest.approx(1800.0, rel=1e-6)


def test_toy_constraint_off_when_its_setting_is_none(micro_options, micro_workload):
    model = toy_model(micro_options, micro_workload)
    assert "big_queries" not in [b.name for b in model.blocks]
    assert solve(model).objective == pytest.approx(80.0, abs=1e-9)


def test_pyomo_rows_and_objective_are_the_matrix_forms_exactly():
    """Every row (every constraint on) and the objective of the Pyomo model carry the
    matrix form's coefficients: both are built from the same blocks."""
    from pyomo.repn import generate_standard_repn

    from tests.plan.conftest import fleet_of
    from tests.plan.test_properties import random_instance

    options, workload, grid = random_instance(5, 3, 4, 3)
    settings = PlannerSettings(objective="min_carbon", accuracy_target=0.5, it_energy_kwh_per_period=1.0,
                               it_energy_kwh_total=3.0, it_power_w=900.0, carbon_budget_kg=5.0,
                               accuracy_floors={"c0": 0.3}, prune_dominated=False, column_generation="off")
    model = build_model(options, workload, Facility((1.3,), power_cap_w=2000.0), grid,
                        fleet_of({"m0": 3, "m1": 2}), settings)
    lp = model.linear_program()
    position = {id(v): v_index for v_index, v in enumerate(
        [*model.model.x.values(), *model.model.gpus_on.values(), *model.model.replicas.values()])}
    assert len(model.blocks) == 13   # with replica_capacity, batch_forms and replica_gpus
    for block in model.blocks:
        component = getattr(model.model, block.name)
        for row in range(block.size):
            repn = generate_standard_repn(component[row].body)
            got = np.zeros(lp.matrix.shape[1])
            got[[position[id(v)] for v in repn.linear_vars]] = repn.linear_coefs
            assert np.array_equal(got, lp.matrix[block.start + row].toarray().ravel()), block.row_names()[row]
    repn = generate_standard_repn(model.model.objective.expr)
    got = np.zeros(lp.matrix.shape[1])
    got[[position[id(v)] for v in repn.linear_vars]] = repn.linear_coefs
    assert np.array_equal(got, lp.cost)
