"""Titles and descriptions that say what a run actually planned.

A scenario's title and description are written for the scenario as it
stands; a run with overrides (``hardware=h100 workload.total_rate_per_s=1``)
plans something else. :func:`describe_run` appends the overrides applied
and a setting line computed from the composed config, so the report and
summary never carry figures the run did not use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tpf.config.schema import TpfConfig

#: Overrides that select what the run is rather than change it.
NOT_STATED = ("hydra.", "hydra/", "scenario=")


def applied_overrides(overrides: Sequence[str]) -> list[str]:
    """The command-line overrides that change the scenario (Hydra's own and the scenario choice left out)."""
    return [o for o in overrides if not o.lstrip("+~").startswith(NOT_STATED)]


def _fleet_text(config: TpfConfig) -> str:
    entries = [f"{e.gpus} x {e.model}" for e in config.fleet.entries]
    return f"{' + '.join(entries)} on {config.hardware.name}"


def _demand_text(config: TpfConfig) -> str:
    workload = config.workload
    if workload.trace.path:
        return f"requests replayed from {workload.trace.path}"
    if workload.classes and all(c.rate_per_s is not None for c in workload.classes):
        return f"{len(workload.classes)} classes at their own rates"
    return f"{workload.total_rate_per_s:g} queries/s on average"


def setting_text(config: TpfConfig) -> str:
    """One sentence of the run's fleet, demand, facility, grid and objective."""
    facility = config.facility
    cap = "none" if facility.power_cap_kw is None else f"{facility.power_cap_kw:g} kW"
    pue = "hourly" if facility.hourly_pue else f"{facility.pue:g}"
    planner = config.planner
    objective = planner.objective + (
        "" if planner.accuracy_target is None else f" at accuracy >= {planner.accuracy_target:g}"
    )
    idle = "" if config.hardware.idle_power_w is None else f", idle power {config.hardware.idle_power_w:g} W per GPU"
    return (
        f"{_fleet_text(config)}{idle}; {_demand_text(config)} over {config.workload.n_periods} periods "
        f"of {config.workload.period_s:g} s; PUE {pue}, facility cap {cap}; grid {config.grid.name} "
        f"(x{config.grid.scale:g}); objective {objective}"
    )


def describe_run(config: TpfConfig, overrides: Sequence[str]) -> TpfConfig:
    """The config with its title and description stating the overrides and the setting."""
    stated = applied_overrides(overrides)
    title, description = config.scenario_title, config.scenario_description.strip()
    if stated:
        title = f"{title} (overrides: {', '.join(stated)})"
        description += (
            f" This run overrides the scenario with {', '.join(stated)}; where the text above "
            "disagrees, the setting below is what was planned."
        )
    description = f"{description} Setting: {setting_text(config)}.".strip()
    return dataclasses.replace(config, scenario_title=title, scenario_description=description)
