"""What a run produced, as plain tables: the single input of the report writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

PLAN_COLUMNS = (
    "class_name", "period", "model", "strategy", "budget_tokens", "votes", "share", "queries",
    "arrival_period", "batch_size", "replicas", "gpus_on", "load_per_replica_per_s", "batch_formed",
    "ttft_p99_s", "e2e_p99_s",
)


#: Plan totals of a plan whose classes a text estimator reads (tpf.estimator.planning).
MISROUTING_PREFIXES = ("misrouting_", "known_class_", "delivered_")


@dataclass(frozen=True)
class CardInfo:
    """One card a run used, and where its numbers come from."""

    kind: str
    model: str
    hardware: str
    source: str
    method: str
    path: str
    is_estimate: bool


@dataclass
class RunRecord:
    """Everything the report, summary.json and plan.csv are written from.

    ``hourly_plan`` has one row per period: ``period, queries, it_energy_kwh,
    it_kw, facility_kw, carbon_g_per_kwh, carbon_kg``. ``totals`` holds the
    plan's totals (PlanResult contract). ``fronts`` maps ``energy``/``carbon``
    to Pareto tables; ``baselines`` has ``name, accuracy, facility_energy_kwh,
    carbon_kg``; ``savings`` the plan's energy and carbon saved against each
    baseline it is at least as accurate as. ``simulation`` holds the
    simulator's hourly table and totals; ``simulation_records`` its per-request
    records where the run kept them (``ttft_s`` added where the cards have a
    duration curve). ``latency_slo_s`` / ``ttft_p99_slo_s``: the planner's SLOs
    (None: unset). ``warnings``: what the report and the one-line summary flag.
    """

    command: str
    scenario: str
    title: str
    description: str
    status: str
    objective: float | None
    objective_name: str
    totals: dict[str, float]
    shadow_prices: dict[str, float]
    binding_constraints: list[str]
    allocation: pd.DataFrame
    hourly_plan: pd.DataFrame
    power_cap_kw: float | None
    cards: list[CardInfo]
    baselines: pd.DataFrame | None = None
    shadow_price_units: dict[str, str] = field(default_factory=dict)
    objective_unit: str = ""
    fronts: dict[str, pd.DataFrame] = field(default_factory=dict)
    options_note: str = ""
    grid_source: str = ""
    extrapolated: dict[str, float] = field(default_factory=dict)
    diagnosis: str | None = None
    simulation_hourly: pd.DataFrame | None = None
    simulation_totals: dict[str, float] = field(default_factory=dict)
    simulation_model_hourly: pd.DataFrame | None = None  # tpf.report.fidelity.plan_vs_simulation
    policy_path: str | None = None
    savings: dict[str, dict[str, float]] = field(default_factory=dict)
    options: pd.DataFrame | None = None
    fleet: dict[str, dict[str, float]] = field(default_factory=dict)
    simulation_records: pd.DataFrame | None = None
    latency_slo_s: float | None = None
    ttft_p99_slo_s: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return self.diagnosis is None and self.status in ("optimal", "feasible")

    def plan_figures(self) -> dict[str, Any]:
        """The plan's headline figures (the ``plan`` section of summary.json)."""
        out: dict[str, Any] = {key: self.totals.get(key) for key in PLAN_FIGURES}
        if self.fleet:
            out["fleet"] = {model: dict(values) for model, values in self.fleet.items()}
        return out

    def simulation_figures(self) -> dict[str, Any]:
        """The simulation's totals and, per quantity, its difference to the plan (%)."""
        out: dict[str, Any] = dict(self.simulation_totals)
        out["vs_plan_pct"] = {
            plan_key: 100.0 * (float(self.simulation_totals[sim_key]) / float(self.totals[plan_key]) - 1.0)
            for plan_key, sim_key in SIMULATED_AS.items()
            if sim_key in self.simulation_totals and self.totals.get(plan_key)
        }
        return out

    def summary(self) -> dict[str, Any]:
        """The content of summary.json: the headline figures (the simulation's when the run
        simulated), a ``plan`` section, and a ``simulation`` section when there is one."""
        headline = {key: self.totals.get(key) for key in PLAN_FIGURES}
        if self.simulation_totals:
            headline.update({plan_key: self.simulation_totals.get(sim_key, headline[plan_key])
                             for plan_key, sim_key in SIMULATED_AS.items()})
        data: dict[str, Any] = {
            "status": self.status,
            "objective": self.objective,
            "objective_name": self.objective_name,
            "figures_from": "simulation" if self.simulation_totals else "plan",
            **headline,
            "binding_constraints": list(self.binding_constraints),
            "shadow_prices": dict(self.shadow_prices),
            "command": self.command,
            "scenario": self.scenario,
            "title": self.title,
            "description": self.description,
            "cards": [
                {"kind": c.kind, "model": c.model, "hardware": c.hardware, "source": c.source,
                 "method": c.method, "path": c.path, "estimate": c.is_estimate}
                for c in self.cards
            ],
            "plan": self.plan_figures(),
        }
        if self.extrapolated:
            data["extrapolated_options"] = int(self.extrapolated["options"])
            data["extrapolated_query_share"] = self.extrapolated["query_share"]
        if self.diagnosis is not None:
            data["diagnosis"] = self.diagnosis
        if self.savings:
            data["savings"] = {name: dict(values) for name, values in self.savings.items()}
        if self.simulation_totals:
            data["simulation"] = self.simulation_figures()
        if self.warnings:
            data["warnings"] = list(self.warnings)
        misrouting = {k: v for k, v in self.totals.items() if k.startswith(MISROUTING_PREFIXES)}
        if misrouting:  # classes read by a text estimator (planner.estimator)
            data["misrouting"] = misrouting
        return data


#: The headline figures of a run, as the plan names them.
PLAN_FIGURES = ("accuracy", "it_energy_kwh", "facility_energy_kwh", "carbon_kg", "embodied_kg",
                "peak_facility_kw", "queries")
#: Plan figure -> the simulation total that measures the same quantity.
SIMULATED_AS = {"accuracy": "expected_accuracy", "it_energy_kwh": "it_energy_kwh",
                "facility_energy_kwh": "facility_energy_kwh", "carbon_kg": "carbon_kg",
                "peak_facility_kw": "peak_facility_kw", "queries": "served_queries"}
