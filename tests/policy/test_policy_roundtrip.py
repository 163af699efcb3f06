"""Round trip: plan -> policy file -> Router -> replay reproduces the plan's shares."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from tpf.domain import QueryClass
from tpf.policy import Policy, Router
from tpf.policy.build import policy_to_allocation

N_REQUESTS = 100_000


def _replay(policy_file: Path, allocation: pd.DataFrame, category_of: dict[str, tuple[str, int]]) -> Counter:
    """Route about N_REQUESTS requests, each class and hour in proportion to the plan's queries,
    using nothing but the policy file."""
    router = Router.from_file(policy_file)
    demand = allocation.groupby(["class_name", "period"])["queries"].sum()
    scale = N_REQUESTS / demand.sum()
    counts: Counter = Counter()
    request = 0
    for (class_name, period), queries in demand.items():
        category, n_in = category_of[class_name]
        for _ in range(round(queries * scale)):
            decision = router.decide(f"req-{request}", category, n_in, hour=period)
            counts[(class_name, period, decision.option_id)] += 1
            request += 1
    return counts


def test_replay_reproduces_planned_shares(policy_file: Path, allocation: pd.DataFrame) -> None:
    category_of = {"math-short": ("math", 300), "math-long": ("math", 4000), "other": ("other", 50)}
    counts = _replay(policy_file, allocation, category_of)
    assert sum(counts.values()) == pytest.approx(N_REQUESTS, abs=100)
    for class_name, rows in allocation.groupby("class_name"):
        chi2, dof = 0.0, 0
        for period, cell in rows.groupby("period"):
            n = sum(counts[(class_name, period, o)] for o in cell["option_id"])
            shares = cell["queries"] / cell["queries"].sum()
            for option, share in zip(cell["option_id"], shares, strict=True):
                observed, expected = counts[(class_name, period, option)], n * share
                # binomial bound per cell: within 5 standard deviations
                assert abs(observed - expected) <= 5 * (n * share * (1 - share)) ** 0.5 + 1e-9
                if expected > 0:
                    chi2 += (observed - expected) ** 2 / expected
            dof += len(cell) - 1
        if dof:
            assert chi2 < stats.chi2.ppf(1 - 1e-6, dof), (class_name, chi2, dof)
    # whole-day shares per class, against the plan's query totals
    for class_name, rows in allocation.groupby("class_name"):
        planned = rows.groupby("option_id")["queries"].sum() / rows["queries"].sum()
        total = sum(v for k, v in counts.items() if k[0] == class_name)
        for option, share in planned.items():
            observed = sum(v for k, v in counts.items() if k[0] == class_name and k[2] == option) / total
            assert observed == pytest.approx(share, abs=5 * (share * (1 - share) / total) ** 0.5 + 1e-12)


def test_a_wrong_split_is_detected(policy_file: Path, allocation: pd.DataFrame) -> None:
    """The check above can fail: shifting a planned share by 2 points breaks the bound."""
    shifted = allocation.copy()
    short_cot = (shifted["class_name"] == "math-short") & (shifted["option_id"] == "m8-cot512")
    short_zs = (shifted["class_name"] == "math-short") & (shifted["option_id"] == "m70-zs")
    shifted.loc[short_cot, "queries"] += 20.0
    shifted.loc[short_zs, "queries"] -= 20.0
    counts = _replay(policy_file, allocation, {"math-short": ("math", 300), "math-long": ("math", 4000),
                                               "other": ("other", 50)})
    rows = shifted[shifted["class_name"] == "math-short"]
    planned = rows.groupby("option_id")["queries"].sum() / rows["queries"].sum()
    total = sum(v for k, v in counts.items() if k[0] == "math-short")
    observed = sum(v for k, v in counts.items() if k[0] == "math-short" and k[2] == "m8-cot512") / total
    share = planned["m8-cot512"]
    assert abs(observed - share) > 5 * (share * (1 - share) / total) ** 0.5


def test_policy_to_allocation_gives_back_the_plan_shares(policy: Policy, allocation: pd.DataFrame) -> None:
    workload = [QueryClass("math-short", "math", 300.0, (1000.0 / 3600,)),
                QueryClass("math-long", "math", 4000.0, (200.0 / 3600,)),
                QueryClass("other", "other", 50.0, (300.0 / 3600,))]
    table = policy_to_allocation(policy, workload)
    assert list(table.columns) == ["class_name", "period", "option_id", "model", "hardware", "strategy",
                                   "budget_tokens", "votes", "share", "queries"]
    merged = allocation.merge(table, on=["class_name", "period", "option_id"], suffixes=("_plan", "_policy"))
    assert len(merged) == len(allocation) == len(table)
    assert (merged["share_plan"] - merged["share_policy"]).abs().max() < 1e-12
    assert (merged["queries_plan"] - merged["queries_policy"]).abs().max() < 1e-9
    assert (merged["model_plan"] == merged["model_policy"]).all()
    mv = merged[merged["option_id"] == "m8-mv5"].iloc[0]
    assert (mv["budget_tokens_policy"], mv["votes_policy"]) == (128, 5)
