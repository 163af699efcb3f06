"""The real steps of a run: the planner, its Pareto fronts, the simulator and the policy writer.

Each function adapts typed scenario inputs to one library's API and returns
typed results; :mod:`tpf.run.scenario` calls them through ``Steps``. The
simulator routes every request through the deployed router
(:class:`tpf.policy.Router` over the policy this run writes), so the
simulated decisions are the policy's, request by request.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tpf.cards import card_sha256
from tpf.config.build import ScenarioInputs, card_source_label
from tpf.config.schema import CAP_SETTINGS, PlannerConfig
from tpf.errors import ConfigError, InfeasiblePlanError
from tpf.plan.model import build_model
from tpf.plan.options import StrategySpec, build_options
from tpf.plan.pareto import accuracy_front
from tpf.plan.settings import PlannerSettings
from tpf.plan.solve import solve
from tpf.policy.format import Policy
from tpf.run.scenario import PlanOutcome, SimOutcome


def planner_settings(planner: PlannerConfig, embodied_kg_per_gpu_h: float = 0.0) -> PlannerSettings:
    """The planner's settings from the ``planner`` group (units converted here, once); the hardware's
    embodied carbon per GPU-hour is counted for powered-on GPUs (priced when ``planner.price_embodied``)."""
    switches = planner.constraints
    caps: dict[str, float | None] = {}
    for switch, (key, setting, factor) in CAP_SETTINGS.items():
        value = getattr(planner, key)
        caps[setting] = value * factor if getattr(switches, switch) and value is not None else None
    return PlannerSettings(
        objective=planner.objective,
        accuracy_target=planner.accuracy_target,
        facility_power=switches.facility_power,
        gpu_capacity=switches.gpu_capacity,
        accuracy_floors=dict(planner.accuracy_floors) if switches.accuracy_floors else {},
        integer_gpus=planner.integer_gpus,
        gpu_cost=planner.gpu_weight,
        embodied_kg_per_gpu_h=embodied_kg_per_gpu_h,
        price_embodied=planner.price_embodied,
    ).with_changes(**caps).validate()


def strategy_spec(planner: PlannerConfig) -> StrategySpec:
    chosen = set(planner.strategies)
    return StrategySpec(
        zero_shot="zero_shot" in chosen,
        cot_budgets_tokens=tuple(planner.cot_budgets_tokens) if "cot" in chosen else (),
        mv_votes=tuple(planner.mv_votes) if "mv" in chosen else (),
    )


def _options(inputs: ScenarioInputs):  # -> tpf.plan.options.OptionTable
    planner = inputs.config.planner
    return build_options(
        inputs.workload, inputs.cards.energy, inputs.cards.accuracy, strategy_spec(planner),
        latency_slo_s=planner.latency_slo_s, batch_size=planner.batch_size,
    )


def plan_step(inputs: ScenarioInputs, run_dir: Path) -> PlanOutcome:
    """Build the options and the model, solve; an infeasible plan carries its diagnosis."""
    planner = inputs.config.planner
    options = _options(inputs)
    model = build_model(options.table, inputs.workload, inputs.facility, inputs.grid, inputs.fleet,
                        planner_settings(planner, inputs.config.hardware.embodied_kg_per_gpu_h))
    write_lp = str(run_dir / "model.lp") if planner.write_lp else None
    try:
        result = solve(model, solver=planner.solver, time_limit_s=planner.time_limit_s,
                       mip_gap=planner.mip_gap if planner.integer_gpus else None, write_lp=write_lp)
    except InfeasiblePlanError as exc:
        return PlanOutcome(None, options.table, options.summary(), diagnosis=str(exc))
    return PlanOutcome(result, options.table, options.summary(), per_period=result.per_period)


def pareto_step(inputs: ScenarioInputs, outcome: PlanOutcome, n_points: int) -> dict[str, pd.DataFrame]:
    """Accuracy vs facility energy and vs carbon, by the planner's own epsilon-constraint sweep
    (:func:`tpf.plan.pareto.accuracy_front`): minimize each at accuracy targets from the least
    accurate baseline up to the plan's accuracy."""
    result = outcome.solved()
    plan_accuracy = float(result.totals["accuracy"])
    baselines = result.baselines
    low = float(baselines["accuracy"].min()) if len(baselines) else 0.8 * plan_accuracy
    targets = np.linspace(min(low, plan_accuracy), plan_accuracy, n_points) * (1 - 1e-9)
    planner = inputs.config.planner
    table = _options(inputs).table
    return {name: accuracy_front(table, inputs.workload, inputs.facility, inputs.grid, inputs.fleet,
                                 planner_settings(planner, inputs.config.hardware.embodied_kg_per_gpu_h),
                                 objective=objective, targets=targets,
                                 solver=planner.solver)
            for name, objective in (("energy", "min_facility_energy"), ("carbon", "min_carbon"))}


def _pools(inputs: ScenarioInputs, outcome: PlanOutcome) -> list:
    """One pool per model: the GPUs the plan needs each period (rounded up; none where the
    plan sends the model no query), else the fleet."""
    from tpf.simulate import Pool

    n_periods = inputs.workload.n_periods
    gpus_on = outcome.solved().gpus_on
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
    """Draw the workload's queries, route each through the router of the run's policy, simulate the pools."""
    from tpf.policy.router import Router
    from tpf.simulate import PolicyRouter, simulate

    policy = build_policy(inputs, outcome, "simulation")
    router = PolicyRouter(Router(policy), outcome.options, period_s=inputs.workload.period_s,
                          start_hour=inputs.config.workload.start_hour)
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


def build_policy(inputs: ScenarioInputs, outcome: PlanOutcome, scenario: str) -> Policy:
    """The routing policy of the plan; periods are placed at their hour of day (workload.start_hour)."""
    from tpf.policy.build import (
        class_specs_from_workload,
        default_provenance,
        expectations_from_plan,
        policy_from_plan,
    )

    start = inputs.config.workload.start_hour
    result = outcome.solved()
    allocation = _short_votes_budget(result.allocation, inputs).assign(period=result.allocation["period"] + start)
    hours = range(start + inputs.workload.n_periods)
    carbon = [inputs.grid.intensity_at(max(p - start, 0)) for p in hours]
    pue = [inputs.facility.pue_at(max(p - start, 0)) for p in hours]
    provenance = default_provenance(scenario=scenario, cards=_card_refs(inputs),
                                    plan_status=str(result.status), plan_objective=float(result.objective))
    return policy_from_plan(
        allocation, class_specs_from_workload(inputs.workload.classes), provenance=provenance,
        expected=expectations_from_plan(allocation, outcome.options, pue, carbon),
        carbon_g_per_kwh=carbon, period_s=inputs.workload.period_s,
        models=[e.model for e in inputs.fleet.entries], name=scenario,
    )


def policy_step(inputs: ScenarioInputs, outcome: PlanOutcome, scenario: str, path: Path) -> Path:
    """policy.json from the plan (:func:`build_policy`)."""
    from tpf.policy.validate import save_policy

    return save_policy(build_policy(inputs, outcome, scenario), path)
