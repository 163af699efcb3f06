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
from tpf.errors import ConfigError
from tpf.simulate.carbon import per_hour
from tpf.simulate.routing import Routed
from tpf.simulate.workload import RequestBatch

IDLE_MODES = ("powered", "unbusy")


@dataclass(frozen=True)
class Pool:
    """GPUs serving one model: ``gpus`` powered per hour (1 value, 24 daily values, or one per hour)."""

    card: EnergyCard
    gpus: tuple[int, ...] = (1,)
    max_batch_size: int | None = None

    @property
    def model(self) -> str:
        return self.card.model

    @property
    def batch_limit(self) -> int:
        return int(self.max_batch_size or self.card.max_batch_size or 1)

    def gpus_per_hour(self, n_hours: int) -> np.ndarray:
        return per_hour(self.gpus, n_hours, f"pools[{self.model}].gpus").astype(np.int64)

    def replicas_per_hour(self, n_hours: int) -> np.ndarray:
        return self.gpus_per_hour(n_hours) // max(1, self.card.gpus_per_replica)


@dataclass(frozen=True)
class PoolQueries:
    """The requests routed to one pool, in arrival order."""

    pool: Pool
    index: np.ndarray
    arrival_s: np.ndarray
    curves: QueryCurves
    output_tokens: np.ndarray
    accuracy: np.ndarray


def pool_map(pools: Mapping[str, Pool] | Sequence[Pool]) -> dict[str, Pool]:
    if isinstance(pools, Mapping):
        return dict(pools)
    return {pool.model: pool for pool in pools}


def split_by_pool(
    batch: RequestBatch, routed: Routed, pools: Mapping[str, Pool], cot_used_fraction: float = 1.0
) -> list[PoolQueries]:
    """Group requests by routed model and compute each query's curves from its pool's card."""
    unknown = sorted(set(routed.models[c] for c in np.unique(routed.model_code)) - set(pools))
    if unknown:
        raise ConfigError(f"pools: requests are routed to model(s) {unknown} without a pool; pools: {sorted(pools)}")
    n_dec = decode_tokens_per_vote(routed.strategy_code, batch.n_out_tokens, routed.budget_tokens, cot_used_fraction)
    out = []
    for code, model in enumerate(routed.models):
        index = np.flatnonzero(routed.model_code == code)
        if len(index) == 0:
            continue
        pool = pools[model]
        curves = query_curves(pool.card, batch.n_in_tokens[index], n_dec[index], routed.votes[index])
        out.append(PoolQueries(pool, index, batch.arrival_s[index], curves,
                               n_dec[index] * routed.votes[index], routed.accuracy[index]))
    return out


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
    gpus_hour = pool.gpus_per_hour(n_hours).astype(np.float64)
    gpu_s_bin = np.repeat(gpus_hour, bins_per_hour) * bin_s
    if idle_mode == "unbusy":
        gpu_s_bin = np.maximum(gpu_s_bin - busy_gpu_s_bin, 0.0)
    return gpu_s_bin * pool.card.idle_power_w, gpus_hour
