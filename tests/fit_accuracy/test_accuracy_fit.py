"""Accuracy curve fitting: recovery, monotonicity, fallback rule, intervals, held-out error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tpf.cards import AccuracyCard, AccuracyCurve
from tpf.errors import FitError
from tpf.fit.accuracy import (
    AccuracyPriors,
    CurvePoints,
    CurveRule,
    card_options,
    fit_accuracy,
    fit_isotonic,
    leave_one_x_out_mae,
    saturating,
)

BUDGETS = np.array([0.0, 16, 32, 64, 128, 256, 512, 1024])


def _table(strategy: str, xs, accuracies, n_items=10**7, model="m", category="c", budget=0.0):
    rows = []
    for x, acc in zip(xs, accuracies, strict=True):
        votes, budget_tokens = (int(x), budget) if strategy == "mv" else (1, float(x))
        rows.append({"model": model, "category": category, "strategy": strategy,
                     "budget_tokens": budget_tokens, "votes": votes,
                     "n_items": n_items, "n_correct": acc * n_items})
    return pd.DataFrame(rows)


def test_cot_recovers_saturating_parameters_from_noiseless_data():
    table = _table("cot", BUDGETS, saturating(BUDGETS, 0.2, 0.7, 90.0))
    curve = fit_accuracy(table).curve("m", "c", "cot")
    assert curve.family == "saturating_budget"
    assert curve.params["a_0"] == pytest.approx(0.2, abs=1e-6)
    assert curve.params["a_inf"] == pytest.approx(0.7, abs=1e-6)
    assert curve.params["tau_tokens"] == pytest.approx(90.0, rel=1e-5)
    assert curve.heldout_mae == pytest.approx(0.0, abs=1e-6)
    assert curve.x_range == (0.0, 1024.0)
    assert "fallback" not in curve.params and curve.source == "measured"


def test_mv_recovers_vote_curve_from_noiseless_data():
    votes = np.array([1, 2, 4, 8, 16])
    table = _table("mv", votes, saturating(votes - 1.0, 0.40, 0.52, 2.5))
    curve = fit_accuracy(table).curve("m", "c", "mv")
    assert curve.family == "saturating_votes"
    assert curve.params["a_1"] == pytest.approx(0.40, abs=1e-6)
    assert curve.params["a_inf"] == pytest.approx(0.52, abs=1e-6)
    assert curve.params["tau_votes"] == pytest.approx(2.5, rel=1e-4)
    assert curve.accuracy(1) == pytest.approx(0.40, abs=1e-6)


def test_zero_shot_is_the_pooled_accuracy():
    table = pd.DataFrame({"model": "m", "category": "c", "strategy": "zero_shot",
                          "budget_tokens": [0, 0], "votes": 1, "n_items": [100, 300],
                          "n_correct": [30, 150]})
    curve = fit_accuracy(table).curve("m", "c", "zero_shot")
    assert curve.family == "constant"
    assert curve.params["acc"] == pytest.approx(180 / 400)
    assert curve.n_items == 400


def test_two_budgets_use_zero_shot_anchor_and_tau_prior():
    table = pd.concat([
        _table("zero_shot", [0], [0.30], n_items=1000),
        _table("cot", [512], [0.50], n_items=1000),
    ])
    card = fit_accuracy(table, priors=AccuracyPriors(tau_tokens=100.0))
    curve = card.curve("m", "c", "cot")
    # through (0, 0.30) and (512, 0.50) with tau = 100: a_inf = 0.3 + 0.2 / (1 - exp(-5.12))
    assert curve.params["tau_tokens"] == pytest.approx(100.0)
    assert curve.params["a_inf"] == pytest.approx(0.30 + 0.20 / (1 - math.exp(-5.12)), abs=1e-6)
    assert curve.accuracy(0) == pytest.approx(0.30, abs=1e-6)
    assert curve.accuracy(512) == pytest.approx(0.50, abs=1e-6)
    assert "anchor" in curve.params and "fallback" in curve.params
    assert curve.source == "estimate"
    assert curve.heldout_mae is None  # two points: nothing to hold out
    assert card.fit_quality["n_fallback_curves"] == 1


def test_mv_anchor_is_zero_shot_at_one_vote():
    table = pd.concat([_table("zero_shot", [0], [0.40], 1000), _table("mv", [16], [0.46], 1000)])
    curve = fit_accuracy(table, priors=AccuracyPriors(tau_votes=3.0)).curve("m", "c", "mv")
    assert curve.accuracy(1) == pytest.approx(0.40, abs=1e-6)
    assert curve.accuracy(16) == pytest.approx(0.46, abs=1e-6)
    assert curve.x_range == (1.0, 16.0)


def test_per_curve_tau_overrides_the_default_prior():
    table = pd.concat([_table("zero_shot", [0], [0.3], 1000), _table("cot", [512], [0.5], 1000)])
    priors = AccuracyPriors(tau_tokens=100.0, per_curve_tau={("m", "c", "cot"): 40.0},
                            per_curve_note={("m", "c", "cot"): "from elsewhere"})
    curve = fit_accuracy(table, priors=priors).curve("m", "c", "cot")
    assert curve.params["tau_tokens"] == pytest.approx(40.0)
    assert "from elsewhere" in curve.params["fallback"]


def test_decreasing_data_gives_a_flat_curve_not_a_falling_one():
    table = _table("cot", [0, 128, 512], [0.6, 0.5, 0.4], n_items=1000)
    curve = fit_accuracy(table).curve("m", "c", "cot")
    values = curve.accuracy(np.linspace(0, 512, 50))
    assert np.all(np.diff(values) >= -1e-12)
    assert curve.params["a_inf"] >= curve.params["a_0"]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=7), st.sampled_from(["saturating", "interpolated"]))
def test_fitted_curves_are_monotone_and_bounded(accuracies, family):
    xs = BUDGETS[: len(accuracies)]
    table = _table("cot", xs, accuracies, n_items=200)
    curve = fit_accuracy(table, family=family).curve("m", "c", "cot")
    values = curve.accuracy(np.linspace(0, 2000, 200))
    assert np.all(np.diff(values) >= -1e-12)
    assert np.all((values >= 0) & (values <= 1))


def test_isotonic_pools_violators_by_weight():
    points = CurvePoints(np.array([0.0, 1, 2]), np.array([100.0, 300, 100]), np.array([50.0, 90, 80]))
    knots = fit_isotonic(points)
    # 0.5 > 0.3 violates: pooled (50 + 90) / 400 = 0.35 for the first two; 0.8 stays
    assert knots["knots_acc"] == pytest.approx([0.35, 0.35, 0.8])


def test_leave_one_out_error_sees_a_point_off_the_curve():
    xs = np.array([0.0, 64, 128, 256, 512])
    exact = saturating(xs, 0.2, 0.6, 80.0)
    clean = CurvePoints(xs, np.full(5, 1e6), exact * 1e6)
    bumped = exact.copy()
    bumped[2] += 0.1
    dirty = CurvePoints(xs, np.full(5, 1e6), bumped * 1e6)
    rule = CurveRule("saturating")
    assert leave_one_x_out_mae(clean, rule, 90.0) == pytest.approx(0.0, abs=1e-5)
    assert leave_one_x_out_mae(dirty, rule, 90.0) > 0.02


def test_wilson_interval_shrinks_with_item_count():
    widths = []
    for n_items in (50, 500, 5000):
        curve = AccuracyCurve("m", "c", "zero_shot", "constant", {"acc": 0.4}, n_items=n_items)
        low, high = curve.interval(0)
        assert low < 0.4 < high
        widths.append(float(high - low))
    assert widths[0] > widths[1] > widths[2]
    # normal approximation of the half width at n = 5000: 1.96 * sqrt(0.24 / 5000) = 0.01358
    assert widths[2] / 2 == pytest.approx(1.96 * math.sqrt(0.24 / 5000), rel=0.01)


def test_mv_rows_with_several_budgets_are_refused():
    table = pd.concat([_table("mv", [1, 4], [0.4, 0.5], 100, budget=0.0),
                       _table("mv", [8], [0.5], 100, budget=128.0)])
    with pytest.raises(FitError, match="several budget_tokens"):
        fit_accuracy(table)


def test_unknown_family_is_refused():
    with pytest.raises(FitError, match="family"):
        fit_accuracy(_table("cot", [0, 1, 2], [0.1, 0.2, 0.3]), family="cubic")


def test_card_options_offer_only_curves_the_card_has():
    card = AccuracyCard(curves=[
        AccuracyCurve("small", "math", "zero_shot", "constant", {"acc": 0.1}, n_items=100),
        AccuracyCurve("small", "math", "cot", "saturating_budget",
                      {"a_0": 0.1, "a_inf": 0.3, "tau_tokens": 80.0}, n_items=100, x_range=(0, 256)),
        AccuracyCurve("big", "math", "zero_shot", "constant", {"acc": 0.4}, n_items=100),
    ])
    options = card_options(card, cot_budgets_tokens=(64, 128, 256, 512))
    assert set(options[options["model"] == "big"]["strategy"]) == {"zero_shot"}
    cot = options[options["strategy"] == "cot"]
    assert list(cot["budget_tokens"]) == [64, 128, 256]  # 512 is outside the fitted range
    assert np.all(np.diff(cot["accuracy"]) > 0)


def test_per_item_rows_fit_like_their_aggregate():
    rng = np.random.default_rng(1)
    items = []
    for budget, acc in ((0, 0.2), (128, 0.4), (512, 0.5)):
        correct = rng.random(200) < acc
        items += [{"model": "m", "category": "c", "strategy": "cot", "budget_tokens": budget,
                   "votes": 1, "item_id": f"q{i}", "correct": bool(flag)} for i, flag in enumerate(correct)]
    per_item = pd.DataFrame(items)
    aggregated = per_item.groupby("budget_tokens")["correct"].agg(["size", "sum"]).reset_index()
    table = pd.DataFrame({"model": "m", "category": "c", "strategy": "cot",
                          "budget_tokens": aggregated["budget_tokens"], "votes": 1,
                          "n_items": aggregated["size"], "n_correct": aggregated["sum"]})
    from_items = fit_accuracy(per_item, family="saturating").curve("m", "c", "cot")
    from_counts = fit_accuracy(table, family="saturating").curve("m", "c", "cot")
    assert from_items.params == pytest.approx(from_counts.params)
    assert from_items.n_items == 200
