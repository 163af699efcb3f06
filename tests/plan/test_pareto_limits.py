"""The Pareto sweeps solve under the planner's time limit and MIP gap."""

from __future__ import annotations

import pytest

import tpf.plan.pareto as pareto
from tests.plan.conftest import fleet_of
from tpf.domain import Facility, Grid
from tpf.plan import PlannerSettings

GRID = Grid((500.0,))


@pytest.fixture
def recorded(monkeypatch):
    """The limits every solver and every one-off solve of a sweep was given."""
    seen: list[tuple[float | None, float | None]] = []
    make_solver, solve = pareto.make_solver, pareto.solve

    def recording_solver(solver, *, time_limit_s, mip_gap, **kwargs):
        seen.append((time_limit_s, mip_gap))
        return make_solver(solver, time_limit_s=time_limit_s, mip_gap=mip_gap, **kwargs)

    def recording_solve(plan_model, **kwargs):
        seen.append((kwargs.get("time_limit_s"), kwargs.get("mip_gap")))
        return solve(plan_model, **kwargs)

    monkeypatch.setattr(pareto, "make_solver", recording_solver)
    monkeypatch.setattr(pareto, "solve", recording_solve)
    return seen


def test_pareto_front_passes_the_limits(recorded, micro_options, micro_workload):
    front = pareto.pareto_front(micro_options, micro_workload, Facility((1.0,)), GRID,
                                fleet_of({"small": 10, "big": 10}), PlannerSettings(integer_gpus=True),
                                n_points=3, time_limit_s=7.5, mip_gap=0.02)
    assert recorded == [(7.5, 0.02)] * 4     # three one-off solves, then the sweep's solver
    assert front["proven_optimal"].tolist() == [True] * 3


def test_accuracy_front_passes_the_limits(recorded, micro_options, micro_workload):
    front = pareto.accuracy_front(micro_options, micro_workload, Facility((1.0,)), GRID,
                                  fleet_of({"small": 10, "big": 10}), PlannerSettings(integer_gpus=True),
                                  objective="min_it_energy", targets=[0.6, 0.7],
                                  time_limit_s=3.0, mip_gap=0.001)
    assert recorded == [(3.0, 0.001)]
    assert front["proven_optimal"].tolist() == [True, True]
    assert front["accuracy"].tolist() == pytest.approx([0.6, 0.7], abs=1e-6)


def test_the_report_counts_front_points_not_proven_optimal():
    import pandas as pd

    from tpf.report.writer import _unproven

    fronts = {"energy": pd.DataFrame({"proven_optimal": [True, False]}),
              "carbon": pd.DataFrame({"proven_optimal": [False, False]})}
    assert _unproven(fronts) == " (3 points not proven optimal: stopped at planner.time_limit_s)"
    assert _unproven({"energy": pd.DataFrame({"proven_optimal": [True]})}) == ""
