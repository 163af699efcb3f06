"""The delayed saturating family: evaluation, recovery, monotonicity, card round trip, auto choice."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tpf.cards import AccuracyCard, AccuracyCurve, evaluate_accuracy_family, load_card, save_card
from tpf.families import delayed_saturating
from tpf.fit.accuracy import AccuracyPriors, fit_accuracy
from tpf.fit.accuracy_families import CurvePoints, fit_delayed, fit_saturating

BUDGETS = np.array([0.0, 16, 32, 64, 128, 256, 512, 1024])
# a_0 = 0.11 (the random-guess value of a 10-option question, about), a_inf = 0.44,
# tau = 40 tokens, b0 = 24 tokens
A_0, A_INF, TAU, B0 = 0.11, 0.44, 40.0, 24.0


def _cot_table(budgets, accuracies, n_items=10**7, category="c"):
    return pd.DataFrame({"model": "m", "category": category, "strategy": "cot",
                         "budget_tokens": np.asarray(budgets, float), "votes": 1,
                         "n_items": n_items, "n_correct": np.asarray(accuracies) * n_items})


def test_family_evaluates_to_hand_computed_values():
    params = {"a_0": A_0, "a_inf": A_INF, "tau_tokens": TAU, "b0_tokens": B0}
    values = evaluate_accuracy_family("saturating_budget_delayed", params, [0, 10, 24, 64, 104])
    # flat at a_0 up to b0; at b0 + tau: a_inf - (a_inf - a_0) / e; at b0 + 2 tau: ... / e^2
    assert values == pytest.approx([0.11, 0.11, 0.11, 0.44 - 0.33 / math.e, 0.44 - 0.33 / math.e**2])
    assert values[3] == pytest.approx(0.318600, abs=1e-6)


def test_recovers_parameters_from_noiseless_delayed_data():
    table = _cot_table(BUDGETS, delayed_saturating(BUDGETS, A_0, A_INF, TAU, B0))
    curve = fit_accuracy(table, family="delayed").curve("m", "c", "cot")
    assert curve.family == "saturating_budget_delayed"
    assert curve.params["a_0"] == pytest.approx(A_0, abs=1e-6)
    assert curve.params["a_inf"] == pytest.approx(A_INF, abs=1e-6)
    assert curve.params["tau_tokens"] == pytest.approx(TAU, rel=1e-4)
    assert curve.params["b0_tokens"] == pytest.approx(B0, abs=1e-2)
    assert curve.accuracy(64) == pytest.approx(0.318600, abs=1e-5)
    assert curve.heldout_mae == pytest.approx(0.0, abs=1e-4)
    assert curve.source == "measured" and "fallback" not in curve.params


def test_delayed_fit_is_never_worse_than_the_saturating_fit():
    rng = np.random.default_rng(7)
    for _ in range(5):
        n = np.full(BUDGETS.size, 500.0)
        correct = rng.binomial(500, delayed_saturating(BUDGETS, 0.1, 0.6, 60.0, 20.0)).astype(float)
        points = CurvePoints(BUDGETS, n, correct)
        delayed, saturating = fit_delayed(points), fit_saturating(points)
        assert _nll(points, delayed_saturating(BUDGETS, delayed["a_0"], delayed["a_inf"], delayed["tau"],
                                               delayed["b_0"])) <= _nll(
            points, delayed_saturating(BUDGETS, saturating["a_0"], saturating["a_inf"], saturating["tau"], 0.0)
        ) + 1e-12


def _nll(points: CurvePoints, curve: np.ndarray) -> float:
    curve = np.clip(curve, 1e-12, 1 - 1e-12)
    wrong = points.n_items - points.n_correct
    return float(-(points.n_correct * np.log(curve) + wrong * np.log1p(-curve)).sum() / points.n_items.sum())


@settings(max_examples=12, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=4, max_size=7))
def test_fitted_delayed_curves_are_monotone_and_bounded(accuracies):
    xs = BUDGETS[: len(accuracies)]
    n = np.full(len(accuracies), 200.0)
    fit = fit_delayed(CurvePoints(xs, n, np.asarray(accuracies) * n))
    assert 0.0 <= fit["a_0"] <= fit["a_inf"] <= 1.0
    assert 0.0 <= fit["b_0"] <= xs[-2] and fit["tau"] > 0
    params = {"a_0": fit["a_0"], "a_inf": fit["a_inf"], "tau_tokens": fit["tau"], "b0_tokens": fit["b_0"]}
    values = evaluate_accuracy_family("saturating_budget_delayed", params, np.linspace(-10, 2000, 300))
    assert np.all(np.diff(values) >= -1e-12)
    assert np.all((values >= 0) & (values <= 1))


def test_card_with_the_delayed_family_round_trips(tmp_path):
    curve = AccuracyCurve("m", "math", "cot", "saturating_budget_delayed",
                          {"a_0": A_0, "a_inf": A_INF, "tau_tokens": TAU, "b0_tokens": B0},
                          n_items=500, x_range=(0.0, 512.0))
    path = save_card(AccuracyCard(curves=[curve]), tmp_path / "card.yaml")
    loaded = load_card(path)
    assert isinstance(loaded, AccuracyCard)
    again = loaded.curve("m", "math", "cot")
    assert again.family == "saturating_budget_delayed" and again.params == curve.params
    assert loaded.accuracy("m", "math", "cot", budget_tokens=64) == pytest.approx(0.318600, abs=1e-6)
    assert loaded.accuracy("m", "math", "cot", budget_tokens=20) == pytest.approx(A_0)


def test_auto_picks_the_delayed_family_on_delayed_data():
    rng = np.random.default_rng(3)
    exact = delayed_saturating(BUDGETS, A_0, A_INF, TAU, B0)
    table = _cot_table(BUDGETS, rng.binomial(2000, exact) / 2000, n_items=2000)
    curve = fit_accuracy(table, family="auto").curve("m", "c", "cot")
    assert curve.family == "saturating_budget_delayed"
    scores = curve.params["auto_heldout_mae"]
    assert set(scores) == {"saturating", "delayed", "interpolated"}
    assert curve.heldout_mae == pytest.approx(scores["delayed"])
    assert scores["delayed"] < min(scores["saturating"], scores["interpolated"])


def test_auto_and_delayed_keep_the_saturating_family_with_three_budgets():
    budgets = np.array([0.0, 64, 512])
    table = _cot_table(budgets, delayed_saturating(budgets, A_0, A_INF, TAU, B0), n_items=2000)
    auto = fit_accuracy(table, family="auto").curve("m", "c", "cot")
    assert auto.family != "saturating_budget_delayed"
    assert "delayed" not in auto.params["auto_heldout_mae"]
    asked = fit_accuracy(table, family="delayed").curve("m", "c", "cot")
    assert asked.family == "saturating_budget"
    assert "fewer than 4 distinct budgets" in asked.params["family_note"]


def test_delayed_is_not_used_for_vote_curves():
    votes = np.array([1, 2, 4, 8, 16])
    acc = 0.52 - 0.12 * np.exp(-(votes - 1) / 2.5)
    table = pd.DataFrame({"model": "m", "category": "c", "strategy": "mv", "budget_tokens": 0.0,
                          "votes": votes, "n_items": 10**6, "n_correct": acc * 10**6})
    assert fit_accuracy(table, family="delayed").curve("m", "c", "mv").family == "saturating_votes"
    auto = fit_accuracy(table, family="auto").curve("m", "c", "mv")
    assert "delayed" not in auto.params["auto_heldout_mae"]


def test_fallback_with_a_delay_prior_passes_through_both_points():
    table = pd.concat([
        pd.DataFrame({"model": "m", "category": "c", "strategy": "zero_shot", "budget_tokens": [0.0],
                      "votes": 1, "n_items": 1000, "n_correct": 300}),
        _cot_table([512], [0.50], n_items=1000),
    ])
    key = ("m", "c", "cot")
    priors = AccuracyPriors(per_curve_tau={key: 50.0}, per_curve_b0_tokens={key: 30.0},
                            per_curve_note={key: "from elsewhere"})
    curve = fit_accuracy(table, priors=priors).curve(*key)
    assert curve.family == "saturating_budget_delayed"
    assert curve.params["tau_tokens"] == 50.0 and curve.params["b0_tokens"] == 30.0
    # through (0, 0.30) and (512, 0.50): a_inf = 0.3 + 0.2 / (1 - exp(-(512 - 30) / 50))
    assert curve.params["a_inf"] == pytest.approx(0.3 + 0.2 / (1 - math.exp(-9.64)), abs=1e-6)
    assert curve.accuracy(30) == pytest.approx(0.30, abs=1e-6)
    assert curve.accuracy(512) == pytest.approx(0.50, abs=1e-6)
    assert curve.source == "estimate" and "b0 at 30 tokens (from elsewhere)" in curve.params["fallback"]


def test_delayed_fit_reaches_the_likelihood_of_a_nelder_mead_reference():
    minimize = pytest.importorskip("scipy.optimize").minimize
    rng = np.random.default_rng(11)
    budgets = np.array([0.0, 21, 43, 64, 85, 128, 170, 255, 340, 511, 681])
    for truth in ((0.11, 0.44, 45.0, 30.0), (0.2, 0.8, 120.0, 10.0), (0.05, 0.6, 20.0, 60.0)):
        n = np.full(budgets.size, 800.0)
        points = CurvePoints(budgets, n, rng.binomial(800, delayed_saturating(budgets, *truth)).astype(float))
        fit = fit_delayed(points)
        ours = _nll(points, delayed_saturating(budgets, fit["a_0"], fit["a_inf"], fit["tau"], fit["b_0"]))
        start = np.array([truth[0], truth[1] - truth[0], math.log(truth[2]), truth[3]])
        reference = minimize(_bounded_nll, start, args=(points,), method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-14, "maxfev": 20000})
        assert ours <= reference.fun + 1e-9


def _bounded_nll(z: np.ndarray, points: CurvePoints) -> float:
    """NLL of (a_0, a_inf - a_0, log tau, b0); 1e9 outside the bounds of fit_delayed."""
    a_0, gain, log_tau, b_0 = z
    if not (a_0 >= 0 and gain >= 0 and a_0 + gain <= 1 and 0 <= b_0 <= np.unique(points.x)[-2]):
        return 1e9
    return _nll(points, delayed_saturating(points.x, a_0, a_0 + gain, math.exp(log_tau), b_0))


def test_the_default_family_is_auto():
    rng = np.random.default_rng(3)
    exact = delayed_saturating(BUDGETS, A_0, A_INF, TAU, B0)
    table = _cot_table(BUDGETS, rng.binomial(2000, exact) / 2000, n_items=2000)
    default = fit_accuracy(table).curve("m", "c", "cot")
    assert default.family == "saturating_budget_delayed"
    assert default == fit_accuracy(table, family="auto").curve("m", "c", "cot")
