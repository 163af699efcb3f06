"""Generated-token distributions on accuracy cards, and options priced over them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tpf.cards import (
    AccuracyCard,
    AccuracyCurve,
    CurveFit,
    EnergyCard,
    ValidRange,
    load_card,
    save_card,
)
from tpf.cost.query import TokenRule, price_query
from tpf.domain import QueryClass, Workload
from tpf.errors import CardError, DataError
from tpf.lengths import LengthDistribution, attach_lengths, from_lengths, lengths_from_per_question
from tpf.plan.options import StrategySpec, build_options


def quadratic_card() -> EnergyCard:
    """E = n_out + 0.01 * n_out^2 (J): convex in the output length."""
    card = EnergyCard("m", "gpu", CurveFit("bilinear", (0.0, 1.0, 0.0)), ValidRange((1, 1e4), (0, 1e4)))
    object.__setattr__(card, "energy_j", lambda n_in, n_out, b=1.0: np.asarray(n_out, float)
                       + 0.01 * np.asarray(n_out, float) ** 2 + 0 * np.asarray(n_in, float))
    return card


def test_expected_tokens_and_spread_of_min_length_and_budget():
    dist = LengthDistribution((10.0, 20.0, 30.0, 100.0))
    assert dist.expected_tokens(25) == pytest.approx((10 + 20 + 25 + 25) / 4)
    assert dist.spread_tokens(1000) == pytest.approx(np.std([10, 20, 30, 100]))
    assert dist.budget_table([25])[0][:2] == [25.0, pytest.approx(20.0)]
    with pytest.raises(CardError, match="ascending"):
        LengthDistribution((3.0, 1.0))
    with pytest.raises(CardError, match=">= 0"):
        LengthDistribution((-1.0, 1.0))


def test_energy_is_integrated_over_the_distribution_not_priced_at_its_mean():
    card = quadratic_card()
    dist = LengthDistribution((0.0, 100.0))
    cost = price_query(card, "c", "cot", 1000, 1, 10.0, TokenRule(0.0, dist), 1.0)
    assert cost.n_out_tokens_expected == pytest.approx(50.0)
    assert cost.energy_j == pytest.approx((0.0 + 100 + 100) / 2)  # E[C(L)] = 100, C(E[L]) = 75
    fallback = price_query(card, "c", "cot", 100, 1, 10.0, TokenRule(0.0, None, 0.5), 1.0)
    assert fallback.n_out_tokens_expected == pytest.approx(50.0)
    assert fallback.energy_j == pytest.approx(75.0)


def test_options_charge_generated_tokens_where_the_card_has_lengths():
    from tpf.simulate.demo_cards import demo_card

    curve = AccuracyCurve("demo-8b", "math", "cot", "constant", {"acc": 0.5})
    card = AccuracyCard([curve])
    with_lengths = attach_lengths(card, {("demo-8b", "math"): LengthDistribution((40.0, 60.0, 400.0))})
    workload = Workload((QueryClass("q", "math", 200.0, (1.0,)),), 1)
    energy = {"demo-8b": demo_card()}
    spec = StrategySpec(zero_shot=False, cot_budgets_tokens=(100,))
    charged = build_options(workload, energy, with_lengths, spec).table.iloc[0]
    budget = build_options(workload, energy, card, spec).table.iloc[0]
    assert charged["n_out_tokens"] == pytest.approx(1 + (40 + 60 + 100) / 3)
    assert budget["n_out_tokens"] == pytest.approx(101.0)
    assert charged["energy_j"] < budget["energy_j"]


def test_lengths_survive_a_card_round_trip(tmp_path):
    curve = AccuracyCurve("m", "law", "cot", "constant", {"acc": 0.4}, points=[[64.0, 0.4, 10]],
                          lengths=from_lengths(np.arange(100.0), 10, "synthetic"))
    path = save_card(AccuracyCard([curve]), tmp_path / "acc.yaml")
    loaded = load_card(path)
    assert isinstance(loaded, AccuracyCard)
    dist = loaded.lengths("m", "law")
    assert dist is not None and dist.quantiles_tokens == pytest.approx(curve.lengths.quantiles_tokens)
    assert "expected_tokens_per_budget" in path.read_text()


def test_per_question_table_needs_its_columns():
    table = pd.DataFrame({"category": ["a", "a", "b"], "cot_words": [10, 20, 30]})
    out = lengths_from_per_question(table, where="t.csv", tokens_per_word=2.0, n_quantiles=2)
    assert out["a"].expected_tokens(1e9) == pytest.approx(30.0)
    with pytest.raises(DataError, match="cot_words"):
        lengths_from_per_question(table.drop(columns="cot_words"), where="t.csv")


@pytest.mark.shared_data
def test_mmlu_pro_70b_writes_far_fewer_tokens_than_its_largest_budget(shared_data):
    path = shared_data / "accuracy" / "mmlu_pro_llama31_70b" / "per_question.csv"
    lengths = lengths_from_per_question(pd.read_csv(path), where=str(path))
    for dist in lengths.values():
        assert dist.expected_tokens(1362) < 0.5 * 1362


def test_fit_accuracy_cli_attaches_cot_lengths(tmp_path):
    from tpf.fit.cli_accuracy import main

    pd.DataFrame({"model": "m", "category": "law", "strategy": "cot", "budget_tokens": [64, 128, 256],
                  "votes": 1, "n_items": 100, "n_correct": [30, 40, 45]}).to_csv(tmp_path / "acc.csv", index=False)
    pd.DataFrame({"category": "law", "cot_words": [30, 60, 300]}).to_csv(tmp_path / "lengths.csv", index=False)
    out = tmp_path / "card.yaml"
    assert main(["fit", "--data", str(tmp_path / "acc.csv"), "--out", str(out), "--tokens-per-word", "1",
                 "--cot-lengths", f"m={tmp_path / 'lengths.csv'}"]) == 0
    card = load_card(out)
    assert isinstance(card, AccuracyCard)
    dist = card.lengths("m", "law")
    assert dist is not None
    assert dist.expected_tokens(128) == pytest.approx(from_lengths(np.array([30.0, 60.0, 300.0])).expected_tokens(128))
    assert 60 < dist.expected_tokens(128) < 128
    with pytest.raises(DataError, match="MODEL=CSV"):
        main(["fit", "--data", str(tmp_path / "acc.csv"), "--out", str(out), "--cot-lengths", "nolengths"])
