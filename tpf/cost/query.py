"""The cost of one query served by one option: energy, duration, generated tokens.

One function, :func:`price_query`, used by the option table. Its rules:

* generated tokens: a zero-shot answer generates ``n_answer``; a CoT answer
  (or each vote of a CoT majority vote) at budget ``b`` generates
  ``n_answer + min(L, b)`` with ``L`` from the accuracy card's length
  distribution (:mod:`tpf.lengths`) where it has one, else
  ``n_answer + cot_used_fraction * b`` (the fallback);
* the energy and duration of that many tokens are *integrated* over the
  distribution (the mean over its equal-probability quantiles of the card's
  curve), since the curve is nonlinear in ``n_out``;
* ``k`` votes share one prefill: ``C_k = k C(n_in, n_out) - (k-1) C(n_in, 0)``
  (:func:`tpf.cost.pricing.voted`, the simulator's formula too; linear in ``C``,
  so it holds for the expectations);
* a card with published anchors prices through them (:mod:`tpf.anchors`), each
  anchor's curve price taken at the request shape it measured, so a request of
  another shape costs ``C(request) / C(anchor shape)`` times the published
  figure; ``QueryCost.anchor_extrapolation`` is that ratio (NaN without an anchor).
  :func:`anchor_factors` applies the same rule per simulated request.

GPU-seconds per query are ``duration * gpus_per_replica / batch_size``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tpf.anchors import EnergyAnchor, anchor_basis, anchored_value, pick_anchors
from tpf.cards import EnergyCard
from tpf.cost.pricing import STRATEGY_NAMES, QueryCurves, voted
from tpf.lengths import LengthDistribution
from tpf.operating import REFERENCE_N_IN_TOKENS

Curve = Callable[..., np.ndarray]


@dataclass(frozen=True)
class QueryCost:
    """Cost of one query: GPU energy (J), duration of its window (s), GPU-s, expected tokens."""

    energy_j: float
    latency_s: float
    gpu_s: float
    n_out_tokens_expected: float
    n_out_tokens_spread: float
    in_range: bool
    energy_basis: str
    anchor_extrapolation: float = float("nan")


@dataclass(frozen=True)
class TokenRule:
    """How many tokens a strategy generates: lengths where known, else the used fraction."""

    n_answer_tokens: float
    lengths: LengthDistribution | None = None
    cot_used_fraction: float = 1.0

    def samples(self, strategy: str, budget_tokens: float) -> np.ndarray:
        """Equally weighted output lengths (tokens) of one answer (one vote)."""
        if strategy == "zero_shot" or budget_tokens <= 0:
            return np.array([float(self.n_answer_tokens)])
        if self.lengths is not None:
            return self.n_answer_tokens + self.lengths.samples(budget_tokens)
        return np.array([self.n_answer_tokens + self.cot_used_fraction * float(budget_tokens)])


def _expected_shared_prefill(curve: Curve, n_in: float, n_out: np.ndarray, votes: int,
                             batch: float) -> float:
    """``E[k C(n_in, n_out) - (k-1) C(n_in, 0)]`` over the samples (:func:`tpf.cost.pricing.voted`)."""
    count = len(n_out)
    return float(np.mean(voted(curve, np.full(count, float(n_in)), np.asarray(n_out, np.float64),
                               np.full(count, float(votes)), batch)))


def _curve_cost(card: EnergyCard, n_in: float, n_out: np.ndarray, votes: int,
                batch: float) -> tuple[float, float]:
    energy_j = _expected_shared_prefill(card.energy_j, n_in, n_out, votes, batch)
    if card.duration is None:
        return energy_j, float("nan")
    return energy_j, _expected_shared_prefill(card.duration_s, n_in, n_out, votes, batch)


def _anchor_curve_j(card: EnergyCard, anchor: EnergyAnchor, n_in_tokens: float, tokens: TokenRule) -> float:
    """The card's curve price (J) at the request shape ``anchor`` measured, at its batch size; at the
    request's own input tokens and token rule where the anchor records no shape (an older card)."""
    if anchor.has_shape:
        assert anchor.n_in_tokens is not None and anchor.n_out_tokens is not None
        return _curve_cost(card, anchor.n_in_tokens, np.array([anchor.n_out_tokens]), anchor.votes,
                           anchor.batch_size)[0]
    return _curve_cost(card, n_in_tokens, tokens.samples(anchor.strategy, anchor.budget_tokens), anchor.votes,
                       anchor.batch_size)[0]


def _affine_through(curve_j: np.ndarray, points: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """:func:`tpf.anchors.anchored_value` elementwise (the points' curve prices may be per request)."""
    curve_a, energy_a = points[-1]
    if len(points) == 1:
        return energy_a * curve_j / curve_a
    (curve_a, energy_a), (curve_b, energy_b) = points[0], points[1]
    span = curve_b - curve_a
    flat = np.abs(span) <= 1e-12 * np.abs(curve_a)
    with np.errstate(divide="ignore", invalid="ignore"):
        affine = energy_a + (energy_b - energy_a) * (curve_j - curve_a) / np.where(flat, 1.0, span)
    return np.where(flat, energy_b * curve_j / curve_b, affine)


def anchor_factors(card: EnergyCard, categories: np.ndarray, strategy_code: np.ndarray, budget_tokens: np.ndarray,
                   votes: np.ndarray, n_in_tokens: np.ndarray, n_answer_tokens: np.ndarray,
                   curves: QueryCurves, cot_used_fraction: float = 1.0) -> np.ndarray:
    """Per request, the factor that puts its card-curve price through the card's anchors (module doc).

    The request's curve ``C_q`` at the anchor's batch maps through the
    anchors' points ``(C(anchor shape), published J)`` as in
    :func:`price_query`; the factor ``anchored(C_q) / C_q`` multiplies its
    energy and window at every batch size. 1 where no anchor applies.
    """
    factor = np.ones(len(categories))
    if not card.anchors or not len(categories):
        return factor
    keys = np.column_stack([np.unique(categories, return_inverse=True)[1], strategy_code, budget_tokens, votes])
    groups, group_of = np.unique(keys, axis=0, return_inverse=True)
    group_of = np.asarray(group_of).ravel()
    for number, first in enumerate(np.unique(group_of, return_index=True)[1]):
        members = np.flatnonzero(group_of == number)
        strategy = STRATEGY_NAMES[int(strategy_code[first])]
        anchors = pick_anchors(card.anchors, str(categories[first]), strategy, int(budget_tokens[first]),
                               int(votes[first]))
        if not anchors:
            continue
        curve_q = curves.energy_j(float(anchors[-1].batch_size))[members]
        points = [(_member_anchor_curve(card, a, n_in_tokens[members], n_answer_tokens[members],
                                        cot_used_fraction), a.energy_j) for a in anchors]
        factor[members] = _affine_through(curve_q, points) / curve_q
    return factor


def _member_anchor_curve(card: EnergyCard, anchor: EnergyAnchor, n_in: np.ndarray, n_answer: np.ndarray,
                         cot_used_fraction: float) -> np.ndarray:
    """``C`` at the anchor's shape (a scalar broadcast), or at each request's own tokens without one."""
    if anchor.has_shape:
        assert anchor.n_in_tokens is not None and anchor.n_out_tokens is not None
        one = voted(card.energy_j, np.array([anchor.n_in_tokens]), np.array([anchor.n_out_tokens]),
                    np.array([float(anchor.votes)]), float(anchor.batch_size))
        return np.full(len(n_in), float(one[0]))
    reasoning = cot_used_fraction * anchor.budget_tokens if anchor.strategy != "zero_shot" else 0.0
    return voted(card.energy_j, np.asarray(n_in, np.float64), np.asarray(n_answer, np.float64) + reasoning,
                 np.full(len(n_in), float(anchor.votes)), float(anchor.batch_size))


def operating_factors(card: EnergyCard, engine: str, batch_size: float) -> tuple[float, float]:
    """(energy, duration) factors that make the card's curves meet its ``engine`` operating curve at
    ``batch_size``: the curve's J/request and request time (``n_out * tpot``) at its reference
    request over the card's own at the same request (1, 1 for a curve derived from the card)."""
    curve = card.operating_curve(engine)
    point = curve.at(batch_size)
    n_in = curve.n_in_tokens or REFERENCE_N_IN_TOKENS
    energy = float(np.asarray(card.energy_j(n_in, curve.n_out_tokens, batch_size)))
    factor_e = point.j_per_request / energy
    if card.duration is None:
        return factor_e, 1.0
    duration = float(np.asarray(card.duration_s(n_in, curve.n_out_tokens, batch_size)))
    return factor_e, curve.n_out_tokens * point.tpot_s / duration


def price_query(card: EnergyCard, category: str, strategy: str, budget_tokens: int, votes: int,
                n_in_tokens: float, tokens: TokenRule, batch_size: float,
                engine: str | None = None) -> QueryCost:
    """Energy, latency and GPU-s of one query of ``category`` by one option (module doc).

    With ``engine``, the card's curves are corrected to meet that engine's
    operating curve at ``batch_size`` (:func:`operating_factors`): the curve
    sets the level at each batch, the card's curves the dependence on input
    and output length.
    """
    n_out = tokens.samples(strategy, budget_tokens)
    energy_j, duration_s = _curve_cost(card, n_in_tokens, n_out, votes, batch_size)
    anchors = pick_anchors(card.anchors, category, strategy, budget_tokens, votes)
    extrapolation = float("nan")
    if anchors:
        at_anchor_batch, _ = _curve_cost(card, n_in_tokens, n_out, votes, anchors[-1].batch_size)
        points = [(_anchor_curve_j(card, a, n_in_tokens, tokens), a.energy_j) for a in anchors]
        extrapolation = energy_j / points[-1][0]
        published = anchored_value(at_anchor_batch, points) * energy_j / at_anchor_batch
        duration_s *= published / energy_j
        energy_j = published
    basis = anchor_basis(anchors, strategy, budget_tokens, votes, batch_size,
                         1.0 if np.isnan(extrapolation) else extrapolation)
    if engine is not None:
        factor_e, factor_d = operating_factors(card, engine, batch_size)
        energy_j, duration_s = energy_j * factor_e, duration_s * factor_d
        basis += f"; {engine} operating curve at batch {batch_size:g} ({card.operating_curve(engine).label(batch_size)})"
    in_range = bool(np.all(card.in_range(n_in_tokens, n_out, batch_size)))
    spread = float(n_out.std()) if n_out.size > 1 else 0.0
    return QueryCost(
        energy_j=energy_j, latency_s=duration_s,
        gpu_s=duration_s * card.gpus_per_replica / batch_size,
        n_out_tokens_expected=float(n_out.mean()), n_out_tokens_spread=spread, in_range=in_range,
        energy_basis=basis, anchor_extrapolation=extrapolation,
    )


def operating_point_costs(card: EnergyCard, engine: str, category: str, strategy: str, budget_tokens: int,
                          votes: int, n_in_tokens: float, tokens: TokenRule,
                          levels: tuple[float, ...] | None = None) -> list[QueryCost]:
    """One :class:`QueryCost` per batch level of the card's ``engine`` curve (or ``levels``):
    the operating points a planner can choose between (J/query, GPU-s/query, latency)."""
    chosen = levels or card.operating_curve(engine).batch_size
    return [price_query(card, category, strategy, budget_tokens, votes, n_in_tokens, tokens, float(b), engine)
            for b in chosen]
