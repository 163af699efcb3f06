"""Every shipped scenario: the simulation of its plan agrees with the plan on facility energy.

The simulator runs the plan (its GPUs per model and hour, each query at its
option's operating point and price); what remains is the draw of arrivals and
of each request's option. A scenario busier than ``MAX_RATE_PER_S`` on average
is simulated at that rate (its plan re-made at that rate), so the test draws at
most about 2.6 million queries per scenario.
"""

from __future__ import annotations

import pytest
from scenario_data import scenario_params

from tpf.config.compose import compose
from tpf.run.scenario import run_scenario

SCENARIOS = scenario_params()
MAX_RATE_PER_S = 30.0
TOLERANCE_PCT = 3.0


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_simulated_facility_energy_within_3_percent_of_the_plan(scenario, tmp_path):
    overrides = [f"scenario={scenario}", "report=minimal"]
    if compose(overrides).workload.total_rate_per_s > MAX_RATE_PER_S:
        overrides.append(f"workload.total_rate_per_s={MAX_RATE_PER_S}")
    summary = run_scenario(compose(overrides), "simulate", scenario, tmp_path)
    plan_kwh = summary["plan"]["facility_energy_kwh"]
    simulated_kwh = summary["simulation"]["facility_energy_kwh"]
    assert plan_kwh > 0
    assert abs(simulated_kwh / plan_kwh - 1.0) * 100.0 <= TOLERANCE_PCT, (scenario, plan_kwh, simulated_kwh)
    assert summary["simulation"]["vs_plan_pct"]["facility_energy_kwh"] == pytest.approx(
        100.0 * (simulated_kwh / plan_kwh - 1.0))
