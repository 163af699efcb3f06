"""``PlanResult``: what a solved plan hands to the simulator, the policy and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class PlanResult:
    """A solved plan.

    ``objective`` is in ``objective_unit`` (accuracy points for max_accuracy,
    kWh or kgCO2 otherwise). ``shadow_prices`` maps every named constraint row
    (``facility_power_cap[14]``, ``accuracy_target``) to the objective's improvement
    per unit the row is loosened, in ``objective_unit`` per ``shadow_price_units``
    (e.g. accuracy points per kWh, per kW, per kgCO2); demand rows are in
    ``demand_duals`` instead. ``binding_constraints`` lists the tight rows with a
    non-zero shadow price, largest first.
    """

    status: str
    objective: float
    objective_name: str
    objective_unit: str
    allocation: pd.DataFrame
    totals: dict[str, float]
    shadow_prices: dict[str, float]
    shadow_price_units: dict[str, str]
    binding_constraints: list[str]
    tight_constraints: list[str] = field(default_factory=list)
    demand_duals: pd.DataFrame = field(default_factory=pd.DataFrame)
    gpus_on: pd.DataFrame = field(default_factory=pd.DataFrame)
    per_period: pd.DataFrame = field(default_factory=pd.DataFrame)
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_info: dict[str, Any] = field(default_factory=dict)
    solver_info: dict[str, Any] = field(default_factory=dict)
    shares: np.ndarray | None = None      # per data column, for re-evaluation
    replicas: pd.DataFrame = field(default_factory=pd.DataFrame)  # per (model, batch_size, period)

    def savings(self) -> dict[str, dict[str, float]]:
        """Per baseline: energy and carbon saved by the plan (only where the plan is as accurate
        and the baseline meets the plan's constraints)."""
        out: dict[str, dict[str, float]] = {}
        for row in self.baselines.to_dict(orient="records"):
            same_accuracy = str(row["baseline"]).startswith("cheapest single configuration")
            if (bool(row["plan_at_least_as_accurate"]) or same_accuracy) and bool(row.get("meets_constraints", True)):
                out[str(row["baseline"])] = {
                    "it_energy_kwh": float(row["it_energy_saving_kwh"]),
                    "it_energy_pct": float(row["it_energy_saving_pct"]),
                    "carbon_kg": float(row["carbon_saving_kg"]),
                }
        return out
