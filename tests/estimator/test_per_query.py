"""Per-query routing by text: prices trade accuracy for energy, the controller keeps a budget."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.policy.conftest import make_policy
from tpf.cards import load_card
from tpf.estimator.energy import EnergySurface, input_tokens
from tpf.estimator.model import TextEstimator, lognormal_cdf, lognormal_mean_capped
from tpf.policy import load_policy, policy_problems, policy_to_dict
from tpf.policy.format import Decision, Prices
from tpf.policy.per_query import PriceController, TextRouter, text_options, text_router_from_policy
from tpf.policy.prices import PlanPeriods, prices_from_plan, prices_from_shadow_prices

CARD_8B = Path(__file__).resolve().parents[2] / "tpf" / "data" / "cards" / "llama-3.1-8b@l40s.yaml"


@pytest.fixture(scope="module")
def surface() -> EnergySurface:
    return EnergySurface.from_card(load_card(CARD_8B), batch_size=8)


def _router(estimator: TextEstimator, surface: EnergySurface, price: float) -> TextRouter:
    decisions = [Decision("llama-3.1-8b", "cot", b) for b in (64, 512, 2048)]
    decisions.append(Decision("llama-3.1-8b", "zero_shot", 8))
    options = text_options(decisions, estimator, {"llama-3.1-8b": surface},
                           lambda d, c: 0.3 if d.strategy == "zero_shot" else None,
                           lambda d, c: 5.0 if d.strategy == "zero_shot" else None)
    return TextRouter(estimator, options, Prices((price,)))


def test_surface_matches_the_card_where_requests_are(surface: EnergySurface) -> None:
    card = load_card(CARD_8B)
    for n_in, n_out in ((100, 50), (400, 300), (2000, 1500)):
        assert surface.energy_j(n_in, n_out) == pytest.approx(float(card.energy_j(n_in, n_out, 8)), rel=0.03)
    assert 0 <= surface.max_relative_error < 0.15
    assert input_tokens("") == 1.0 and input_tokens("a b c") == pytest.approx(3 * 1.33)


def test_lognormal_helpers_match_monte_carlo() -> None:
    draws = np.exp(np.random.default_rng(0).normal(4.0, 0.8, 400_000))
    assert lognormal_mean_capped(4.0, 0.8, 100.0) == pytest.approx(np.minimum(draws, 100).mean(), rel=0.01)
    assert lognormal_cdf(4.0, 0.8, 100.0) == pytest.approx(np.mean(draws <= 100), abs=0.005)
    assert lognormal_cdf(4.0, 0.0, 100.0) == 1.0 and lognormal_cdf(4.0, 0.8, 0.0) == 0.0


def test_no_price_picks_accuracy_a_high_price_picks_energy(estimator: TextEstimator, surface: EnergySurface) -> None:
    text = "which cell protein gene best describes easy"
    free = _router(estimator, surface, 0.0).route_text(text)
    dear = _router(estimator, surface, 1.0).route_text(text)
    assert free.decision.strategy == "cot" and free.accuracy > 0.3
    assert dear.decision.strategy == "zero_shot"
    assert dear.energy_j < free.energy_j
    assert free.category == "biology" and free.fallback == ""


def test_runaway_prediction_caps_the_budget(estimator: TextEstimator, surface: EnergySurface) -> None:
    router = _router(estimator, surface, 0.0)
    _, _, easy = router.option_figures("which cell protein gene best describes easy")
    _, _, hard = router.option_figures("which cell protein gene best describes hard")
    assert hard[2][1] > easy[2][1]  # more output tokens expected at the 2048 budget
    price = 0.5 * (hard[1][0] - hard[0][0]) / (hard[1][2] - hard[0][2])  # between the two smallest budgets
    router = _router(estimator, surface, abs(price))
    assert router.route_text("which cell protein gene best describes hard").decision.max_new_tokens <= 512


@pytest.mark.parametrize("raw", ["", b"\xff\xfe", "x" * 100_000, None, 3.5, "日本語の質問です"])
@pytest.mark.parametrize("hour, carbon", [(None, None), (float("nan"), "high"), (10**30, -5.0), ("7", 300)])
def test_bad_input_never_raises(estimator: TextEstimator, surface: EnergySurface, raw: object,
                                hour: object, carbon: object) -> None:
    decision = _router(estimator, surface, 1e-4).route_text(raw, hour=hour, carbon_g_per_kwh=carbon)
    assert math.isfinite(decision.energy_j) and 0 <= decision.accuracy <= 1
    if raw in ("", None, b"\xff\xfe"):
        assert decision.fallback in ("empty", "non_utf8")


def test_carbon_price_uses_request_intensity_or_the_plan_reference(estimator: TextEstimator,
                                                                   surface: EnergySurface) -> None:
    router = _router(estimator, surface, 0.0)
    router.prices = Prices((1e-6,) * 24, accuracy_per_g_co2=0.01, pue=1.5, carbon_g_per_kwh=(100.0,) * 24)
    assert router.price_per_j(3, 400.0) == pytest.approx(1e-6 + 0.01 * 1.5 * 400.0 / 3.6e6)
    assert router.price_per_j(3, None) == pytest.approx(1e-6 + 0.01 * 1.5 * 100.0 / 3.6e6)


def test_controller_raises_the_price_when_spending_runs_over(estimator: TextEstimator, surface: EnergySurface) -> None:
    router = _router(estimator, surface, 1e-5)
    controller = PriceController(router, step=0.5)
    assert controller.update(spent_j=200.0, budget_j=100.0) == pytest.approx(math.exp(0.5))
    assert controller.update(spent_j=50.0, budget_j=100.0) == pytest.approx(math.exp(0.5 - 0.25))
    assert controller.update(spent_j=float("nan"), budget_j=100.0) == pytest.approx(math.exp(0.25))


def test_controller_keeps_a_budget_on_a_drifting_stream(estimator: TextEstimator, surface: EnergySurface) -> None:
    """Texts grow longer along the stream: the fixed price misses the budget, the update meets it."""
    texts = ["which cell gene best describes easy " + "of the " * (i // 4) for i in range(400)]
    budget_j = 0.6 * float(np.mean([_router(estimator, surface, 0.0).route_text(t).energy_j for t in texts]))
    spent = {}
    for step in (0.0, 1.0):
        router = _router(estimator, surface, 0.015)
        controller, spent[step] = PriceController(router, step=step), 0.0
        for start in range(0, 400, 20):
            window = sum(router.route_text(t).energy_j for t in texts[start:start + 20])
            controller.update(window, budget_j * 20)
            spent[step] += window
    assert abs(spent[0.0] / (400 * budget_j) - 1) > 0.3
    assert spent[1.0] == pytest.approx(400 * budget_j, rel=0.05)


def test_policy_carries_prices() -> None:
    data = policy_to_dict(make_policy())
    data["prices"] = {"accuracy_per_it_j": [1e-6] * 24, "accuracy_per_g_co2": 1e-3, "pue": 1.2,
                      "carbon_g_per_kwh": [300.0], "budget_it_j_per_query": 120.0, "source": "plan duals"}
    policy = load_policy(data)
    assert policy.prices is not None and policy.prices.energy_price(5) == 1e-6
    assert policy_to_dict(policy)["prices"]["budget_it_j_per_query"] == 120.0
    data["prices"]["accuracy_per_it_j"] = [1e-6, 2e-6]
    assert any("accuracy_per_it_j: must hold 1 value" in p for p in policy_problems(data))


def test_batch_routing_matches_one_by_one(estimator: TextEstimator, surface: EnergySurface) -> None:
    router = _router(estimator, surface, 3e-3)
    texts = ["which cell gene best describes easy", "the treaty of the empire hard", "", b"\xff",
             "integral matrix prime " * 30, "日本語"]
    batch = router.route_texts(texts, hour=5, carbon_g_per_kwh=200.0)
    for text, together in zip(texts, batch, strict=True):
        alone = router.route_text(text, hour=5, carbon_g_per_kwh=200.0)
        assert together.decision == alone.decision and together.fallback == alone.fallback
        assert together.accuracy == pytest.approx(alone.accuracy, abs=1e-6)
        assert together.energy_j == pytest.approx(alone.energy_j, rel=1e-6)


def test_prices_from_shadow_prices_by_hand() -> None:
    # 1000 queries; 0.5 points per kWh on the day's energy, 0.2 more in period 1 (hour 7),
    # 2 points per kW of facility power in period 0 (PUE 1.5, 1-hour periods), 0.1 point per kgCO2
    prices = prices_from_shadow_prices(
        {"it_energy_horizon": 0.5, "it_energy_period[1]": 0.2, "facility_power_cap[0]": 2.0,
         "carbon_budget": 0.1, "demand[x,0]": 9.0, "gpu_capacity[m,0]": 0.0},
        PlanPeriods(total_queries=1000, period_hours=[6, 7], pue=[1.5, 1.5], carbon_g_per_kwh=[100.0, 300.0],
                    budget_it_j_per_query=50.0))
    per_j = 1000 / 100 / 3.6e6
    assert prices.energy_price(6) == pytest.approx((0.5 + 2.0 * 1.5) * per_j)
    assert prices.energy_price(7) == pytest.approx((0.5 + 0.2) * per_j)
    assert prices.energy_price(20) == pytest.approx((0.5 + 2.0 * 1.5 + 0.5 + 0.2) / 2 * per_j)
    assert prices.accuracy_per_g_co2 == pytest.approx(0.1 * 1000 / 100 / 1000)
    assert prices.carbon_intensity(7) == 300.0 and prices.pue == 1.5
    with pytest.raises(ValueError, match="total_queries"):
        prices_from_shadow_prices({}, PlanPeriods(0, [0], [1.0], [0.0]))


def test_prices_of_a_min_energy_plan_invert_the_accuracy_target_dual() -> None:
    prices = prices_from_plan("min_facility_energy", {"accuracy_target": 0.5},
                              PlanPeriods(1000, [0, 1], [1.2, 1.4], [100.0, 200.0]))
    assert prices is not None
    assert prices.energy_price(1) == pytest.approx(1000 / 100 / 0.5 * 1.4 / 3.6e6)
    carbon = prices_from_plan("min_carbon", {"accuracy_target": 2.0}, PlanPeriods(1000, [0], [1.0], [100.0]))
    assert carbon is not None and carbon.accuracy_per_g_co2 == pytest.approx(1000 / 100 / 2.0 / 1000)
    assert prices_from_plan("min_it_energy", {}, PlanPeriods(1000, [0], [1.0], [100.0])) is None


def test_run_policy_gets_the_plan_prices() -> None:
    from types import SimpleNamespace

    from tpf.run.steps import _with_prices

    result = SimpleNamespace(objective_name="max_accuracy", totals={"queries": 3600.0, "it_energy_kwh": 0.1},
                             shadow_prices={"it_energy_horizon": 2.0})
    policy = _with_prices(make_policy(), result, [0, 1], [1.2, 1.2], [300.0, 100.0], 3600.0)
    assert policy.prices.budget_it_j_per_query == pytest.approx(100.0)
    assert policy.prices.energy_price(1) == pytest.approx(2.0 * 3600 / 100 / 3.6e6)
    assert policy_problems(policy_to_dict(policy)) == []
    unpriced = SimpleNamespace(objective_name="min_it_energy", totals={"queries": 10.0}, shadow_prices={})
    assert _with_prices(make_policy(), unpriced, [0], [1.0], [0.0], 3600.0).prices is None


def test_text_router_from_a_priced_policy(estimator: TextEstimator, surface: EnergySurface) -> None:
    import dataclasses

    policy = make_policy()
    with pytest.raises(ValueError, match="no prices"):
        text_router_from_policy(policy, estimator, {}, lambda d, c: None, lambda d, c: None)
    policy = dataclasses.replace(policy, prices=Prices((1e-4,)))
    surfaces = {model: surface for model in policy.models}
    router = text_router_from_policy(policy, estimator, surfaces, lambda d, c: 0.5, lambda d, c: 10.0)
    named = {c.decision for cls in policy.classes for c in cls.choices}
    assert named <= {option.decision for option in router.options}
    assert router.route_text("which cell gene").decision in {option.decision for option in router.options}
