"""The simulator's decisions are the deployed router's, request by request (100,000 requests)."""

from __future__ import annotations

import numpy as np
import pytest

from tpf.cost.pricing import STRATEGY_NAMES
from tpf.policy import Policy, Router
from tpf.policy.batch import decide_many, uniform_many
from tpf.policy.router import uniform_from_id
from tpf.simulate import PolicyRouter
from tpf.simulate.workload import make_batch

COUNT = 100_000


def requests(seed: int = 3):
    rng = np.random.default_rng(seed)
    arrival_s = np.sort(rng.uniform(0, 48 * 3600, COUNT))               # two days: hours 0..47
    category = rng.choice(["math", "other", "unknown-category"], COUNT, p=[0.7, 0.2, 0.1])
    n_in = rng.choice([1.0, 300.0, 1023.0, 1024.0, 4000.0], COUNT)
    ids = rng.integers(0, 2**62, COUNT)                                # not in arrival order
    return make_batch(arrival_s, n_in, np.ones(COUNT), category, request_id=ids)


def test_uniform_many_is_the_routers_hash():
    ids = np.random.default_rng(0).integers(0, 2**62, 2000)
    for salt in ("", "tpf-v1"):
        assert uniform_many(ids, salt).tolist() == [uniform_from_id(int(i), salt) for i in ids]


def test_simulated_decisions_equal_routed_decisions_for_100k_requests(policy: Policy):
    router = Router(policy)
    batch = requests()
    simulated = PolicyRouter(router, period_s=3600.0, start_hour=5).route(batch)
    hours = 5 + np.floor(batch.arrival_s / 3600.0).astype(np.int64)
    categories = batch.category_names()
    routed = [router.decide(int(i), str(c), float(n), int(h))
              for i, c, n, h in zip(batch.request_id, categories, batch.n_in_tokens, hours, strict=True)]
    models = np.asarray(simulated.models)[simulated.model_code]
    strategies = np.asarray(STRATEGY_NAMES)[simulated.strategy_code]
    assert models.tolist() == [d.model for d in routed]
    assert strategies.tolist() == [d.strategy for d in routed]
    assert simulated.budget_tokens.tolist() == [float(d.max_new_tokens) for d in routed]
    assert simulated.votes.tolist() == [float(max(d.votes, 1)) for d in routed]
    assert len({(d.model, d.strategy, d.max_new_tokens) for d in routed}) >= 4   # a real mix


@pytest.mark.parametrize("with_carbon", [False, True])
def test_decide_many_equals_decide_with_hours_and_carbon_bands(policy: Policy, with_carbon: bool):
    router = Router(policy)
    batch = requests(seed=11)
    hours = np.floor(batch.arrival_s / 3600.0).astype(np.int64)
    carbon = np.where(hours % 24 < 7, 150.0, 450.0) if with_carbon else None
    index, decisions = decide_many(router, batch.request_id, batch.category_names(), batch.n_in_tokens,
                                   hours, carbon)
    expected = [router.decide(int(i), str(c), float(n), int(h), None if carbon is None else float(carbon[k]))
                for k, (i, c, n, h) in enumerate(zip(batch.request_id, batch.category_names(),
                                                     batch.n_in_tokens, hours, strict=True))]
    assert [decisions[j] for j in index] == expected
