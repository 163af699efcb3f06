"""An anchor knows the request shape it measured: other shapes are priced by the card's own ratio."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tpf.anchors import EnergyAnchor
from tpf.cards import EnergyCard, load_card
from tpf.cost.pricing import STRATEGY_CODES, query_curves
from tpf.cost.query import TokenRule, anchor_factors, price_query
from tpf.errors import CardError
from tpf.published_energy import PUBLISHED_CARDS_DIR

CARD_8B = PUBLISHED_CARDS_DIR / "llama-3.1-8b@l40s.yaml"


def _zero_shot(card: EnergyCard, n_in: float, n_out: float, batch: float = 1.0):
    return price_query(card, "economics", "zero_shot", 0, 1, n_in, TokenRule(n_out), batch)


def test_a_212_token_answer_costs_the_cards_ratio_times_the_one_token_anchor():
    card = load_card(CARD_8B)
    anchor = next(a for a in card.anchors if a.category == "economics" and a.strategy == "zero_shot")
    assert anchor.has_shape and anchor.n_out_tokens == 1.0 and anchor.batch_size == 1
    at_anchor = _zero_shot(card, anchor.n_in_tokens, 1.0)
    assert at_anchor.energy_j == pytest.approx(anchor.energy_j, rel=1e-12)
    assert at_anchor.anchor_extrapolation == pytest.approx(1.0)
    long = _zero_shot(card, 200.0, 212.0)
    ratio = float(card.energy_j(200.0, 212.0, 1.0) / card.energy_j(anchor.n_in_tokens, 1.0, 1.0))
    assert long.energy_j == pytest.approx(anchor.energy_j * ratio, rel=1e-12)
    assert long.anchor_extrapolation == pytest.approx(ratio)
    assert 100 < ratio < 150  # two orders of magnitude, not the anchor's own figure
    assert "x122" in long.energy_basis


def test_an_anchor_without_a_shape_prices_at_the_requests_tokens_and_says_so():
    card = load_card(CARD_8B)
    bare = [dataclasses.replace(a, n_in_tokens=None, n_out_tokens=None) for a in card.anchors]
    old = dataclasses.replace(card, anchors=bare)
    cost = _zero_shot(old, 200.0, 212.0)
    anchor = next(a for a in bare if a.category == "economics")
    assert cost.energy_j == pytest.approx(anchor.energy_j)
    assert "anchor shape unknown" in cost.energy_basis


def test_anchor_shape_round_trips_and_bad_shapes_are_refused():
    card = load_card(CARD_8B)
    again = EnergyCard.from_dict(card.to_dict())
    assert again.anchors == card.anchors
    with pytest.raises(CardError, match="n_out_tokens"):
        EnergyAnchor("math", "zero_shot", 10.0, n_in_tokens=100.0, n_out_tokens=0.0)
    with pytest.raises(CardError, match="n_in_tokens"):
        EnergyAnchor("math", "zero_shot", 10.0, n_in_tokens=-1.0, n_out_tokens=1.0)


@pytest.mark.parametrize("strategy, budget, votes", [("zero_shot", 0, 1), ("cot", 256, 1), ("mv", 0, 16)])
def test_per_request_factors_give_the_option_tables_price(strategy, budget, votes):
    card = load_card(PUBLISHED_CARDS_DIR / "llama-3.2-1b@l40s.yaml")
    n_in, n_answer, batch = 300.0, 40.0, 4.0
    cost = price_query(card, "math", strategy, budget, votes, n_in, TokenRule(n_answer), batch)
    n_dec = n_answer + (budget if strategy != "zero_shot" else 0)
    curves = query_curves(card, np.array([n_in]), np.array([float(n_dec)]), np.array([float(votes)]))
    factor = anchor_factors(card, np.array(["math"], dtype=object), np.array([STRATEGY_CODES[strategy]]),
                            np.array([float(budget)]), np.array([float(votes)]), np.array([n_in]),
                            np.array([n_answer]), curves)
    assert float(curves.energy_j(batch)[0] * factor[0]) == pytest.approx(cost.energy_j, rel=1e-9)
