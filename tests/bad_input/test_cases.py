"""Every one-line case of the bad-input suite, by category (the test id is ``category/case``)."""

from __future__ import annotations

import pytest

from tests.bad_input.conftest import run_case
from tests.bad_input.test_configs_and_policies import CONFIG_CASES, POLICY_CASES
from tests.bad_input.test_data_files import CARBON_CASES, CARD_CASES, TABLE_CASES, TRACE_CASES
from tests.bad_input.test_runs_and_results import ESTIMATOR_CASES, PLAN_CASES, REPLAN_CASES
from tests.bad_input.test_scenarios_and_outputs import OUTPUT_CASES, OVERRIDE_CASES, SCENARIO_CASES

CATEGORIES = {
    "scenario": SCENARIO_CASES, "override": OVERRIDE_CASES, "config": CONFIG_CASES,
    "output": OUTPUT_CASES, "table": TABLE_CASES, "card": CARD_CASES,
    "carbon": CARBON_CASES, "trace": TRACE_CASES, "policy": POLICY_CASES,
    "replan": REPLAN_CASES, "estimator": ESTIMATOR_CASES, "plan": PLAN_CASES,
}
CASES = [pytest.param(case, id=f"{category}/{case.name}") for category, cases in CATEGORIES.items() for case in cases]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_a_clear_error(case, tmp_path, capsys, monkeypatch):
    run_case(case, tmp_path, capsys, monkeypatch)
