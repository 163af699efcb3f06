"""Planner settings: objective, constraint switches and caps (units in the names)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tpf.errors import ConfigError

OBJECTIVES = ("max_accuracy", "min_it_energy", "min_facility_energy", "min_carbon")

#: Powered replicas: whole numbers (a MILP) or the fractional relaxation.
REPLICAS = ("integer", "relaxed")

#: Per objective: its unit (the unit of every shadow price's numerator).
OBJECTIVE_UNITS = {
    "max_accuracy": "accuracy_points",
    "min_it_energy": "kWh",
    "min_facility_energy": "kWh",
    "min_carbon": "kgCO2",
}


@dataclass(frozen=True)
class PlannerSettings:
    """What the planner optimizes and which constraints it enforces.

    A cap left at ``None`` switches its constraint off. Accuracy figures are
    fractions in [0, 1] (``accuracy_target`` = query-weighted mean accuracy;
    ``accuracy_floors`` maps a class name to its minimum mean accuracy over the
    horizon). ``facility_power`` enforces ``Facility.power_cap_w`` when that
    cap is set. ``gpu_capacity`` bounds each model's GPU-seconds per period by
    its fleet (``FleetEntry.gpus * period_s * utilization``) and charges the
    idle power of the GPUs powered on. ``integer_gpus`` makes the powered-on
    GPU counts integers (a MILP); ``gpu_cost`` is the objective's price of one
    powered-on GPU for one period, in the objective's unit. ``keep_fleet_on``
    powers every GPU of the fleet in every period (each pays its idle power).
    The embodied carbon of each fleet entry's hardware
    (``FleetEntry.embodied_kg_per_gpu_h``) is counted for every powered-on GPU
    and reported as ``embodied_kg``; with ``price_embodied`` the
    ``min_carbon`` objective minimizes it too.

    ``replicas`` (``integer``, the default, or ``relaxed``): the powered
    replicas per (model, operating point, period) are whole numbers (a MILP)
    or a labelled fractional relaxation for very large studies (its rounding
    gap is reported). ``batch_fill_min``: a replica planned at batch ``B``
    must hold at least this fraction of ``B`` requests on average (load per
    replica x window >= fill x B, Little's law), so the planned batch forms;
    the lowest operating point of a model has no such floor.
    """

    objective: str = "max_accuracy"
    accuracy_target: float | None = None
    it_energy_kwh_per_period: float | None = None
    it_energy_kwh_total: float | None = None
    it_power_w: float | None = None
    facility_power: bool = True
    carbon_budget_kg: float | None = None
    gpu_capacity: bool = True
    accuracy_floors: Mapping[str, float] = field(default_factory=dict)
    integer_gpus: bool = False
    gpu_cost: float = 0.0
    keep_fleet_on: bool = False
    prune_dominated: bool = True
    column_generation: str = "auto"
    price_embodied: bool = False
    replicas: str = "integer"
    batch_fill_min: float = 0.7

    def problems(self) -> list[str]:
        """Every invalid field, each with its name and allowed range."""
        out = []
        if self.objective not in OBJECTIVES:
            out.append(f"planner.objective: must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.objective != "max_accuracy" and self.accuracy_target is None:
            out.append(f"planner.accuracy_target: objective {self.objective!r} needs an "
                       "accuracy target in [0, 1], got none")
        if self.accuracy_target is not None and not 0 <= self.accuracy_target <= 1:
            out.append(f"planner.accuracy_target: must be in [0, 1], got {self.accuracy_target}")
        for name in ("it_energy_kwh_per_period", "it_energy_kwh_total", "it_power_w",
                     "carbon_budget_kg"):
            value = getattr(self, name)
            if value is not None and not (value >= 0 and math.isfinite(value)):
                out.append(f"planner.{name}: must be a finite number >= 0, got {value}")
        for cls, floor in self.accuracy_floors.items():
            if not 0 <= floor <= 1:
                out.append(f"planner.accuracy_floors[{cls!r}]: must be in [0, 1], got {floor}")
        if not self.gpu_cost >= 0:
            out.append(f"planner.gpu_cost: must be >= 0, got {self.gpu_cost}")
        if self.column_generation not in ("auto", "on", "off"):
            out.append("planner.column_generation: must be 'auto', 'on' or 'off', "
                       f"got {self.column_generation!r}")
        if self.replicas not in REPLICAS:
            out.append(f"planner.replicas: must be one of {REPLICAS}, got {self.replicas!r}")
        if not 0 <= self.batch_fill_min <= 1:
            out.append(f"planner.batch_fill_min: must be in [0, 1], got {self.batch_fill_min}")
        return out

    def validate(self) -> PlannerSettings:
        problems = self.problems()
        if problems:
            raise ConfigError(problems)
        return self

    def with_changes(self, **changes: Any) -> PlannerSettings:
        return replace(self, **changes)

    def without_caps(self) -> PlannerSettings:
        """The same settings with every cap, floor and target off (GPU capacity kept)."""
        return replace(self, accuracy_target=None, it_energy_kwh_per_period=None, it_energy_kwh_total=None,
                       it_power_w=None, facility_power=False, carbon_budget_kg=None, accuracy_floors={})
