"""The real steps of a run: the planner, its Pareto fronts, the simulator and the policy writer.

Each function takes the scenario's domain objects (:class:`~tpf.run.scenario.Problem`)
and its own typed settings, calls one library's API and returns typed results; :mod:`tpf.run.scenario` calls them through ``Steps``. The
simulator routes every request through the deployed router
(:class:`tpf.policy.Router` over the policy this run writes), so the
simulated decisions are the policy's, request by request.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tpf.cards import card_sha256
from tpf.config.build import card_source_label
from tpf.config.planner import planner_settings
from tpf.config.schema import PlannerConfig
from tpf.domain import J_PER_KWH, Workload
from tpf.errors import ConfigError, InfeasiblePlanError
from tpf.plan.model import build_model
from tpf.plan.options import OptionTable, StrategySpec, build_options
from tpf.plan.pareto import accuracy_fronts
from tpf.plan.result import PlanResult
from tpf.plan.solve import solve
from tpf.policy.format import Policy
from tpf.run.scenario import (
    PlanOutcome,
    PolicyRun,
    Problem,
    RequestPeriods,
    SimOutcome,
    SimulationRun,
)


def strategy_spec(planner: PlannerConfig) -> StrategySpec:
    chosen = set(planner.strategies)
    return StrategySpec(
        zero_shot="zero_shot" in chosen,
        cot_budgets_tokens=tuple(planner.cot_budgets_tokens) if "cot" in chosen else (),
        mv_votes=tuple(planner.mv_votes) if "mv" in chosen else (),
    )


def _options(problem: Problem, planner: PlannerConfig) -> OptionTable:
    return build_options(
        problem.workload, problem.cards.energy, problem.cards.accuracy, strategy_spec(planner),
        latency_slo_s=planner.latency_slo_s, batch_size=planner.batch_size,
        batch_sizes=tuple(planner.operating_points) or None, ttft_p99_slo_s=planner.ttft_p99_slo_s,
        e2e_p99_slo_s=planner.e2e_p99_slo_s,
    )


def _planned(problem: Problem, planner: PlannerConfig) -> tuple[OptionTable, Workload, Any]:
    """Options and workload the planner sees: per routed class when ``planner.estimator`` reads classes
    from the text (:mod:`tpf.estimator.planning`), with the estimated classes; else as given, None."""
    options = _options(problem, planner)
    if planner.estimator is None:
        return options, problem.workload, None
    from tpf.estimator.planning import (
        dropped_options,
        estimated_classes,
        routed_option_table,
        routed_workload,
    )

    est = estimated_classes(planner.estimator, problem.workload, planner.estimator_classes)
    table = routed_option_table(options.table, problem.workload, est)
    excluded = pd.concat([options.excluded, dropped_options(options.table, table)], ignore_index=True)
    return OptionTable(table, excluded), routed_workload(problem.workload, est), (est, options.table)


def _misrouting(problem: Problem, planner: PlannerConfig, estimated: Any, result: PlanResult) -> str:
    """Misrouting figures into the plan's totals (summary.json), beside the plan with classes known
    (solved again on the true-class options); the report's paragraph."""
    from tpf.estimator.planning import misrouting_note, misrouting_totals

    est, true_table = estimated
    figures = misrouting_totals(true_table, result.allocation, problem.workload, est)
    known_model = build_model(true_table, problem.workload, problem.facility, problem.grid, problem.fleet,
                              planner_settings(planner))
    try:
        known = solve(known_model, solver=planner.solver, time_limit_s=planner.time_limit_s,
                      mip_gap=planner.mip_gap)
    except InfeasiblePlanError:
        known = None
    if known is not None:
        sign = -1.0 if result.objective_name == "max_accuracy" else 1.0
        figures["known_class_plan_objective"] = float(known.objective)
        figures["misrouting_objective"] = sign * (float(result.objective) - float(known.objective))
    result.totals.update(figures)
    return misrouting_note(figures, est, result.objective_unit)


def plan_step(problem: Problem, planner: PlannerConfig, run_dir: Path) -> PlanOutcome:
    """Build the options and the model, solve; an infeasible plan carries its diagnosis."""
    options, workload, estimated = _planned(problem, planner)
    model = build_model(options.table, workload, problem.facility, problem.grid, problem.fleet,
                        planner_settings(planner))
    write_lp = str(run_dir / "model.lp") if planner.write_lp else None
    try:
        result = solve(model, solver=planner.solver, time_limit_s=planner.time_limit_s,
                       mip_gap=planner.mip_gap, write_lp=write_lp)
    except InfeasiblePlanError as exc:
        return PlanOutcome(None, options.table, options.summary(), diagnosis=str(exc))
    note = options.summary() if estimated is None else \
        f"{options.summary().rstrip('.')}. {_misrouting(problem, planner, estimated, result)}"
    return PlanOutcome(result, options.table, note, per_period=result.per_period)


def pareto_step(problem: Problem, planner: PlannerConfig, outcome: PlanOutcome,
                n_points: int) -> dict[str, pd.DataFrame]:
    """Accuracy vs facility energy and vs carbon, by the planner's own epsilon-constraint sweep
    (:func:`tpf.plan.pareto.accuracy_front`): minimize each at accuracy targets from the least
    accurate baseline up to the plan's accuracy."""
    result = outcome.solved()
    plan_accuracy = float(result.totals["accuracy"])
    baselines = result.baselines
    low = float(baselines["accuracy"].min()) if len(baselines) else 0.8 * plan_accuracy
    targets = np.linspace(min(low, plan_accuracy), plan_accuracy, n_points) * (1 - 1e-9)
    options, workload, _ = _planned(problem, planner)
    settings = planner_settings(planner)
    # A front of whole-replica MILPs (a branch and bound per point) costs many minutes at
    # capacity scale: the front is drawn on the relaxation (an LP) and labelled so, the plan
    # itself stays the MILP.
    relaxed = settings.replicas != "relaxed" or settings.integer_gpus
    if relaxed:
        settings = dataclasses.replace(settings, replicas="relaxed", integer_gpus=False)
    fronts = accuracy_fronts(options.table, workload, problem.facility, problem.grid, problem.fleet,
                             settings, targets=targets,
                             objectives={"energy": "min_facility_energy", "carbon": "min_carbon"},
                             solver=planner.solver, time_limit_s=planner.time_limit_s,
                             mip_gap=None if relaxed else planner.mip_gap)
    return {name: front.assign(replicas="relaxed (LP)" if relaxed else settings.replicas)
            for name, front in fronts.items()}


def powered_gpus(result: PlanResult, model: str, n_periods: int) -> tuple[float, ...] | None:
    """The plan's decision the simulator takes: GPUs of ``model`` powered per period.

    ``replicas x gpus_per_replica`` where the plan names whole replicas (a
    ``replicas`` column with ``gpus_on``), else ``gpus_on`` (a fractional
    count is powered as whole replicas rounded up, :class:`tpf.simulate.Pool`);
    None where the plan has no GPU decision for every period. Nothing else of
    the plan (its batch, prices or latency) is read.
    """
    gpus_on = result.gpus_on
    if gpus_on is None or not len(gpus_on) or "gpus_on" not in gpus_on.columns:
        return None
    mine = gpus_on[gpus_on["model"] == model].sort_values("period")
    if len(mine) != n_periods:
        return None
    return tuple(float(v) if v > 1e-9 else 0.0 for v in mine["gpus_on"])


def _pools(problem: Problem, outcome: PlanOutcome, max_batch_size: int) -> list:
    """One pool per model: the GPUs the plan powers each period (:func:`powered_gpus`), else the
    fleet; batches bounded by the card's ``max_batch_size`` (or ``max_batch_size`` when > 0) and
    the replica's KV cache (:mod:`tpf.simulate.memory`), never by the plan's operating point."""
    from tpf.simulate import Pool

    result = outcome.solved()
    pools = []
    for entry in problem.fleet.entries:
        card = problem.cards.energy[entry.model]
        gpus = powered_gpus(result, entry.model, problem.workload.n_periods) or (entry.gpus,)
        pools.append(Pool(card=card, gpus=gpus, max_batch_size=max_batch_size or None))
    return pools


def simulate_step(problem: Problem, run: SimulationRun, outcome: PlanOutcome) -> SimOutcome:
    """Route each request through the router of the run's policy, simulate the pools."""
    from tpf.policy.router import Router
    from tpf.simulate import PolicyRouter, simulate, simulate_stream

    router = PolicyRouter(Router(build_policy(problem, run.policy, outcome)), outcome.options,
                          period_s=problem.workload.period_s, start_hour=run.policy.start_hour)
    pools = _pools(problem, outcome, run.max_batch_size)
    carbon, pue = problem.intensity_per_period(), problem.pue_per_period()
    if isinstance(run.requests, RequestPeriods):
        if run.engine != "fluid":
            raise ConfigError(f"simulate.engine: requests drawn per period need the fluid engine, got {run.engine!r}")
        result = simulate_stream(run.requests.periods(), router, pools, problem.workload.n_periods,
                                 carbon_g_per_kwh=carbon, pue=pue, idle_mode="unbusy", exact_quantiles=True)
    else:
        result = simulate(run.requests, router, pools, engine=run.engine, n_hours=problem.workload.n_periods,
                          carbon_g_per_kwh=carbon, pue=pue, idle_mode="unbusy", batching=run.batching,
                          keep_records=len(run.requests) <= MAX_REPORT_RECORDS)
    model_hourly = None
    if result.model_hourly is not None:
        from tpf.report.fidelity import plan_vs_simulation

        solved = outcome.solved()
        model_hourly = plan_vs_simulation(solved.allocation, outcome.options, solved.gpus_on, result.model_hourly)
    return SimOutcome(result.hourly, {str(k): float(v) for k, v in result.totals.items()}, result.records,
                      model_hourly)


#: Per-request records are kept for the report's figures up to this many requests (memory).
MAX_REPORT_RECORDS = 1_000_000


def _card_refs(problem: Problem) -> list:
    from tpf.policy.format import CardRef

    cards = problem.cards
    refs = [CardRef(name=f"{m}@{c.hardware}", sha256=card_sha256(c), kind="energy", source=card_source_label(c))
            for m, c in cards.energy.items()]
    refs.append(CardRef(name=cards.accuracy_path.name, sha256=card_sha256(cards.accuracy), kind="accuracy",
                        source="/".join(sorted({c.source for c in cards.accuracy.curves}))))
    return refs


def _short_votes_budget(allocation: pd.DataFrame, problem: Problem) -> pd.DataFrame:
    """Majority votes of short answers (budget 0 in the plan) get max_new_tokens = the
    class's answer length in the policy, which needs a positive budget per vote."""
    answer = {c.name: max(1, int(np.ceil(c.n_answer_tokens))) for c in problem.workload.classes}
    short_votes = (allocation["strategy"] == "mv") & (allocation["budget_tokens"] <= 0)
    budgets = allocation["class_name"].map(answer).where(short_votes, allocation["budget_tokens"])
    return allocation.assign(budget_tokens=budgets.astype(int))


def build_policy(problem: Problem, run: PolicyRun, outcome: PlanOutcome) -> Policy:
    """The routing policy of the plan; periods are placed at their hour of day (workload.start_hour)."""
    from tpf.policy.build import (
        class_specs_from_workload,
        default_provenance,
        expectations_from_plan,
        policy_from_plan,
    )

    start, scenario = run.start_hour, run.scenario
    result = outcome.solved()
    allocation = _short_votes_budget(result.allocation, problem).assign(period=result.allocation["period"] + start)
    hours = range(start + problem.workload.n_periods)
    carbon = [problem.grid.intensity_at(max(p - start, 0)) for p in hours]
    pue = [problem.facility.pue_at(max(p - start, 0)) for p in hours]
    provenance = default_provenance(scenario=scenario, cards=_card_refs(problem),
                                    plan_status=str(result.status), plan_objective=float(result.objective),
                                    plan_objective_unit=result.objective_unit or None)
    policy = policy_from_plan(
        allocation, class_specs_from_workload(problem.workload.classes), provenance=provenance,
        expected=expectations_from_plan(allocation, outcome.options, pue, carbon),
        carbon_g_per_kwh=carbon, period_s=problem.workload.period_s,
        models=[e.model for e in problem.fleet.entries], name=scenario,
    )
    return _with_prices(policy, result, list(hours), pue, carbon, problem.workload.period_s)


def _with_prices(policy: Policy, result: PlanResult, hours: list[int], pue: list[float],
                 carbon: list[float], period_s: float) -> Policy:
    """The policy with the plan's shadow prices per query, where the plan prices energy or carbon."""
    from tpf.policy.prices import PlanPeriods, prices_from_plan

    queries = float(result.totals.get("queries", 0.0))
    if not queries > 0:
        return policy
    budget = float(result.totals.get("it_energy_kwh", 0.0)) * J_PER_KWH / queries
    periods = PlanPeriods(queries, hours, pue, carbon, period_s / 3600.0, budget)
    prices = prices_from_plan(result.objective_name, result.shadow_prices, periods)
    return policy if prices is None else dataclasses.replace(policy, prices=prices)


def policy_step(problem: Problem, run: PolicyRun, outcome: PlanOutcome, path: Path) -> Path:
    """policy.json from the plan (:func:`build_policy`)."""
    from tpf.policy.validate import save_policy

    return save_policy(build_policy(problem, run, outcome), path)
