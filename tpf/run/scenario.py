"""One run of a scenario, end to end: plan, (Pareto fronts), (simulate), policy, report.

Plain library code: it takes the typed :class:`tpf.config.TpfConfig` and a run
directory, and calls the planner, simulator and policy writer through
:class:`Steps`, a small table of functions (the real ones, :mod:`tpf.run.steps`,
by default); ``tpf.report`` only renders the :class:`~tpf.report.RunRecord`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tpf.config.build import LoadedCards, ScenarioInputs, build_inputs, card_source_label
from tpf.config.schema import PlannerConfig, TpfConfig
from tpf.cost.carbon import carbon_kg
from tpf.domain import J_PER_KWH, Facility, Fleet, Grid, Workload
from tpf.errors import ConfigError, InfeasiblePlanError
from tpf.plan.result import PlanResult
from tpf.report.record import CardInfo, RunRecord
from tpf.report.simulation import simulation_warnings, with_ttft
from tpf.report.writer import write_run
from tpf.simulate.workload import RequestBatch


@dataclass
class PlanOutcome:
    """The planner's answer: its result (None when infeasible, with ``diagnosis``) and the option table."""

    result: PlanResult | None
    options: pd.DataFrame
    options_note: str = ""
    per_period: pd.DataFrame | None = None
    diagnosis: str | None = None

    def solved(self) -> PlanResult:
        if self.result is None:
            raise InfeasiblePlanError(self.diagnosis or "no plan", [])
        return self.result


@dataclass
class SimOutcome:
    hourly: pd.DataFrame
    totals: dict[str, float]
    records: pd.DataFrame | None = None
    model_hourly: pd.DataFrame | None = None


@dataclass(frozen=True)
class Problem:
    """The domain objects of one scenario, shared by every step (no config, no Hydra)."""

    workload: Workload
    facility: Facility
    grid: Grid
    fleet: Fleet
    cards: LoadedCards

    @classmethod
    def of(cls, inputs: ScenarioInputs) -> Problem:
        return cls(inputs.workload, inputs.facility, inputs.grid, inputs.fleet, inputs.cards)

    def pue_per_period(self) -> list[float]:
        return [self.facility.pue_at(t) for t in range(self.workload.n_periods)]

    def intensity_per_period(self) -> list[float]:
        """Grid carbon intensity of each period (gCO2/kWh)."""
        return [self.grid.intensity_at(t) for t in range(self.workload.n_periods)]


@dataclass(frozen=True)
class PolicyRun:
    """The policy step's settings: the scenario's name and the hour of day of period 0."""

    scenario: str
    start_hour: int = 0


@dataclass(frozen=True)
class RequestPeriods:
    """Synthetic requests drawn period by period (:func:`tpf.simulate.workload.synthetic_request_periods`)."""

    periods: Callable[[], Iterator[RequestBatch]]


@dataclass(frozen=True)
class SimulationRun:
    """The simulation step's settings: its requests (whole, or drawn per period for the
    fluid engine), engine and batching limit."""

    requests: RequestBatch | RequestPeriods
    engine: str
    max_batch_size: int
    policy: PolicyRun
    batching: str = "continuous"


@dataclass(frozen=True)
class Steps:
    """The library calls a run makes, each with its own typed settings; tests may swap in fakes."""

    plan: Callable[[Problem, PlannerConfig, Path], PlanOutcome]
    pareto: Callable[[Problem, PlannerConfig, PlanOutcome, int], dict[str, pd.DataFrame]]
    simulate: Callable[[Problem, SimulationRun, PlanOutcome], SimOutcome]
    policy: Callable[[Problem, PolicyRun, PlanOutcome, Path], Path]


def default_steps() -> Steps:
    from tpf.run import steps

    return Steps(plan=steps.plan_step, pareto=steps.pareto_step,
                 simulate=steps.simulate_step, policy=steps.policy_step)


# --- the run ------------------------------------------------------------------


def card_infos(problem: Problem) -> list[CardInfo]:
    cards = problem.cards
    infos = [
        CardInfo("energy", model, card.hardware, card_source_label(card), card.method,
                 str(cards.energy_paths[model]), card.is_estimate)
        for model, card in cards.energy.items()
    ]
    acc_sources = sorted({c.source for c in cards.accuracy.curves}) or ["unknown"]
    infos.append(CardInfo("accuracy", ", ".join(sorted({c.model for c in cards.accuracy.curves})), "-",
                          "/".join(acc_sources), str(cards.accuracy.provenance.get("method", "fit")),
                          str(cards.accuracy_path), "estimate" in acc_sources))
    return infos


def hourly_plan(problem: Problem, outcome: PlanOutcome) -> pd.DataFrame:
    """Per period: queries, IT and facility energy and power, intensity, carbon.

    Taken from the planner's per-period table when it gives one, else from the
    allocation's dynamic energy (idle power then not included).
    """
    periods = np.arange(problem.workload.n_periods)
    intensity = np.array(problem.intensity_per_period())
    pue = np.array(problem.pue_per_period())
    period_h = problem.workload.period_s / 3600.0
    table = outcome.per_period
    if table is None or not len(table):
        alloc = outcome.solved().allocation
        it_kwh = (alloc["queries"] * alloc["energy_j"]).groupby(alloc["period"]).sum() / J_PER_KWH
        queries = alloc.groupby("period")["queries"].sum()
        table = pd.DataFrame({"period": periods, "queries": queries.reindex(periods, fill_value=0).to_numpy(),
                              "it_energy_kwh": it_kwh.reindex(periods, fill_value=0).to_numpy()})
    it_kwh_values = table["it_energy_kwh"].to_numpy(float)
    hourly = pd.DataFrame({
        "period": periods,
        "queries": table["queries"].to_numpy(float),
        "it_energy_kwh": it_kwh_values,
        "it_kw": it_kwh_values / period_h,
        "facility_kw": it_kwh_values * pue / period_h,
        "pue": pue,
        "carbon_g_per_kwh": intensity,
        "carbon_kg": carbon_kg(it_kwh_values, pue, intensity),
    })
    for column in ("idle_energy_kwh", "dynamic_energy_kwh"):
        if column in table:
            hourly[column] = table[column].to_numpy(float)
    result = outcome.result
    fleet = result.gpus_on if result is not None else None
    return hourly if fleet is None or fleet.empty else hourly.join(_fleet_columns(fleet, periods))


#: per (model, period) column of the plan's fleet table -> hourly_plan.csv column prefix
FLEET_COLUMNS = ("gpus_on", "gpus_off", "batch_size", "utilization", "idle_energy_kwh", "dynamic_energy_kwh",
                 "replicas", "load_per_replica_per_s", "ttft_p99_s", "e2e_p99_s")


def _fleet_columns(fleet: pd.DataFrame, periods: np.ndarray) -> pd.DataFrame:
    """One column per model and quantity: ``gpus_on_<model>``, ``batch_size_<model>``, ..."""
    wide = fleet.pivot(index="period", columns="model",
                       values=[c for c in FLEET_COLUMNS if c in fleet.columns]).reindex(periods)
    wide.columns = [f"{pair[0]}_{pair[1]}" for pair in wide.columns]
    return wide.reset_index(drop=True)


def fleet_summary(fleet: pd.DataFrame, pue: np.ndarray) -> dict[str, dict[str, float]]:
    """Per model: GPU-hours powered and unpowered, and the facility energy (kWh) keeping the
    unpowered GPUs on would add (their idle power)."""
    out = {}
    for model, rows in fleet.groupby("model"):
        rows = rows.sort_values("period")
        pue_rows = pue[rows["period"].to_numpy(np.int64)]
        out[str(model)] = {
            "gpu_h_powered": float(rows["gpus_on"].sum()),
            "gpu_h_unpowered": float(rows["gpus_off"].sum()),
            "idle_facility_kwh": float((rows["idle_energy_kwh"] * pue_rows).sum()),
            "dynamic_facility_kwh": float((rows["dynamic_energy_kwh"] * pue_rows).sum()),
            "keep_fleet_on_extra_facility_kwh": float((rows["unpowered_idle_kwh"] * pue_rows).sum()),
            **_replica_summary(rows),
        }
    return out


def _replica_summary(rows: pd.DataFrame) -> dict[str, float]:
    """Replica-hours powered (whole replicas), the most replicas in an hour, and the worst
    hour's planned p99 TTFT and end-to-end latency (s), where the plan models replicas."""
    if "replicas" not in rows:
        return {}
    worst = {name: rows[name].max() for name in ("ttft_p99_s", "e2e_p99_s")}
    return {"replica_h_powered": float(rows["replicas"].sum()), "replicas_max": float(rows["replicas"].max()),
            **{f"{name}_max": float(value) for name, value in worst.items()}}   # NaN/inf: null in JSON


def extrapolation_counts(options: pd.DataFrame, allocation: pd.DataFrame) -> dict[str, float]:
    """Options priced outside their energy card's fitted range, and the plan's queries on them."""
    if "extrapolated" not in options.columns or not len(options):
        return {}
    flagged = options.loc[options["extrapolated"].astype(bool), ["class_name", "option_id"]].drop_duplicates()
    total_queries = float(allocation["queries"].sum()) if len(allocation) else 0.0
    on_flagged = 0.0
    if len(flagged) and len(allocation):
        on_flagged = float(allocation.merge(flagged, on=["class_name", "option_id"])["queries"].sum())
    return {"options": float(len(flagged)), "options_total": float(len(options)),
            "queries": on_flagged, "query_share": on_flagged / total_queries if total_queries else 0.0}


def _extrapolation_note(counts: dict[str, float]) -> str:
    if not counts:
        return ""
    return (f"{counts['options']:.0f} of {counts['options_total']:.0f} options lie outside their energy "
            f"card's fitted range (extrapolated); the plan sends {counts['query_share']:.1%} of its "
            "queries to them.")


def report_baselines(table: pd.DataFrame) -> pd.DataFrame | None:
    """The planner's baselines as the report reads them (``name, accuracy, facility_energy_kwh, ...``)."""
    if table.empty:
        return None
    out = table.rename(columns={"baseline": "name"})
    if "meets_constraints" in out:
        out["feasible"] = out["meets_constraints"].astype(bool)
        out["note"] = out["violations"].where(~out["feasible"], "").fillna("") if "violations" in out else ""
    return out


def _record(config: TpfConfig, command: str, scenario: str, problem: Problem,
            outcome: PlanOutcome) -> RunRecord:
    record = RunRecord(
        command=command, scenario=scenario, title=config.scenario_title,
        description=config.scenario_description, status="infeasible", objective=None,
        objective_name=config.planner.objective, totals={}, shadow_prices={}, binding_constraints=[],
        allocation=pd.DataFrame(), hourly_plan=pd.DataFrame(), power_cap_kw=config.facility.power_cap_kw,
        cards=card_infos(problem), options_note=outcome.options_note, diagnosis=outcome.diagnosis,
        options=outcome.options, grid_source=problem.grid.source,
        latency_slo_s=config.planner.latency_slo_s, ttft_p99_slo_s=config.planner.ttft_p99_slo_s,
    )
    if outcome.diagnosis is None:
        result = outcome.solved()
        record.status = str(result.status)
        record.objective = float(result.objective)
        record.totals = {str(k): float(v) for k, v in result.totals.items()}
        record.shadow_prices = {
            str(k): float(v) for k, v in result.shadow_prices.items() if abs(float(v)) > 1e-12
        }
        record.binding_constraints = [str(b) for b in result.binding_constraints]
        record.shadow_price_units = dict(result.shadow_price_units)
        record.objective_unit = result.objective_unit
        record.allocation = result.allocation
        record.hourly_plan = hourly_plan(problem, outcome)
        if not result.gpus_on.empty:
            record.fleet = fleet_summary(result.gpus_on, np.array(problem.pue_per_period()))
        record.baselines = report_baselines(result.baselines)
        record.savings = result.savings() if not result.baselines.empty else {}
        record.extrapolated = extrapolation_counts(outcome.options, result.allocation)
        record.options_note = " ".join(t for t in (record.options_note, _extrapolation_note(record.extrapolated)) if t)
    return record


def run_scenario(config: TpfConfig, command: str, scenario: str, run_dir: Path,
                 steps: Steps | None = None) -> dict[str, Any]:
    """Plan (and for ``command == "simulate"`` simulate) one scenario; write its files.

    Returns the summary (the content of summary.json). An infeasible plan
    writes its report and summary, then raises :class:`InfeasiblePlanError`.
    """
    steps = steps or default_steps()
    inputs = build_inputs(config)
    problem = Problem.of(inputs)
    # the requests first: a workload too large to simulate is refused before the solve
    requests = scenario_requests(config, inputs) if command == "simulate" else None
    outcome = steps.plan(problem, config.planner, run_dir)
    record = _record(config, command, scenario, problem, outcome)
    if outcome.diagnosis is not None:
        write_run(run_dir, record, inputs.cards, draw=False)
        raise InfeasiblePlanError(outcome.diagnosis, outcome.diagnosis)
    if config.report.pareto_points > 0:
        record.fronts = steps.pareto(problem, config.planner, outcome, config.report.pareto_points)
    policy_run = PolicyRun(scenario, config.workload.start_hour)
    if requests is not None:
        # 0: the card's max_batch_size and the KV cache bound the batch, never the plan's batch
        simulation = SimulationRun(requests, config.simulate.engine, 0, policy_run, config.simulate.batching)
        simulated = steps.simulate(problem, simulation, outcome)
        record.simulation_hourly, record.simulation_totals = simulated.hourly, simulated.totals
        record.simulation_records = with_ttft(simulated.records, problem.cards.energy)
        record.simulation_model_hourly = simulated.model_hourly
        record.warnings = simulation_warnings(record)
    record.policy_path = str(steps.policy(problem, policy_run, outcome, run_dir / "policy.json"))
    write_run(run_dir, record, inputs.cards, draw=config.report.figures, dpi=config.report.dpi)
    return record.summary()


def scenario_requests(config: TpfConfig, inputs: ScenarioInputs) -> RequestBatch | RequestPeriods:
    """The requests to simulate: the replayed trace, or synthetic arrivals of the workload.

    The fluid engine draws synthetic arrivals period by period, so
    ``simulate.max_queries`` bounds the busiest period; the event engine holds
    every request, so it bounds the whole workload.
    """
    from tpf.simulate.workload import synthetic_request_periods, synthetic_requests

    workload, sim = config.workload, config.simulate
    if "requests" in inputs.extras:  # the replayed trace (tpf.config.trace)
        return inputs.extras["requests"]
    per_period = [sum(c.rate_at(t) for c in inputs.workload.classes) * workload.period_s
                  for t in range(workload.n_periods)]
    burst_cv = sim.burst_cv if sim.arrivals == "bursty" else 0.0
    if sim.engine == "fluid":
        busiest = max(per_period, default=0.0)
        if busiest > sim.max_queries:
            raise ConfigError(
                f"simulate.max_queries: the workload has about {busiest:.3g} queries in its busiest period, "
                f"more than {sim.max_queries} (the fluid engine holds one period at a time); raise "
                "simulate.max_queries or shorten workload.period_s")
        return RequestPeriods(lambda: synthetic_request_periods(inputs.workload, seed=sim.seed, burst_cv=burst_cv,
                                                                length_cv=sim.length_cv))
    expected = sum(per_period)
    if expected > sim.max_queries:
        raise ConfigError(
            f"simulate.max_queries: the workload has about {expected:.3g} queries, more than "
            f"{sim.max_queries} (the event engine holds them all); raise simulate.max_queries, "
            "shorten the workload or use simulate.engine=fluid")
    return synthetic_requests(inputs.workload, seed=sim.seed, burst_cv=burst_cv, length_cv=sim.length_cv)
