"""Per-query routing by text: estimated accuracy minus the plan's prices times energy and carbon.

:class:`TextRouter` holds a text estimator (:mod:`tpf.estimator.model`), a menu
of options (each a :class:`~tpf.policy.format.Decision` with the energy
surface of its model at the operating point) and the plan's
:class:`~tpf.policy.format.Prices`. ``route_text(text, hour, carbon_g_per_kwh)``
estimates, per option:

* accuracy: where the estimator has heads for the option's model and the
  option is a single chain of thought (``cot``, one vote), from the query's
  ``P(correct)``, ``P(runaway)`` and its log-normal length distribution: a
  chain of thought longer than the budget, or a runaway, scores the model's
  runaway accuracy (about chance),
  ``acc = (1 - r) * (p_ok * F(b) + chance * (1 - F(b))) + r * chance`` with
  ``p_ok = (p - r * chance) / (1 - r)`` and ``F`` the length CDF at the budget
  ``b``; otherwise the option's per-class accuracy (from a card) weighted by
  the class probabilities;
* output tokens: the expected length capped at the budget (runaways at the
  budget or their median length), or the per-class figures;
* IT energy: the energy surface at the estimated input and output tokens,

and returns the option maximizing ``accuracy - price_scale * (accuracy_per_it_j[hour]
+ accuracy_per_g_co2 * pue * carbon_g_per_kwh / 3.6e6) * energy_j``. A runaway
prediction thus lowers the budget chosen or moves the query to another model.
:class:`PriceController` scales the prices by multiplicative dual ascent on
observed energy so that spending tracks the budget when the mix drifts.

Bad input never raises: empty, non-UTF-8, huge or non-text input is cleaned
(:func:`tpf.estimator.text.clean_text`) and the decision says which fallback
applied; a text with no usable words is routed on the training priors; an hour
or intensity that is not a finite number counts as absent (the plan's
reference intensity is used). This module loads numpy (the estimator's
weights); ``tpf.policy`` and its :class:`~tpf.policy.router.Router` do not.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tpf.domain import J_PER_KWH
from tpf.errors import EstimatorError
from tpf.estimator.energy import EnergySurface, input_tokens
from tpf.estimator.model import (
    TOKENS_PER_WORD,
    TextEstimate,
    TextEstimator,
    lognormal_arrays,
    lognormal_cdf,
    lognormal_mean_capped,
)
from tpf.estimator.text import clean_text
from tpf.policy.format import Decision, Policy, Prices

_ROOT2 = math.sqrt(2.0)
AccuracyLookup = Callable[[Decision, str], "float | None"]


@dataclass(frozen=True)
class TextOption:
    """One routable option: its decision, energy surface and per-class fallbacks (estimator class order)."""

    decision: Decision
    energy: EnergySurface
    class_accuracy: tuple[float, ...]
    class_output_tokens: tuple[float, ...]


@dataclass(frozen=True)
class TextDecision:
    """The decision for one text with what it was chosen on (estimates, not measurements)."""

    decision: Decision
    option_index: int
    accuracy: float
    energy_j: float
    output_tokens: float
    input_tokens: float
    category: str
    fallback: str = ""


@dataclass(frozen=True)
class _Compiled:
    head: int | None  # estimator model index when the option uses per-query heads
    budget_words: float
    chance: float
    sigma: float
    runaway_words: float
    log_budget: float


def _number_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


class TextRouter:
    """Route queries by their text (see the module docstring)."""

    def __init__(self, estimator: TextEstimator, options: Sequence[TextOption], prices: Prices):
        if not options:
            raise EstimatorError("a text router needs at least one option")
        for option in options:
            if len(option.class_accuracy) != estimator.n_classes or \
                    len(option.class_output_tokens) != estimator.n_classes:
                raise EstimatorError(f"option {option.decision}: per-class figures must follow the "
                                 f"estimator's {estimator.n_classes} classes")
        self.estimator = estimator
        self.options = tuple(options)
        self.prices = prices
        self.price_scale = 1.0
        #: estimator label -> policy category, set by :meth:`from_policy`
        self.label_categories: dict[str, str] = {}
        self.policy: Policy | None = None
        self._compiled = tuple(self._compile(option.decision) for option in self.options)

    @classmethod
    def from_policy(cls, policy: Policy | str | os.PathLike[str], estimator: Any = None,
                    cards: Sequence[str | os.PathLike[str]] | None = None, batch_size: float = 16.0,
                    category_map: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> TextRouter:
        """A router over every decision of a policy (file or object), priced with its ``prices``.

        ``estimator``: a :class:`~tpf.estimator.model.TextEstimator`, an estimator folder, or None
        for the shipped one; ``cards``: card files (default: the packaged cards the policy's
        provenance names, matched by sha256). See :mod:`tpf.policy.per_query_build`.
        """
        from tpf.estimator.model import load_estimator
        from tpf.policy.per_query_build import build_text_router
        from tpf.policy.validate import load_policy

        if estimator is None or isinstance(estimator, (str, os.PathLike)):
            estimator = load_estimator(None if estimator in (None, "shipped") else estimator)
        return build_text_router(load_policy(policy), estimator, cards, batch_size, category_map)

    def policy_class(self, decision: TextDecision) -> str:
        """The policy class of a routed text: its label's category (:attr:`label_categories`) and input
        tokens, as :class:`tpf.policy.Router` buckets them; the value of ``x-tpf-class``."""
        if self.policy is None:
            raise EstimatorError("policy_class needs a router built with TextRouter.from_policy")
        from tpf.policy.router import Router

        category = self.label_categories[decision.category]
        return Router(self.policy).class_name(category, int(decision.input_tokens))

    def _model_index(self, model: str) -> int | None:
        """The estimator's index of a model, names compared case-insensitively."""
        key = model.strip().lower()
        for index, stats in enumerate(self.estimator.models):
            if key in (stats.model.strip().lower(), stats.tag.strip().lower()):
                return index
        return None

    def _compile(self, decision: Decision) -> _Compiled:
        index = self._model_index(decision.model)
        per_query = index is not None and decision.strategy == "cot" and decision.votes == 1
        stats = self.estimator.models[index] if index is not None else None
        return _Compiled(
            head=index if per_query else None,
            budget_words=max(decision.max_new_tokens, 1) / TOKENS_PER_WORD,
            chance=stats.runaway_accuracy if stats else 0.0,
            sigma=stats.sigma_log_words_ok if stats else 0.0,
            runaway_words=stats.runaway_median_words if stats else 0.0,
            log_budget=math.log(max(decision.max_new_tokens, 1) / TOKENS_PER_WORD),
        )

    def _model_figures(self, estimate: TextEstimate) -> list[tuple[float, float, float]]:
        """Per estimator model: ``(p_ok, r, mu)`` of the module docstring's formula."""
        out = []
        for m, (p, r, mu) in enumerate(zip(estimate.p_correct.tolist(), estimate.p_runaway.tolist(),
                                           estimate.log_words_ok.tolist(), strict=True)):
            chance = self.estimator.models[m].runaway_accuracy
            r = min(r, 0.999)
            out.append((min(1.0, max(0.0, (p - r * chance) / (1.0 - r))), r, mu))
        return out

    @staticmethod
    def _head_figures(model: tuple[float, float, float], compiled: _Compiled) -> tuple[float, float]:
        p_ok, r, mu = model
        sigma, cap, chance = compiled.sigma, compiled.budget_words, compiled.chance
        if sigma > 0:  # lognormal_cdf and lognormal_mean_capped, inlined on the hot path
            root2_sigma = sigma * _ROOT2
            within = 0.5 * math.erfc((mu - compiled.log_budget) / root2_sigma)
            below = 0.5 * math.erfc((mu + sigma * sigma - compiled.log_budget) / root2_sigma)
            capped = math.exp(mu + 0.5 * sigma * sigma) * below + cap * (1.0 - within)
        else:
            within, capped = lognormal_cdf(mu, sigma, cap), lognormal_mean_capped(mu, sigma, cap)
        accuracy = (1.0 - r) * (p_ok * within + chance * (1.0 - within)) + r * chance
        words = (1.0 - r) * capped + r * min(compiled.runaway_words, cap)
        return accuracy, words * TOKENS_PER_WORD

    def option_figures(self, raw_text: Any) -> tuple[TextEstimate, float, list[tuple[float, float, float]]]:
        """``(estimate, input_tokens, [(accuracy, output_tokens, energy_j) per option])``."""
        text, fallback = clean_text(raw_text)
        estimate = self.estimator.estimate(text)
        if fallback:
            estimate = TextEstimate(estimate.class_probs, estimate.p_correct, estimate.p_runaway,
                                    estimate.log_words, estimate.log_words_ok, fallback)
        n_in = input_tokens(text)
        models = self._model_figures(estimate)
        probs = estimate.class_probs.tolist()
        figures = []
        for option, compiled in zip(self.options, self._compiled, strict=True):
            if compiled.head is not None:
                accuracy, n_out = self._head_figures(models[compiled.head], compiled)
            else:
                accuracy = sum(p * a for p, a in zip(probs, option.class_accuracy, strict=True))
                n_out = sum(p * t for p, t in zip(probs, option.class_output_tokens, strict=True))
            figures.append((accuracy, n_out, option.energy.energy_j(n_in, n_out)))
        return estimate, n_in, figures

    def price_per_j(self, hour: Any = None, carbon_g_per_kwh: Any = None) -> float:
        """Accuracy per joule of IT energy charged now (energy and carbon prices, times ``price_scale``)."""
        hour_number = _number_or_none(hour)
        hour_index = None if hour_number is None else int(hour_number) % 24
        intensity = _number_or_none(carbon_g_per_kwh)
        if intensity is None or intensity < 0:
            intensity = self.prices.carbon_intensity(hour_index)
        carbon_per_j = self.prices.pue * intensity / J_PER_KWH
        return self.price_scale * (self.prices.energy_price(hour_index)
                                   + self.prices.accuracy_per_g_co2 * carbon_per_j)

    def route_text(self, text: Any, hour: Any = None, carbon_g_per_kwh: Any = None) -> TextDecision:
        """The option with the highest estimated accuracy net of priced energy and carbon."""
        estimate, n_in, figures = self.option_figures(text)
        price = self.price_per_j(hour, carbon_g_per_kwh)
        scores = [accuracy - price * energy for accuracy, _, energy in figures]
        best = max(range(len(scores)), key=scores.__getitem__)
        accuracy, n_out, energy = figures[best]
        category = self.estimator.classes[int(estimate.class_probs.argmax())]
        return TextDecision(self.options[best].decision, best, accuracy, energy, n_out, n_in,
                            category, estimate.fallback)


    def option_figures_many(self, raw_texts: Sequence[Any]) -> dict[str, np.ndarray]:
        """:meth:`option_figures` for many texts at once: arrays (n_texts, n_options) and per text."""
        cleaned = [clean_text(raw) for raw in raw_texts]
        estimate = self.estimator.estimate_many([text for text, _ in cleaned])
        n_in = np.array([input_tokens(text) for text, _ in cleaned])
        probs = estimate["class_probs"]
        accuracy = probs @ np.array([o.class_accuracy for o in self.options]).T
        n_out = probs @ np.array([o.class_output_tokens for o in self.options]).T
        for j, compiled in enumerate(self._compiled):
            if compiled.head is not None:
                accuracy[:, j], n_out[:, j] = self._head_arrays(estimate, compiled)
        energy = np.column_stack([_surface_array(o.energy, n_in, n_out[:, j]) for j, o in enumerate(self.options)])
        fallback = np.array([first or later for (_, first), later in zip(cleaned, estimate["fallback"], strict=True)],
                            dtype=object)
        return {"accuracy": accuracy, "output_tokens": n_out, "energy_j": energy, "input_tokens": n_in,
                "class_probs": probs, "fallback": fallback}

    def _head_arrays(self, estimate: dict[str, np.ndarray], compiled: _Compiled) -> tuple[np.ndarray, np.ndarray]:
        m, chance = compiled.head, compiled.chance
        p = estimate["p_correct"][:, m]
        r = np.minimum(estimate["p_runaway"][:, m], 0.999)
        p_ok = np.clip((p - r * chance) / (1.0 - r), 0.0, 1.0)
        mu = estimate["log_words_ok"][:, m]
        if compiled.sigma > 0:
            within, capped = lognormal_arrays(mu, compiled.sigma, compiled.budget_words)
        else:
            within = (np.exp(mu) <= compiled.budget_words).astype(float)
            capped = np.minimum(np.exp(mu), compiled.budget_words)
        accuracy = (1.0 - r) * (p_ok * within + chance * (1.0 - within)) + r * chance
        words = (1.0 - r) * capped + r * min(compiled.runaway_words, compiled.budget_words)
        return accuracy, words * TOKENS_PER_WORD

    def route_texts(self, texts: Sequence[Any], hour: Any = None, carbon_g_per_kwh: Any = None) -> list[TextDecision]:
        """:meth:`route_text` for a batch of texts sharing an hour and intensity (vectorized)."""
        figures = self.option_figures_many(texts)
        scores = figures["accuracy"] - self.price_per_j(hour, carbon_g_per_kwh) * figures["energy_j"]
        best = scores.argmax(axis=1)
        classes = figures["class_probs"].argmax(axis=1)
        return [TextDecision(self.options[j].decision, int(j), float(figures["accuracy"][i, j]),
                             float(figures["energy_j"][i, j]), float(figures["output_tokens"][i, j]),
                             float(figures["input_tokens"][i]), self.estimator.classes[classes[i]],
                             str(figures["fallback"][i]))
                for i, j in enumerate(best)]


def _surface_array(surface: EnergySurface, n_in_tokens: np.ndarray, n_out_tokens: np.ndarray) -> np.ndarray:
    n_in = np.clip(n_in_tokens, *surface.n_in_range)
    n_out = np.clip(n_out_tokens, *surface.n_out_range)
    e0, e_in, e_out, e_io, e_oo = surface.coefficients
    return e0 + e_in * n_in + (e_out + e_io * n_in + e_oo * n_out) * n_out


class PriceController:
    """Multiplicative dual ascent on observed IT energy.

    After each window, ``price_scale *= exp(step * (spent_j - budget_j) / budget_j)``
    (clipped to ``[min_scale, max_scale]``): spending over the window's budget
    raises the price of energy, spending under it lowers it.
    """

    def __init__(self, router: TextRouter, step: float = 1.0, min_scale: float = 1e-3, max_scale: float = 1e3):
        self.router, self.step, self.min_scale, self.max_scale = router, step, min_scale, max_scale

    def update(self, spent_j: float, budget_j: float) -> float:
        if budget_j > 0 and math.isfinite(spent_j):
            scale = self.router.price_scale * math.exp(self.step * (spent_j - budget_j) / budget_j)
            self.router.price_scale = min(self.max_scale, max(self.min_scale, scale))
        return self.router.price_scale


def text_options(decisions: Sequence[Decision], estimator: TextEstimator,
                 surfaces: dict[str, EnergySurface], accuracy: AccuracyLookup,
                 output_tokens: AccuracyLookup) -> list[TextOption]:
    """Options for ``decisions``: energy surface by model, per-class figures from lookups.

    ``accuracy(decision, category)`` and ``output_tokens(decision, category)``
    give the class-level figures (e.g. from an accuracy card and the workload);
    a ``None`` falls back to 0 accuracy and the budget as output length.
    """
    options = []
    for decision in decisions:
        if decision.model not in surfaces:
            raise EstimatorError(f"no energy surface for model {decision.model!r}; have {sorted(surfaces)}")
        acc = [accuracy(decision, c) for c in estimator.classes]
        tokens = [output_tokens(decision, c) for c in estimator.classes]
        options.append(TextOption(
            decision, surfaces[decision.model],
            tuple(0.0 if a is None else float(a) for a in acc),
            tuple(float(decision.max_new_tokens) if t is None else float(t) for t in tokens)))
    return options


def text_router_from_policy(policy: Policy, estimator: TextEstimator, surfaces: dict[str, EnergySurface],
                            accuracy: AccuracyLookup, output_tokens: AccuracyLookup) -> TextRouter:
    """A text router over every decision a policy names, priced with the policy's ``prices``."""
    if policy.prices is None:
        raise EstimatorError("the policy carries no prices (write it from a plan with 'tpf plan')")
    decisions: dict[Decision, None] = {}
    for cls in policy.classes:
        for choices in (cls.choices, *(e.choices for e in cls.by_hour), *(b.choices for b in cls.by_carbon)):
            decisions.update((choice.decision, None) for choice in choices)
    return TextRouter(estimator, text_options(list(decisions), estimator, surfaces, accuracy, output_tokens),
                      policy.prices)
