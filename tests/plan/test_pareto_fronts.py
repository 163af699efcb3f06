"""Several accuracy fronts at once: side by side in processes, a proportional carbon front reused."""

from __future__ import annotations

import pandas as pd
import pytest

import tpf.plan.pareto as pareto
from tests.plan.conftest import fleet_of
from tpf.domain import Facility, Grid
from tpf.plan import PlannerSettings

OBJECTIVES = {"energy": "min_facility_energy", "carbon": "min_carbon"}
COLUMNS = ["accuracy", "facility_energy_kwh", "carbon_kg"]


def fronts(options, workload, grid, settings, workers):
    return pareto.accuracy_fronts(options, workload, Facility((1.2,)), grid, fleet_of({"small": 10, "big": 10}),
                                  settings, objectives=OBJECTIVES, targets=[0.6, 0.7, 0.75], workers=workers)


def test_the_carbon_front_reuses_the_energy_front_only_where_the_objectives_are_proportional(
        micro_options, micro_workload, monkeypatch):
    calls: list[str] = []
    front = pareto.accuracy_front

    def counted(*args, objective, **kwargs):
        calls.append(objective)
        return front(*args, objective=objective, **kwargs)

    monkeypatch.setattr(pareto, "accuracy_front", counted)
    exact = PlannerSettings(gpu_cost=0.0)
    assert pareto.proportional_objectives(Grid((400.0,)), 1, exact)
    reused = fronts(micro_options, micro_workload, Grid((400.0,)), exact, workers=1)
    assert calls == ["min_facility_energy"] and reused["carbon"].attrs["solved_as"] == "min_facility_energy"
    # a GPU cost, or embodied carbon priced, makes them differ: both are solved
    for settings in (PlannerSettings(gpu_cost=1e-4), PlannerSettings(gpu_cost=0.0, price_embodied=True)):
        calls.clear()
        assert not pareto.proportional_objectives(Grid((400.0,)), 1, settings)
        solved = fronts(micro_options, micro_workload, Grid((400.0,)), settings, workers=1)
        assert calls == ["min_facility_energy", "min_carbon"] and "solved_as" not in solved["carbon"].attrs
    # the reused front is the one a solve of min_carbon gives
    direct = front(micro_options, micro_workload, Facility((1.2,)), Grid((400.0,)),
                   fleet_of({"small": 10, "big": 10}), exact, objective="min_carbon", targets=[0.6, 0.7, 0.75])
    pd.testing.assert_frame_equal(reused["carbon"][COLUMNS], direct[COLUMNS], rtol=1e-6)


def test_fronts_solved_in_processes_equal_those_solved_one_after_the_other(micro_options, micro_workload):
    settings = PlannerSettings(integer_gpus=True)
    grid = Grid((400.0,))
    serial = fronts(micro_options, micro_workload, grid, settings, workers=1)
    parallel = fronts(micro_options, micro_workload, grid, settings, workers=2)
    assert list(parallel) == ["energy", "carbon"]
    for name in OBJECTIVES:
        assert len(serial[name]) == 3
        pd.testing.assert_frame_equal(serial[name][COLUMNS], parallel[name][COLUMNS])
    assert serial["energy"]["accuracy"].tolist() == pytest.approx([0.6, 0.7, 0.75], abs=1e-6)
