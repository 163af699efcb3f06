"""Pricing one query: tokens, IT energy, batch window and GPU time of a served option.

The one cost model of the planner's option table (``tpf.plan.options``), the
simulator's accounting (``tpf.simulate``) and the router policy's
expectations. Tokens of a strategy (``decode_tokens_per_vote``):

* ``zero_shot``: the request's own output length ``n_answer`` (a trace's
  generated tokens, or the class's ``n_answer_tokens``);
* ``cot`` at budget ``b``: ``n_answer + f * b`` tokens, ``f`` the used fraction
  of the budget (``cot_used_fraction``, default 1.0);
* ``mv`` with ``k`` votes: ``k`` decodes of ``n_answer + f * b`` tokens each
  (``b`` the per-vote CoT budget, 0 for short answers) after one shared prefill.

Energy of a query (J), from an energy card ``E(n_in, n_out, B)`` (:func:`voted`)::

    E_query = k * E(n_in, n_dec, B) - (k - 1) * E(n_in, 0, B)

i.e. one prefill ``E(n_in, 0, B)`` plus ``k`` decodes of ``E(n_in, n_dec, B) -
E(n_in, 0, B)`` each (``k = 1`` except for majority voting). The same formula
gives the batch window time from the duration curve. GPU time of a query is
``window_s / B * gpus_per_replica`` (:func:`price_queries`).

Every card family is affine in ``B`` for durations and in ``1/B`` for energy,
so each query carries four numbers: ``window_s(B) = alpha_s + beta_s * B`` and
``energy_j(B) = gamma_j / B + delta_j`` (:class:`QueryCurves`). Simulator
engines evaluate those at the batch size the load produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from tpf.cards import EnergyCard
from tpf.domain import STRATEGIES
from tpf.errors import CardError, ConfigError

STRATEGY_CODES = {name: code for code, name in enumerate(STRATEGIES)}  # zero_shot 0, cot 1, mv 2
STRATEGY_NAMES = tuple(STRATEGY_CODES)
SECONDS_PER_HOUR = 3600.0


def decode_tokens_per_vote(
    strategy_code: np.ndarray, n_out_tokens: np.ndarray, budget_tokens: np.ndarray, cot_used_fraction: float = 1.0
) -> np.ndarray:
    """Tokens decoded per vote: ``n_answer`` for zero-shot, ``n_answer + f * budget`` otherwise."""
    if not 0 < cot_used_fraction <= 1:
        raise ConfigError(f"cot_used_fraction: must be in (0, 1], got {cot_used_fraction}")
    budget = np.asarray(budget_tokens, np.float64)
    reasoning = np.where(np.asarray(strategy_code) != STRATEGY_CODES["zero_shot"], cot_used_fraction * budget, 0.0)
    return np.asarray(n_out_tokens, np.float64) + reasoning


@dataclass(frozen=True)
class QueryCurves:
    """Per-query affine curves: window ``alpha_s + beta_s*B`` (s), energy ``gamma_j/B + delta_j`` (J)."""

    alpha_s: np.ndarray
    beta_s: np.ndarray
    gamma_j: np.ndarray
    delta_j: np.ndarray

    def window_s(self, batch_size: ArrayLike) -> np.ndarray:
        return self.alpha_s + self.beta_s * np.asarray(batch_size, np.float64)

    def energy_j(self, batch_size: ArrayLike) -> np.ndarray:
        return self.gamma_j / np.asarray(batch_size, np.float64) + self.delta_j


def voted(curve: Any, n_in: np.ndarray, n_dec: np.ndarray, votes: np.ndarray, batch: float) -> np.ndarray:
    """``k * q(n_in, n_dec) - (k - 1) * q(n_in, 0)``; the prefill is paid once."""
    full = np.asarray(curve(n_in, n_dec, batch), np.float64)
    if not (votes > 1).any():
        return full
    multi = votes > 1
    prefill = np.asarray(curve(n_in[multi], np.zeros(int(multi.sum())), batch), np.float64)
    out = full.copy()
    out[multi] = votes[multi] * full[multi] - (votes[multi] - 1) * prefill
    return out


def _unique_rows(n_in: np.ndarray, n_dec: np.ndarray, votes: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices of the distinct (n_in, n_dec, votes) rows and the inverse map, for integer tokens."""
    if len(n_in) < 4096:
        return None
    whole = (n_in == np.round(n_in)) & (n_dec == np.round(n_dec)) & (votes == np.round(votes))
    if not whole.all() or n_in.max() >= 2**24 or n_dec.max() >= 2**24 or votes.max() >= 2**15:
        return None
    key = (n_in.astype(np.int64) << 39) | (n_dec.astype(np.int64) << 15) | votes.astype(np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return (first, inverse) if len(first) < len(key) // 2 else None


def query_curves(card: EnergyCard, n_in: np.ndarray, n_dec: np.ndarray, votes: np.ndarray) -> QueryCurves:
    """Evaluate the card at B = 1 and 2 and return each query's affine coefficients.

    Many requests share their token counts (tiled traces, synthetic classes):
    the card is then evaluated once per distinct (n_in, n_dec, votes).
    """
    if card.duration is None:
        raise CardError(f"card {card.model}@{card.hardware} has no duration curve; the simulator needs one")
    n_in = np.asarray(n_in, np.float64)
    n_dec = np.asarray(n_dec, np.float64)
    votes = np.asarray(votes, np.float64)
    distinct = _unique_rows(n_in, n_dec, votes)
    if distinct is not None:
        first, inverse = distinct
        unique = query_curves(card, n_in[first], n_dec[first], votes[first])
        return QueryCurves(*(getattr(unique, f)[inverse] for f in ("alpha_s", "beta_s", "gamma_j", "delta_j")))
    window_1 = voted(card.duration_s, n_in, n_dec, votes, 1.0)
    window_2 = voted(card.duration_s, n_in, n_dec, votes, 2.0)
    energy_1 = voted(card.energy_j, n_in, n_dec, votes, 1.0)
    energy_2 = voted(card.energy_j, n_in, n_dec, votes, 2.0)
    curves = QueryCurves(
        alpha_s=2 * window_1 - window_2,
        beta_s=window_2 - window_1,
        gamma_j=2 * (energy_1 - energy_2),
        delta_j=2 * energy_2 - energy_1,
    )
    _check_affine(card, curves, n_in[:4], n_dec[:4], votes[:4])
    return curves


def _check_affine(card: EnergyCard, curves: QueryCurves, n_in, n_dec, votes) -> None:
    batch = float(max(card.max_batch_size, 3))
    count = len(n_in)
    expected_window = voted(card.duration_s, n_in, n_dec, votes, batch)
    expected_energy = voted(card.energy_j, n_in, n_dec, votes, batch)
    head = QueryCurves(*(getattr(curves, f)[:count] for f in ("alpha_s", "beta_s", "gamma_j", "delta_j")))
    for got, want, what in ((head.window_s(batch), expected_window, "duration"),
                            (head.energy_j(batch), expected_energy, "energy")):
        if not np.allclose(got, want, rtol=1e-9, atol=1e-12):
            raise CardError(
                f"card {card.model}@{card.hardware}: its {what} curve is not affine in the batch "
                "size (or 1/batch size for energy); the simulator supports the families of tpf.families"
            )


def option_energy_j(
    card: EnergyCard, n_in_tokens: ArrayLike, n_out_tokens: ArrayLike, strategy: str,
    budget_tokens: ArrayLike = 0, votes: ArrayLike = 1, batch_size: float = 1.0,
) -> np.ndarray:
    """IT energy per query (J) of a strategy at ``batch_size``; ``n_out_tokens`` is the zero-shot length."""
    curves, shape = _option_curves(card, n_in_tokens, n_out_tokens, strategy, budget_tokens, votes)
    return curves.energy_j(batch_size).reshape(shape)


def option_gpu_s(
    card: EnergyCard, n_in_tokens: ArrayLike, n_out_tokens: ArrayLike, strategy: str,
    budget_tokens: ArrayLike = 0, votes: ArrayLike = 1, batch_size: float = 1.0,
) -> np.ndarray:
    """GPU-seconds per query: ``window_s(B) / B * gpus_per_replica``."""
    curves, shape = _option_curves(card, n_in_tokens, n_out_tokens, strategy, budget_tokens, votes)
    return (curves.window_s(batch_size) / batch_size * card.gpus_per_replica).reshape(shape)


def _option_curves(card: EnergyCard, n_in_tokens: ArrayLike, n_out_tokens: ArrayLike, strategy: str,
                   budget_tokens: ArrayLike, votes: ArrayLike) -> tuple[QueryCurves, tuple[int, ...]]:
    """The queries' curves and the broadcast shape of the arguments."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in (n_in_tokens, n_out_tokens, budget_tokens, votes)))
    if strategy not in STRATEGY_CODES:
        raise ConfigError(f"strategy: must be one of {', '.join(STRATEGY_CODES)}, got {strategy!r}")
    n_in, n_out, budget, k = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v, np.float64)) for v in (n_in_tokens, n_out_tokens, budget_tokens, votes))
    )
    code = np.full(n_in.shape, STRATEGY_CODES[strategy])
    n_dec = decode_tokens_per_vote(code, n_out, budget)
    return query_curves(card, n_in, n_dec, np.where(code == STRATEGY_CODES["mv"], k, 1.0)), shape
