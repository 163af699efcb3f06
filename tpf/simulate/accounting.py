"""Per-query tokens, energy and GPU time from the cards; hourly accounting.

Tokens of a strategy (``decode_tokens_per_vote``), as the planner's option
table prices them (``tpf.plan.options``):

* ``zero_shot``: the request's own output length ``n_answer`` (a trace's
  generated tokens, or the class's ``n_answer_tokens``);
* ``cot`` at budget ``b``: ``n_answer + f * b`` tokens, ``f`` the used fraction
  of the budget (``cot_used_fraction``, default 1.0);
* ``mv`` with ``k`` votes: ``k`` decodes of ``n_answer + f * b`` tokens each
  (``b`` the per-vote CoT budget, 0 for short answers) after one shared prefill.

Energy of a query (J), from an energy card ``E(n_in, n_out, B)``::

    E_query = k * E(n_in, n_dec, B) - (k - 1) * E(n_in, 0, B)

i.e. one prefill ``E(n_in, 0, B)`` plus ``k`` decodes of ``E(n_in, n_dec, B) -
E(n_in, 0, B)`` each (``k = 1`` except for majority voting). The same formula
gives the batch window time from the duration curve. GPU time of a query is
``window_s / B * gpus_per_replica``. :func:`option_energy_j` is this formula for
one option at a planning batch size, as used to build option tables.

Every card family is affine in ``B`` for durations and in ``1/B`` for energy,
so each query carries four numbers: ``window_s(B) = alpha_s + beta_s * B`` and
``energy_j(B) = gamma_j / B + delta_j`` (:class:`QueryCurves`). Engines
evaluate those at the batch size the load produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from tpf.cards import EnergyCard
from tpf.domain import J_PER_KWH, STRATEGIES
from tpf.errors import CardError, ConfigError
from tpf.simulate.carbon import carbon_per_hour, pue_per_hour
from tpf.simulate.result import SimResult

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


def _voted(curve, n_in: np.ndarray, n_dec: np.ndarray, votes: np.ndarray, batch: float) -> np.ndarray:
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
    window_1 = _voted(card.duration_s, n_in, n_dec, votes, 1.0)
    window_2 = _voted(card.duration_s, n_in, n_dec, votes, 2.0)
    energy_1 = _voted(card.energy_j, n_in, n_dec, votes, 1.0)
    energy_2 = _voted(card.energy_j, n_in, n_dec, votes, 2.0)
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
    expected_window = _voted(card.duration_s, n_in, n_dec, votes, batch)
    expected_energy = _voted(card.energy_j, n_in, n_dec, votes, batch)
    head = QueryCurves(*(getattr(curves, f)[:count] for f in ("alpha_s", "beta_s", "gamma_j", "delta_j")))
    for got, want, what in ((head.window_s(batch), expected_window, "duration"),
                            (head.energy_j(batch), expected_energy, "energy")):
        if not np.allclose(got, want, rtol=1e-9, atol=1e-12):
            raise CardError(
                f"card {card.model}@{card.hardware}: its {what} curve is not affine in the batch "
                "size (or 1/batch size for energy); the simulator supports the families of tpf.fit.families"
            )


def option_energy_j(
    card: EnergyCard, n_in_tokens: ArrayLike, n_out_tokens: ArrayLike, strategy: str,
    budget_tokens: ArrayLike = 0, votes: ArrayLike = 1, batch_size: float = 1.0,
) -> np.ndarray:
    """IT energy per query (J) of a strategy at ``batch_size``; ``n_out_tokens`` is the zero-shot length."""
    curves = _option_curves(card, n_in_tokens, n_out_tokens, strategy, budget_tokens, votes)
    shape = np.broadcast_shapes(*(np.shape(v) for v in (n_in_tokens, n_out_tokens, budget_tokens, votes)))
    return curves.energy_j(batch_size).reshape(shape)


def option_gpu_s(
    card: EnergyCard, n_in_tokens: ArrayLike, n_out_tokens: ArrayLike, strategy: str,
    budget_tokens: ArrayLike = 0, votes: ArrayLike = 1, batch_size: float = 1.0,
) -> np.ndarray:
    """GPU-seconds per query: ``window_s(B) / B * gpus_per_replica``."""
    curves = _option_curves(card, n_in_tokens, n_out_tokens, strategy, budget_tokens, votes)
    shape = np.broadcast_shapes(*(np.shape(v) for v in (n_in_tokens, n_out_tokens, budget_tokens, votes)))
    return (curves.window_s(batch_size) / batch_size * card.gpus_per_replica).reshape(shape)


def _option_curves(card, n_in_tokens, n_out_tokens, strategy, budget_tokens, votes) -> QueryCurves:
    if strategy not in STRATEGY_CODES:
        raise ConfigError(f"strategy: must be one of {', '.join(STRATEGY_CODES)}, got {strategy!r}")
    n_in, n_out, budget, k = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v, np.float64)) for v in (n_in_tokens, n_out_tokens, budget_tokens, votes))
    )
    code = np.full(n_in.shape, STRATEGY_CODES[strategy])
    n_dec = decode_tokens_per_vote(code, n_out, budget)
    return query_curves(card, n_in, n_dec, np.where(code == STRATEGY_CODES["mv"], k, 1.0))


# --- hourly ledger -------------------------------------------------------------

QUANTILES = (0.50, 0.95, 0.99)
_HIST_EDGES_S = np.geomspace(1e-4, 1e6, 4606)  # ratio 1.005 per bin: quantiles within 0.25%


def grouped_quantiles(group: np.ndarray, values: np.ndarray, n_groups: int, quantiles=QUANTILES) -> np.ndarray:
    """Exact quantiles (numpy's default, linear interpolation) per group; NaN for empty groups."""
    grouped = values[np.argsort(group, kind="stable")]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=n_groups))])
    out = np.full((n_groups, len(quantiles)), np.nan)
    for index in np.flatnonzero(np.diff(bounds)):
        out[index] = np.quantile(grouped[bounds[index]:bounds[index + 1]], quantiles)
    return out


def histogram_quantiles(histogram: np.ndarray, quantiles=QUANTILES) -> np.ndarray:
    """Quantiles per row of a latency histogram over ``_HIST_EDGES_S`` (bin geometric midpoints)."""
    mids = np.sqrt(_HIST_EDGES_S[:-1] * _HIST_EDGES_S[1:])
    mids = np.concatenate([[_HIST_EDGES_S[0]], mids, [_HIST_EDGES_S[-1]]])
    cumulative = np.cumsum(histogram, axis=1)
    totals = cumulative[:, -1]
    out = np.full((histogram.shape[0], len(quantiles)), np.nan)
    for column, q in enumerate(quantiles):
        for row in np.flatnonzero(totals):
            rank = max(1.0, np.ceil(q * totals[row]))
            out[row, column] = mids[np.searchsorted(cumulative[row], rank)]
    return out


class HourlyLedger:
    """Accumulates per-query and per-bin quantities into hourly totals.

    Query energy, tokens, accuracy and latency are booked to the bin (and hour)
    the engine assigns them; idle energy and busy GPU time per bin come from the
    pools. With ``exact_quantiles`` the latencies are kept and quantiles are
    exact; otherwise a log histogram per hour bounds memory (quantiles within 0.25%).
    """

    def __init__(self, n_hours: int, bin_s: float, exact_quantiles: bool = True):
        bins_per_hour = SECONDS_PER_HOUR / bin_s
        if not bin_s > 0 or abs(bins_per_hour - round(bins_per_hour)) > 1e-9:
            raise ConfigError(f"bin_s: must divide 3600 s into whole bins, got {bin_s}")
        self.n_hours, self.bin_s = n_hours, float(bin_s)
        self.bins_per_hour = int(round(bins_per_hour))
        n_bins = n_hours * self.bins_per_hour
        self.query_energy_j_bin = np.zeros(n_bins)
        self.idle_energy_j_bin = np.zeros(n_bins)
        self.busy_gpu_s_bin = np.zeros(n_bins)
        self.powered_gpus = np.zeros(n_hours)
        self.served = np.zeros(n_hours)
        self.output_tokens = np.zeros(n_hours)
        self.accuracy_sum = np.zeros(n_hours)
        self.accuracy_count = np.zeros(n_hours)
        self.exact_quantiles = exact_quantiles
        self._latency_parts: list[tuple[np.ndarray, np.ndarray]] = []
        self._histogram = None if exact_quantiles else np.zeros((n_hours, len(_HIST_EDGES_S) + 1), np.int64)

    @property
    def n_bins(self) -> int:
        return self.n_hours * self.bins_per_hour

    def add_queries(self, bin_index, latency_s, energy_j, output_tokens, accuracy) -> None:
        hour = bin_index // self.bins_per_hour
        self.query_energy_j_bin += np.bincount(bin_index, energy_j, self.n_bins)
        self.served += np.bincount(hour, minlength=self.n_hours)
        self.output_tokens += np.bincount(hour, output_tokens, self.n_hours)
        known = ~np.isnan(accuracy)
        self.accuracy_sum += np.bincount(hour[known], accuracy[known], self.n_hours)
        self.accuracy_count += np.bincount(hour[known], minlength=self.n_hours)
        if self._histogram is None:
            self._latency_parts.append((hour, np.asarray(latency_s, np.float64)))
        else:
            cell = np.searchsorted(_HIST_EDGES_S, latency_s)
            np.add.at(self._histogram, (hour, cell), 1)

    def add_pool(self, idle_energy_j_bin, busy_gpu_s_bin, powered_gpus_hour) -> None:
        self.idle_energy_j_bin += idle_energy_j_bin
        self.busy_gpu_s_bin += busy_gpu_s_bin
        self.powered_gpus += powered_gpus_hour

    def _quantiles(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-hour quantiles and overall quantiles of latency."""
        if self._histogram is not None:
            overall = histogram_quantiles(self._histogram.sum(axis=0, keepdims=True))[0]
            return histogram_quantiles(self._histogram), overall
        if not self._latency_parts:
            return np.full((self.n_hours, len(QUANTILES)), np.nan), np.full(len(QUANTILES), np.nan)
        hour = np.concatenate([h for h, _ in self._latency_parts])
        latency = np.concatenate([v for _, v in self._latency_parts])
        overall = np.quantile(latency, QUANTILES) if len(latency) else np.full(len(QUANTILES), np.nan)
        return grouped_quantiles(hour, latency, self.n_hours), overall

    def _per_hour(self, per_bin: np.ndarray) -> np.ndarray:
        return per_bin.reshape(self.n_hours, self.bins_per_hour).sum(axis=1)

    def finish(self, carbon_g_per_kwh, pue, engine: str, records=None, notes=None) -> SimResult:
        """Hourly table and totals; carbon and PUE are per hour (scalar, 24 values, or >= n_hours)."""
        carbon = carbon_per_hour(carbon_g_per_kwh, self.n_hours)
        pue_hour = pue_per_hour(pue, self.n_hours)
        query_j, idle_j = self._per_hour(self.query_energy_j_bin), self._per_hour(self.idle_energy_j_bin)
        it_j = query_j + idle_j
        facility_kwh = it_j / J_PER_KWH * pue_hour
        bin_kw = (self.query_energy_j_bin + self.idle_energy_j_bin) / self.bin_s / 1000.0
        bin_kw = bin_kw * np.repeat(pue_hour, self.bins_per_hour)
        per_hour_q, overall_q = self._quantiles()
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = self.accuracy_sum / self.accuracy_count
        hourly = pd.DataFrame({
            "hour": np.arange(self.n_hours),
            "served_queries": self.served,
            "output_tokens": self.output_tokens,
            "output_tokens_per_s": self.output_tokens / SECONDS_PER_HOUR,
            "latency_p50_s": per_hour_q[:, 0], "latency_p95_s": per_hour_q[:, 1], "latency_p99_s": per_hour_q[:, 2],
            "query_energy_j": query_j, "idle_energy_j": idle_j, "it_energy_j": it_j,
            "it_energy_kwh": it_j / J_PER_KWH, "pue": pue_hour, "facility_energy_kwh": facility_kwh,
            "carbon_g_per_kwh": carbon, "carbon_kg": facility_kwh * carbon / 1000.0,
            "avg_facility_kw": facility_kwh,  # kWh over one hour
            "peak_facility_kw": bin_kw.reshape(self.n_hours, self.bins_per_hour).max(axis=1),
            "busy_gpu_s": self._per_hour(self.busy_gpu_s_bin), "powered_gpus": self.powered_gpus,
            "expected_accuracy": accuracy,
        })
        return SimResult(hourly, self._totals(hourly, overall_q), records, engine, dict(notes or {}))

    def _totals(self, hourly: pd.DataFrame, overall_q: np.ndarray) -> dict[str, float]:
        served = float(hourly["served_queries"].sum())
        summed = {k: float(hourly[k].sum()) for k in (
            "served_queries", "output_tokens", "query_energy_j", "idle_energy_j", "it_energy_j",
            "it_energy_kwh", "facility_energy_kwh", "carbon_kg", "busy_gpu_s")}
        counted = float(self.accuracy_count.sum())
        return {
            **summed,
            "hours": float(self.n_hours),
            "output_tokens_per_s": summed["output_tokens"] / (self.n_hours * SECONDS_PER_HOUR),
            "latency_p50_s": float(overall_q[0]), "latency_p95_s": float(overall_q[1]),
            "latency_p99_s": float(overall_q[2]),
            "avg_facility_kw": summed["facility_energy_kwh"] / self.n_hours,
            "peak_facility_kw": float(hourly["peak_facility_kw"].max()),
            "it_energy_j_per_query": summed["it_energy_j"] / served if served else float("nan"),
            "expected_accuracy": float(self.accuracy_sum.sum() / counted) if counted else float("nan"),
        }
