from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tpf.cards import CurveFit, EnergyCard, ValidRange
from tpf.cost.pricing import option_energy_j, option_gpu_s
from tpf.errors import CardError
from tpf.simulate import Pool
from tpf.simulate.check import check_plan
from tpf.simulate.demo_cards import demo_card


def test_majority_vote_energy_shares_one_prefill():
    card = demo_card()
    single = option_energy_j(card, 800, 1, "cot", budget_tokens=200, batch_size=4)
    prefill = card.energy_j(800, 0, 4)
    voted = option_energy_j(card, 800, 1, "mv", budget_tokens=200, votes=5, batch_size=4)
    assert voted == pytest.approx(prefill + 5 * (single - prefill), rel=1e-12)
    assert single == pytest.approx(card.energy_j(800, 201, 4), rel=1e-12)  # answer + budget
    assert option_gpu_s(card, 800, 1, "cot", 200, batch_size=4) == pytest.approx(card.duration_s(800, 201, 4) / 4)


def test_simulator_prices_options_like_the_planner():
    from tpf.cost.query import TokenRule, price_query

    card = demo_card()
    for strategy, budget, votes in (("zero_shot", 0, 1), ("cot", 256, 1), ("mv", 64, 5)):
        mine = float(option_energy_j(card, 700, 3, strategy, budget, votes, batch_size=8))
        planner = price_query(card, "any", strategy, budget, votes, 700.0, TokenRule(3.0), 8.0).energy_j
        assert mine == pytest.approx(planner, rel=1e-12)


def test_non_affine_card_is_refused():
    card = EnergyCard("x", "y", CurveFit("bilinear", (1.0, 1.0, 0.0)), ValidRange((0, 1), (0, 1)),
                      duration=CurveFit("bilinear", (1.0, 1.0, 0.0), "duration_s"))
    object.__setattr__(card, "duration_s", lambda n_in, n_out, b=1.0: np.asarray(n_in, float) * np.asarray(b, float) ** 2)
    from tpf.cost.pricing import query_curves
    with pytest.raises(CardError, match="not affine"):
        query_curves(card, np.array([10.0]), np.array([5.0]), np.array([1.0]))


def _plan(card_small, card_big, batch):
    rows = []
    for cls, n_in, rate in (("math-short", 300.0, 0.8), ("law-long", 1500.0, 0.4)):
        for option, model, card, strategy, budget, accuracy in (
            ("small-cot", "small", card_small, "cot", 128, 0.55),
            ("big-zs", "big", card_big, "zero_shot", 0, 0.70),
        ):
            energy = float(option_energy_j(card, n_in, 1, strategy, budget, 1, batch))
            rows.append((cls, cls.split("-")[0], option, model, strategy, budget, 1, accuracy, energy, n_in, budget or 1, rate))
    options = pd.DataFrame(rows, columns=["class_name", "category", "option_id", "model", "strategy", "budget_tokens",
                                          "votes", "accuracy", "energy_j", "n_in_tokens", "n_out_tokens", "rate"])
    allocation = []
    for period in range(4):
        for row in options.itertuples():
            share = 0.3 if row.option_id == "small-cot" else 0.7
            if period % 2:
                share = 1 - share
            allocation.append((row.class_name, period, row.option_id, row.model, row.strategy, row.budget_tokens,
                               1, share, share * row.rate * 3600))
    allocation = pd.DataFrame(allocation, columns=["class_name", "period", "option_id", "model", "strategy",
                                                   "budget_tokens", "votes", "share", "queries"])
    return allocation, options.drop(columns="rate")


def test_plan_check_agrees_on_assumptions_and_flags_bursts():
    small, big = demo_card("small"), demo_card("big", decode_j_per_token=9.0, gpus_per_replica=4)
    allocation, options = _plan(small, big, batch=4)
    pools = [Pool(small, gpus=(4,)), Pool(big, gpus=(8,))]
    check = check_plan(allocation, options, pools, planning_batch_size=4, n_repeats=3, burst_cv=1.0,
                       power_cap_w=1500.0, latency_slo_s=1.0)
    assert check.agrees, check.relative_error
    assert check.relative_error["query_energy_j"] < 0.01
    assert check.relative_error["expected_accuracy"] < 0.01
    assert {"power_cap", "latency_slo (latency_p95_s)"} <= set(check.violations["constraint"])
    loose = check_plan(allocation, options, pools, planning_batch_size=4, n_repeats=1, power_cap_w=1e9, latency_slo_s=1e9)
    assert loose.violations.empty


def test_plan_check_detects_a_wrong_option_table():
    small, big = demo_card("small"), demo_card("big", decode_j_per_token=9.0, gpus_per_replica=4)
    allocation, options = _plan(small, big, batch=4)
    options.loc[options["option_id"] == "big-zs", "energy_j"] *= 1.5
    check = check_plan(allocation, options, [Pool(small, gpus=(4,)), Pool(big, gpus=(8,))], planning_batch_size=4, n_repeats=1)
    assert not check.agrees
