"""Two checks of every plan, not one by construction.

Consistency: every shipped scenario's plan recomputes its own totals from its
files (plan.csv priced by options.csv), and a Poisson draw of its demand lands
within a tolerance derived from the number of queries. Independence: the
simulation of a plan moves when a card the plan did not see changes, and the
plan does not; the plan's operating point never becomes the simulated batch.
The fidelity of plan against simulation per scenario is measured by
``benchmarks/plan_fidelity.py`` (it prints the table).
"""

from __future__ import annotations

import dataclasses

import pytest
from scenario_data import scenario_params

from tpf.config.build import build_inputs
from tpf.config.compose import compose
from tpf.run import steps
from tpf.run.scenario import PolicyRun, Problem, SimulationRun, run_scenario, scenario_requests
from tpf.simulate.check import consistency_from_run

SCENARIOS = scenario_params()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenarios_plan_recomputes_from_its_files(scenario, tmp_path):
    run_scenario(compose([f"scenario={scenario}", "report=minimal", "report.figures=false"]), "plan", scenario,
                 tmp_path)
    check = consistency_from_run(tmp_path)
    assert check.agrees, (scenario, check.problems)
    assert check.tolerance_j < 0.03 * check.expected_j  # tighter than the old 3% agreement


def _doubled(card):
    return dataclasses.replace(card, energy=dataclasses.replace(
        card.energy, coefficients=tuple(2.0 * c for c in card.energy.coefficients)),
        anchors=[dataclasses.replace(a, energy_j=2.0 * a.energy_j) for a in card.anchors])


def test_a_card_twice_as_costly_moves_the_simulation_not_the_plan(tmp_path):
    config = compose(["workload=small", "report=minimal", "simulate=event"])
    inputs = build_inputs(config)
    problem = Problem.of(inputs)
    outcome = steps.plan_step(problem, config.planner, tmp_path)
    run = SimulationRun(scenario_requests(config, inputs), "event", 0, PolicyRun("small", 0))
    base = steps.simulate_step(problem, run, outcome)
    costly_cards = dataclasses.replace(problem.cards, energy={m: _doubled(c) for m, c in problem.cards.energy.items()})
    costly = steps.simulate_step(dataclasses.replace(problem, cards=costly_cards), run, outcome)
    assert costly.totals["query_energy_j"] == pytest.approx(2.0 * base.totals["query_energy_j"], rel=1e-9)
    assert costly.totals["served_queries"] == base.totals["served_queries"]
    replanned = steps.plan_step(problem, config.planner, tmp_path)
    assert replanned.solved().totals["it_energy_kwh"] == pytest.approx(outcome.solved().totals["it_energy_kwh"])


def test_the_simulated_batch_is_the_loads_not_the_plans(tmp_path):
    config = compose(["workload=small", "report=minimal", "simulate=event", "planner.operating_points=[1,16,64]"])
    inputs = build_inputs(config)
    problem = Problem.of(inputs)
    outcome = steps.plan_step(problem, config.planner, tmp_path)
    run = SimulationRun(scenario_requests(config, inputs), "event", 0, PolicyRun("small", 0))
    simulated = steps.simulate_step(problem, run, outcome).model_hourly
    planned, formed = simulated["planned_batch_size"], simulated["formed_batch_size"]
    assert (planned > 8).any()  # the plan picks large operating points
    # the simulation forms its own batches from the arrivals, and flags hours below 0.7 x planned
    assert (formed.round(6) != planned.round(6)).any()
    assert (simulated["batch_formed"] == ~(formed < 0.7 * planned)).all()
