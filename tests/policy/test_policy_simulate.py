"""The simulator runs from a policy file alone and reproduces the planned shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tpf.policy import Router, save_policy
from tpf.policy.build import ClassSpec, policy_from_plan

simulate_module = pytest.importorskip("tpf.simulate")
workload = pytest.importorskip("tpf.simulate.workload")
demo = pytest.importorskip("tpf.simulate.demo_cards")

NIGHT = (*range(0, 7), *range(20, 24))


def test_simulator_runs_from_a_policy_file(tmp_path: Path, allocation: pd.DataFrame, specs: list[ClassSpec]) -> None:
    names = {"llama-8b": "demo-8b", "llama-70b": "demo-70b"}
    plan = allocation.replace({"model": names})
    path = save_policy(policy_from_plan(plan, specs, default_category="other"), tmp_path / "policy.json")

    rng = np.random.default_rng(7)
    count = 30_000
    arrival_s = np.sort(rng.uniform(0, 24 * 3600, count))
    category = np.where(rng.uniform(size=count) < 0.8, "math", "other")
    n_in = np.where(rng.uniform(size=count) < 0.75, 300.0, 4000.0)
    batch = workload.make_batch(arrival_s, n_in, np.full(count, 1.0), category)
    cards = demo.demo_cards()
    pools = [simulate_module.Pool(cards["demo-8b"], gpus=(8,)), simulate_module.Pool(cards["demo-70b"], gpus=(16,))]
    result = simulate_module.simulate(batch, Router.from_file(path), pools, keep_records=True)
    records = result.records
    assert len(records) == count

    short = records[(records["category"] == "math") & (records["n_in_tokens"] < 1024)]
    for hours, key in ((NIGHT, True), (tuple(h for h in range(24) if h not in NIGHT), False)):
        rows = short[short["hour"].isin(hours)]
        planned = plan[(plan["class_name"] == "math-short") & plan["period"].isin(hours)]
        shares = planned.groupby("strategy")["queries"].sum() / planned["queries"].sum()
        observed = rows.groupby("strategy").size().reindex(shares.index, fill_value=0)
        _, p_value = stats.chisquare(observed.to_numpy(), shares.to_numpy() * len(rows))
        assert p_value > 1e-6, (key, observed.to_dict(), shares.to_dict())
    cot = short[short["strategy"] == "cot"]
    mv = short[short["strategy"] == "mv"]
    assert set(cot["budget_tokens"]) == {512.0} and set(mv["votes"]) == {5.0}
    assert set(records[records["category"] == "other"]["model"]) == {"demo-8b"}
