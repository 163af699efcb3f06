"""GPU pools: one per model, with its card, powered GPUs per hour and batching limit.

Idle accounting (``idle_mode``):

* ``powered`` (default, the planner's formula): every powered-on GPU draws
  ``idle_power_w`` for the whole hour, and each query adds its card energy on
  top (``P = n_gpus * P_idle + dynamic J / period_s``);
* ``unbusy``: idle power is paid only for GPU time not spent in batch windows
  (use it when the card's energy already includes the GPU's static power).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tpf.cards import EnergyCard
from tpf.cost.pricing import QueryCurves, decode_tokens_per_vote, query_curves
from tpf.cost.query import anchor_factors
from tpf.errors import ConfigError
from tpf.simulate.carbon import per_hour
from tpf.simulate.routing import Routed
from tpf.simulate.workload import RequestBatch

IDLE_MODES = ("powered", "unbusy")


@dataclass(frozen=True)
class Pool:
    """GPUs serving one model: ``gpus`` powered per hour (1 value, 24 daily values, or one per hour).

    A pool powers whole replicas of ``card.gpus_per_replica`` GPUs: a
    fractional count (a plan's LP relaxation) is rounded up to whole replicas,
    and every powered GPU pays its idle power for the hour, as a planner who
    powers them would. ``max_batch_size`` caps the requests a replica runs at
    once (the card's ``max_batch_size`` without one); ``kv_capacity_tokens``
    caps the tokens they hold (:mod:`tpf.simulate.memory`; ``None``: from the
    specs, or no token limit where the specs lack the model or GPU).
    """

    card: EnergyCard
    gpus: tuple[float, ...] = (1,)
    max_batch_size: int | None = None
    kv_capacity_tokens: float | None = None

    @property
    def model(self) -> str:
        return self.card.model

    @property
    def batch_limit(self) -> int:
        return int(self.max_batch_size or self.card.max_batch_size or 1)

    @property
    def kv_tokens(self) -> float:
        """KV-cache tokens per replica (inf where unknown)."""
        if self.kv_capacity_tokens is not None:
            return float(self.kv_capacity_tokens)
        from tpf.simulate.memory import kv_capacity

        tokens = kv_capacity(self.card).tokens
        return float("inf") if tokens is None else float(tokens)

    def gpus_per_hour(self, n_hours: int) -> np.ndarray:
        gpus = per_hour(self.gpus, n_hours, f"pools[{self.model}].gpus")
        if not (gpus >= 0).all():
            raise ConfigError(f"pools[{self.model}].gpus: must be >= 0, got {gpus.min()}")
        return gpus

    def replicas_per_hour(self, n_hours: int) -> np.ndarray:
        """Whole replicas powered per hour: ``ceil(gpus / gpus_per_replica)``."""
        per_replica = max(1, self.card.gpus_per_replica)
        return np.ceil(self.gpus_per_hour(n_hours) / per_replica - 1e-9).astype(np.int64)

    def powered_gpus_per_hour(self, n_hours: int) -> np.ndarray:
        """Whole GPUs powered per hour: the replicas' GPUs."""
        return self.replicas_per_hour(n_hours) * max(1, self.card.gpus_per_replica)


@dataclass(frozen=True)
class PoolQueries:
    """The requests routed to one pool, in arrival order."""

    pool: Pool
    index: np.ndarray
    arrival_s: np.ndarray
    curves: QueryCurves
    output_tokens: np.ndarray
    accuracy: np.ndarray
    tokens: np.ndarray | None = None   # KV-cache tokens a request holds at its end (input + generated)
    prefill: QueryCurves | None = None  # the prefill alone (no generated token), same anchor factor
    decode_steps: np.ndarray | None = None  # decode iterations (tokens generated per vote)


def batch_limit(queries: PoolQueries) -> int:
    """Requests a replica runs at once: the pool's cap, and the KV cache over the mean tokens held."""
    limit = queries.pool.batch_limit
    kv_tokens = queries.pool.kv_tokens
    if queries.tokens is None or not len(queries.tokens) or not np.isfinite(kv_tokens):
        return limit
    return int(max(1, min(limit, np.floor(kv_tokens / max(float(np.mean(queries.tokens)), 1.0)))))


def pool_map(pools: Mapping[str, Pool] | Sequence[Pool]) -> dict[str, Pool]:
    if isinstance(pools, Mapping):
        return dict(pools)
    return {pool.model: pool for pool in pools}


def split_by_pool(
    batch: RequestBatch, routed: Routed, pools: Mapping[str, Pool], cot_used_fraction: float = 1.0
) -> list[PoolQueries]:
    """Group requests by routed model and price each query from its pool's card alone.

    Each query's curves are the card's at the request's own tokens (its input,
    its answer, its strategy's reasoning and votes), put through the card's
    published anchors by the request's own shape (:func:`tpf.cost.query.anchor_factors`).
    Nothing of the plan's price or operating point enters: the engines form
    the batch from the arrivals.
    """
    unknown = sorted(set(routed.models[c] for c in np.unique(routed.model_code)) - set(pools))
    if unknown:
        raise ConfigError(f"pools: requests are routed to model(s) {unknown} without a pool; pools: {sorted(pools)}")
    n_dec = decode_tokens_per_vote(routed.strategy_code, batch.n_out_tokens, routed.budget_tokens, cot_used_fraction)
    categories = np.asarray(batch.categories, dtype=object)[batch.category_code] if len(batch) else np.zeros(0, object)
    out = []
    for code, model in enumerate(routed.models):
        index = np.flatnonzero(routed.model_code == code)
        if len(index) == 0:
            continue
        pool = pools[model]
        curves = query_curves(pool.card, batch.n_in_tokens[index], n_dec[index], routed.votes[index])
        factor = anchor_factors(pool.card, categories[index], routed.strategy_code[index],
                                routed.budget_tokens[index], routed.votes[index], batch.n_in_tokens[index],
                                batch.n_out_tokens[index], curves, cot_used_fraction)
        prefill = query_curves(pool.card, batch.n_in_tokens[index], np.zeros(len(index)), np.ones(len(index)))
        out.append(PoolQueries(pool, index, batch.arrival_s[index], _scaled(curves, factor),
                               n_dec[index] * routed.votes[index], routed.accuracy[index],
                               tokens=batch.n_in_tokens[index] + n_dec[index] * routed.votes[index],
                               prefill=_scaled(prefill, factor), decode_steps=n_dec[index]))
    return out


def _scaled(curves: QueryCurves, factor: np.ndarray) -> QueryCurves:
    return QueryCurves(curves.alpha_s * factor, curves.beta_s * factor, curves.gamma_j * factor,
                       curves.delta_j * factor)


def check_capacity(queries: PoolQueries, replicas_hour: np.ndarray, period_s: float = 3600.0) -> None:
    hours = np.unique(np.floor(queries.arrival_s / period_s).astype(np.int64))
    hours = hours[hours < len(replicas_hour)]
    empty = hours[replicas_hour[hours] < 1]
    if len(empty):
        raise ConfigError(
            f"pools[{queries.pool.model}].gpus: requests arrive in hour(s) {empty[:10].tolist()} but no "
            f"replica is powered (needs >= {queries.pool.card.gpus_per_replica} GPUs)"
        )


def idle_energy_per_bin(
    pool: Pool, n_hours: int, bins_per_hour: int, bin_s: float, busy_gpu_s_bin: np.ndarray, idle_mode: str
) -> tuple[np.ndarray, np.ndarray]:
    """Idle energy (J) per bin and powered GPUs per hour of one pool."""
    if idle_mode not in IDLE_MODES:
        raise ConfigError(f"idle_mode: must be one of {', '.join(IDLE_MODES)}, got {idle_mode!r}")
    gpus_hour = pool.powered_gpus_per_hour(n_hours).astype(np.float64)
    gpu_s_bin = np.repeat(gpus_hour, bins_per_hour) * bin_s
    if idle_mode == "unbusy":
        gpu_s_bin = np.maximum(gpu_s_bin - busy_gpu_s_bin, 0.0)
    return gpu_s_bin * pool.card.idle_power_w, gpus_hour
