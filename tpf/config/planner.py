"""The planner's settings from the ``planner`` group: each cap on when set, off when null."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpf.config.schema import PlannerConfig

if TYPE_CHECKING:
    from tpf.plan.settings import PlannerSettings

W_PER_KW = 1000.0


def planner_settings(planner: PlannerConfig) -> PlannerSettings:
    """The planner's settings (kW -> W here, once). The facility power cap is the
    facility's (``facility.power_cap_kw``, null: none), so it is always enforced when set."""
    from tpf.plan.settings import PlannerSettings

    return PlannerSettings(
        objective=planner.objective,
        accuracy_target=planner.accuracy_target,
        it_energy_kwh_per_period=planner.it_energy_period_kwh,
        it_energy_kwh_total=planner.it_energy_horizon_kwh,
        it_power_w=None if planner.it_power_kw is None else planner.it_power_kw * W_PER_KW,
        facility_power=True,
        carbon_budget_kg=planner.carbon_budget_kg,
        gpu_capacity=planner.gpu_capacity,
        accuracy_floors=dict(planner.accuracy_floors),
        integer_gpus=planner.integer_gpus,
        gpu_cost=planner.gpu_weight,
    ).validate()
