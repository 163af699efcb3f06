"""The planner: option table, Pyomo model, HiGHS solve, shadow prices, diagnosis, baselines.

Typical use::

    options = build_options(workload, energy_cards, accuracy_card, {"zero_shot": True, "cot": [256]})
    result = plan(options, workload, facility, grid, fleet, PlannerSettings(accuracy_target=0.6))
    result.allocation, result.totals, result.shadow_prices, result.binding_constraints
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tpf.domain import Facility, Fleet, Grid, Workload
from tpf.plan.diagnose import Shortfall, diagnose
from tpf.plan.model import PlanModel, build_model
from tpf.plan.options import OptionTable, StrategySpec, build_options, dominated_mask
from tpf.plan.pareto import pareto_front
from tpf.plan.result import PlanResult
from tpf.plan.settings import OBJECTIVES, PlannerSettings
from tpf.plan.solve import solve


def plan(options: OptionTable | pd.DataFrame, workload: Workload, facility: Facility, grid: Grid,
         fleet: Fleet, settings: PlannerSettings | None = None, **solve_kwargs: Any) -> PlanResult:
    """``build_model`` then ``solve`` (keyword arguments go to :func:`solve`)."""
    return solve(build_model(options, workload, facility, grid, fleet, settings), **solve_kwargs)


__all__ = [
    "OBJECTIVES", "OptionTable", "PlanModel", "PlanResult", "PlannerSettings", "Shortfall",
    "StrategySpec", "build_model", "build_options", "diagnose", "dominated_mask", "pareto_front",
    "plan", "solve",
]
