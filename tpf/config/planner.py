"""The planner's settings from the ``planner`` group: each cap on when set, off when null."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from tpf.config.schema import PlannerConfig

if TYPE_CHECKING:
    from tpf.plan.settings import PlannerSettings

W_PER_KW = 1000.0


def planner_settings(planner: PlannerConfig) -> PlannerSettings:
    """The planner's settings (kW -> W here, once). The facility power cap is the
    facility's (``facility.power_cap_kw``, null: none), so it is always enforced when set."""
    from tpf.plan.settings import PlannerSettings

    # a planner key named like a setting passes through as is (objective, accuracy_target, the
    # caps named in their setting's unit, gpu_capacity, integer_gpus, ...); the others are converted here
    same = {f.name for f in fields(PlannerSettings)} & {f.name for f in fields(PlannerConfig)}
    passed: dict[str, Any] = {name: getattr(planner, name) for name in sorted(same)}
    return PlannerSettings(
        **passed,
        it_energy_kwh_per_period=planner.it_energy_period_kwh,
        it_energy_kwh_total=planner.it_energy_horizon_kwh,
        it_power_w=None if planner.it_power_kw is None else planner.it_power_kw * W_PER_KW,
        facility_power=True,
        gpu_cost=planner.gpu_weight,
    ).with_changes(accuracy_floors=dict(planner.accuracy_floors)).validate()
