"""Hand-made plans for the policy tests: a day-night split, length buckets, carbon levels."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tpf.policy import Policy, policy_to_dict, save_policy
from tpf.policy.build import ALLOCATION_LAYOUT, ClassSpec, expectations_from_plan, policy_from_plan

NIGHT_HOURS = tuple(range(0, 7)) + tuple(range(20, 24))


def is_night(period: int) -> bool:
    return period in NIGHT_HOURS


def make_allocation() -> pd.DataFrame:
    """24 hourly periods; math-short changes its split between day and night."""
    rows = []
    for t in range(24):
        night = is_night(t)
        short = 1000.0
        rows += [
            ("math-short", t, "m8-cot512", "llama-8b", "L40S", "cot", 512, 1,
             0.55 if night else 0.25, short * (0.55 if night else 0.25)),
            ("math-short", t, "m70-zs", "llama-70b", "L40S", "zero_shot", 0, 1,
             0.30 if night else 0.60, short * (0.30 if night else 0.60)),
            ("math-short", t, "m8-mv5", "llama-8b", "L40S", "mv", 128, 5,
             0.15, short * 0.15),
            ("math-long", t, "m70-zs", "llama-70b", "L40S", "zero_shot", 0, 1, 0.8, 160.0),
            ("math-long", t, "m8-zs", "llama-8b", "L40S", "zero_shot", 0, 1, 0.2, 40.0),
            ("other", t, "m8-zs", "llama-8b", "L40S", "zero_shot", 0, 1, 1.0, 300.0),
        ]
    return pd.DataFrame(rows, columns=list(ALLOCATION_LAYOUT))


def make_options() -> pd.DataFrame:
    return pd.DataFrame(
        [("math-short", "m8-cot512", 0.70, 300.0), ("math-short", "m70-zs", 0.80, 900.0),
         ("math-short", "m8-mv5", 0.65, 700.0), ("math-long", "m70-zs", 0.75, 1500.0),
         ("math-long", "m8-zs", 0.55, 400.0), ("other", "m8-zs", 0.60, 200.0)],
        columns=["class_name", "option_id", "accuracy", "energy_j"],
    )


SPECS = [ClassSpec("math-short", "math", 0, 1024), ClassSpec("math-long", "math", 1024, None),
         ClassSpec("other", "other", 0, None)]
CARBON_G_PER_KWH = [150.0 if is_night(t) else 450.0 for t in range(24)]


def make_policy() -> Policy:
    allocation = make_allocation()
    expected = expectations_from_plan(allocation, make_options(), pue=1.3, carbon_g_per_kwh=CARBON_G_PER_KWH)
    return policy_from_plan(allocation, SPECS, carbon_g_per_kwh=CARBON_G_PER_KWH, expected=expected,
                            name="test-plan", default_category="other")


@pytest.fixture(scope="session")
def policy() -> Policy:
    return make_policy()


@pytest.fixture
def policy_data(policy: Policy) -> dict:
    return json.loads(json.dumps(policy_to_dict(policy)))


@pytest.fixture
def policy_file(tmp_path: Path, policy: Policy) -> Path:
    return save_policy(policy, tmp_path / "policy.json")


@pytest.fixture
def allocation() -> pd.DataFrame:
    return make_allocation()


@pytest.fixture
def options_table() -> pd.DataFrame:
    return make_options()


@pytest.fixture
def specs() -> list[ClassSpec]:
    return list(SPECS)


@pytest.fixture
def carbon_profile() -> list[float]:
    return list(CARBON_G_PER_KWH)
