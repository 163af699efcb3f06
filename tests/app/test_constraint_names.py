"""One naming rule for every cap: its config key is the constraint's name plus the unit suffix
(the facility group's key carries the group: ``facility.power_cap_kw`` caps ``facility_power_cap``)."""

from __future__ import annotations

import re

import pytest

from tpf.config.build import build_inputs, validate
from tpf.config.catalog import load_catalog
from tpf.config.compose import compose
from tpf.run.scenario import Problem
from tpf.run.steps import plan_step

UNIT_SUFFIX = re.compile(r"_(kwh|kw|kg|s)$")

#: Every key that switches a constraint on, with a value that does (loose enough to stay feasible).
CAPS = {
    "planner.it_energy_period_kwh": "1e6", "planner.it_energy_horizon_kwh": "1e9",
    "planner.it_power_kw": "1e6", "planner.carbon_budget_kg": "1e9", "facility.power_cap_kw": "1e6",
    "planner.ttft_p99_slo_s": "100", "planner.e2e_p99_slo_s": "100", "planner.keep_fleet_on": "true", "planner.gpu_capacity": "true",
    "planner.accuracy_floors": None, "planner.accuracy_target": "0.01",
}


def constraint_of(key: str) -> str:
    """The constraint a config key caps: the key without ``planner.`` and its unit suffix."""
    name = key.removeprefix("planner.").replace(".", "_")
    return UNIT_SUFFIX.sub("", name.removesuffix(".*").removesuffix("_*"))


def test_the_catalog_names_every_cap_by_the_rule():
    named = {}
    for parameter in load_catalog():
        found = re.search(r"constraint (\w+)", parameter.meaning)
        if found:
            named[parameter.key.removesuffix(".*")] = found.group(1)
    assert set(named) == set(CAPS)
    assert {key: constraint_of(key) for key in named} == named


def _rows(overrides: list[str], tmp_path) -> dict[str, int]:
    config = compose(["workload=small", "report=minimal", *overrides])
    problem = Problem.of(build_inputs(validate(config)))
    floors = {problem.workload.classes[0].name: 0.01}
    config.planner.accuracy_floors = floors
    problem = Problem.of(build_inputs(validate(config)))
    outcome = plan_step(problem, config.planner, tmp_path)
    return outcome.solved().model_info["rows"]


@pytest.mark.parametrize("objective", ["max_accuracy", "min_energy"])
def test_every_cap_setting_names_its_constraint(objective, tmp_path):
    keys = [key for key in CAPS if CAPS[key] is not None
            and (key != "planner.accuracy_target" or objective != "max_accuracy")]
    rows = _rows([f"planner={objective}", *(f"{key}={CAPS[key]}" for key in keys)], tmp_path)
    expected = {constraint_of(key) for key in [*keys, "planner.accuracy_floors"]}
    assert expected <= set(rows)
    # always there; the GPU and replica rows with gpu_capacity
    assert set(rows) - expected == {"demand", "gpu_busy", "replica_capacity", "batch_forms", "replica_gpus"}
