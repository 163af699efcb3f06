"""The real steps of a run: the planner, the simulator and the policy writer.

Each function adapts typed scenario inputs to one library's API and returns
plain tables; :mod:`tpf.report.pipeline` calls them through ``Steps``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tpf.cards import card_sha256
from tpf.config.build import ScenarioInputs, card_source_label
from tpf.config.planner import planner_settings
from tpf.config.schema import PlannerConfig
from tpf.errors import ConfigError, InfeasiblePlanError
from tpf.report.pipeline import PlanOutcome, SimOutcome


def strategy_spec(planner: PlannerConfig):  # -> tpf.plan.options.StrategySpec
    from tpf.plan.options import StrategySpec

    chosen = set(planner.strategies)
    return StrategySpec(
        zero_shot="zero_shot" in chosen,
        cot_budgets_tokens=tuple(planner.cot_budgets_tokens) if "cot" in chosen else (),
        mv_votes=tuple(planner.mv_votes) if "mv" in chosen else (),
    )


def _build(inputs: ScenarioInputs, settings=None):
    from tpf.plan.model import build_model
    from tpf.plan.options import build_options

    planner = inputs.config.planner
    options = build_options(
        inputs.workload, inputs.cards.energy, inputs.cards.accuracy, strategy_spec(planner),
        latency_slo_s=planner.latency_slo_s, batch_size=planner.batch_size,
    )
    model = build_model(options.table, inputs.workload, inputs.facility, inputs.grid, inputs.fleet,
                        settings or planner_settings(planner))
    return options, model


def _baselines(table: pd.DataFrame, pue: list[float]) -> pd.DataFrame:
    """The planner's baselines as ``name, accuracy, facility_energy_kwh, carbon_kg, ...``."""
    if table is None or table.empty:
        return pd.DataFrame()
    out = table.rename(columns={"baseline": "name"}).copy()
    if "facility_energy_kwh" not in out and "it_energy_kwh" in out:
        out["facility_energy_kwh"] = out["it_energy_kwh"] * float(np.mean(pue))
    return out


def plan_step(inputs: ScenarioInputs, run_dir: Path) -> PlanOutcome:
    """Build the options and the model, solve; an infeasible plan carries its diagnosis."""
    from tpf.plan.solve import solve

    planner = inputs.config.planner
    options, model = _build(inputs)
    write_lp = str(run_dir / "model.lp") if planner.write_lp else None
    try:
        result = solve(model, solver=planner.solver, time_limit_s=planner.time_limit_s,
                       mip_gap=planner.mip_gap if planner.integer_gpus else None, write_lp=write_lp)
    except InfeasiblePlanError as exc:
        return PlanOutcome(None, options.table, options.summary(), diagnosis=str(exc))
    result.baselines = _baselines(result.baselines, inputs.pue_per_period())
    return PlanOutcome(result, options.table, options.summary(), per_period=result.per_period)


def pareto_step(inputs: ScenarioInputs, outcome: PlanOutcome, n_points: int) -> dict[str, pd.DataFrame]:
    """Accuracy vs facility energy and vs carbon by epsilon-constraint: minimize each
    at accuracy targets from the least accurate baseline up to the plan's accuracy."""
    from tpf.plan.solve import solve

    plan_accuracy = float(outcome.result.totals["accuracy"])
    baselines = outcome.result.baselines
    low = float(baselines["accuracy"].min()) if baselines is not None and len(baselines) else 0.8 * plan_accuracy
    targets = np.linspace(min(low, plan_accuracy), plan_accuracy, n_points)
    base = planner_settings(inputs.config.planner)
    fronts = {}
    for name, objective in (("energy", "min_facility_energy"), ("carbon", "min_carbon")):
        rows = []
        for target in targets:
            settings = base.with_changes(objective=objective, accuracy_target=float(target) * (1 - 1e-9))
            _, model = _build(inputs, settings)
            try:
                result = solve(model, solver=inputs.config.planner.solver, baselines=False,
                               time_limit_s=inputs.config.planner.time_limit_s)
            except InfeasiblePlanError:
                continue
            rows.append({"accuracy_target": float(target), **result.totals})
        fronts[name] = pd.DataFrame(rows)
    return fronts


def _pools(inputs: ScenarioInputs, outcome: PlanOutcome) -> list:
    """One pool per model: the GPUs the plan needs each period (rounded up; none where the
    plan sends the model no query), else the fleet."""
    from tpf.simulate import Pool

    n_periods = inputs.workload.n_periods
    gpus_on = getattr(outcome.result, "gpus_on", None)
    pools = []
    for entry in inputs.fleet.entries:
        card = inputs.cards.energy[entry.model]
        gpus: tuple[int, ...] = (entry.gpus,)
        if gpus_on is not None and len(gpus_on):
            mine = gpus_on[gpus_on["model"] == entry.model].sort_values("period")
            if len(mine) == n_periods:
                column = "gpus_needed" if "gpus_needed" in mine else "gpus_on"
                # A pool the plan leaves unused in a period is powered off.
                gpus = tuple(int(np.ceil(v - 1e-6)) if v > 1e-9 else 0 for v in mine[column])
        pools.append(Pool(card=card, gpus=gpus, max_batch_size=inputs.config.planner.batch_size))
    return pools


def _requests(inputs: ScenarioInputs):  # -> tpf.simulate.workload.RequestBatch
    from tpf.simulate.workload import synthetic_requests

    workload, sim = inputs.config.workload, inputs.config.simulate
    if "requests" in inputs.extras:  # the replayed trace (tpf.config.trace)
        return inputs.extras["requests"]
    expected = sum(c.rate_at(t) for c in inputs.workload.classes for t in range(workload.n_periods))
    expected *= workload.period_s
    if expected > sim.max_queries:
        raise ConfigError(
            f"simulate.max_queries: the workload has about {expected:.3g} queries, more than "
            f"{sim.max_queries}; raise simulate.max_queries or shorten the workload"
        )
    burst_cv = sim.burst_cv if sim.arrivals == "bursty" else 0.0
    return synthetic_requests(inputs.workload, seed=sim.seed, burst_cv=burst_cv)


def simulate_step(inputs: ScenarioInputs, outcome: PlanOutcome) -> SimOutcome:
    """Draw the workload's queries, route them by the plan's split, simulate the pools."""
    from tpf.simulate import AllocationRouter, classes_frame, simulate

    router = AllocationRouter(outcome.result.allocation, classes_frame(inputs.workload), outcome.options,
                              seed=inputs.config.simulate.seed, period_s=inputs.workload.period_s)
    result = simulate(
        _requests(inputs), router, _pools(inputs, outcome), engine=inputs.config.simulate.engine,
        carbon_g_per_kwh=inputs.intensity_per_period(), pue=inputs.pue_per_period(),
        n_hours=inputs.workload.n_periods,
    )
    return SimOutcome(result.hourly, {str(k): float(v) for k, v in result.totals.items()})


def _card_refs(inputs: ScenarioInputs) -> list:
    from tpf.policy.format import CardRef

    cards = inputs.cards
    refs = [CardRef(name=f"{m}@{c.hardware}", sha256=card_sha256(c), kind="energy", source=card_source_label(c))
            for m, c in cards.energy.items()]
    refs.append(CardRef(name=cards.accuracy_path.name, sha256=card_sha256(cards.accuracy), kind="accuracy",
                        source="/".join(sorted({c.source for c in cards.accuracy.curves}))))
    return refs


def _short_votes_budget(allocation: pd.DataFrame, inputs: ScenarioInputs) -> pd.DataFrame:
    """Majority votes of short answers (budget 0 in the plan) get max_new_tokens = the
    class's answer length in the policy, which needs a positive budget per vote."""
    answer = {c.name: max(1, int(np.ceil(c.n_answer_tokens))) for c in inputs.workload.classes}
    short_votes = (allocation["strategy"] == "mv") & (allocation["budget_tokens"] <= 0)
    budgets = allocation["class_name"].map(answer).where(short_votes, allocation["budget_tokens"])
    return allocation.assign(budget_tokens=budgets.astype(int))


def policy_step(inputs: ScenarioInputs, outcome: PlanOutcome, scenario: str, path: Path) -> Path:
    """policy.json from the plan; periods are placed at their hour of day (workload.start_hour)."""
    from tpf.policy.build import (
        class_specs_from_workload,
        default_provenance,
        expectations_from_plan,
        policy_from_plan,
    )
    from tpf.policy.validate import save_policy

    start = inputs.config.workload.start_hour
    result = outcome.result
    allocation = _short_votes_budget(result.allocation, inputs).assign(period=result.allocation["period"] + start)
    hours = range(start + inputs.workload.n_periods)
    carbon = [inputs.grid.intensity_at(max(p - start, 0)) for p in hours]
    pue = [inputs.facility.pue_at(max(p - start, 0)) for p in hours]
    provenance = default_provenance(scenario=scenario, cards=_card_refs(inputs),
                                    plan_status=str(result.status), plan_objective=float(result.objective),
                                    plan_objective_unit=str(getattr(result, "objective_unit", "") or "") or None)
    policy = policy_from_plan(
        allocation, class_specs_from_workload(inputs.workload.classes), provenance=provenance,
        expected=expectations_from_plan(allocation, outcome.options, pue, carbon),
        carbon_g_per_kwh=carbon, period_s=inputs.workload.period_s,
        models=[e.model for e in inputs.fleet.entries], name=scenario,
    )
    return save_policy(_with_prices(policy, result, list(hours), pue, carbon, inputs.workload.period_s), path)


def _with_prices(policy: Any, result: Any, hours: list[int], pue: list[float], carbon: list[float],
                 period_s: float) -> Any:
    """The policy with the plan's shadow prices per query, where the plan prices energy or carbon."""
    import dataclasses

    from tpf.domain import J_PER_KWH
    from tpf.policy.prices import PlanPeriods, prices_from_plan

    queries = float(result.totals.get("queries", 0.0))
    if not queries > 0:
        return policy
    budget = float(result.totals.get("it_energy_kwh", 0.0)) * J_PER_KWH / queries
    periods = PlanPeriods(queries, hours, pue, carbon, period_s / 3600.0, budget)
    prices = prices_from_plan(result.objective_name, result.shadow_prices, periods)
    return policy if prices is None else dataclasses.replace(policy, prices=prices)
