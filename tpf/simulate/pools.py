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
from tpf.simulate.routing import PlannedPrices, Routed
from tpf.simulate.workload import RequestBatch

IDLE_MODES = ("powered", "unbusy")


@dataclass(frozen=True)
class Pool:
    """GPUs serving one model: ``gpus`` powered per hour (1 value, 24 daily values, or one per hour).

    A fractional count (a plan's LP relaxation) is that many GPU-hours of
    power in the hour: the whole GPUs rounded up serve, and idle power is paid
    on the fractional count (a GPU powered for part of the hour).
    """

    card: EnergyCard
    gpus: tuple[float, ...] = (1,)
    max_batch_size: int | None = None

    @property
    def model(self) -> str:
        return self.card.model

    @property
    def batch_limit(self) -> int:
        return int(self.max_batch_size or self.card.max_batch_size or 1)

    def gpus_per_hour(self, n_hours: int) -> np.ndarray:
        gpus = per_hour(self.gpus, n_hours, f"pools[{self.model}].gpus")
        if not (gpus >= 0).all():
            raise ConfigError(f"pools[{self.model}].gpus: must be >= 0, got {gpus.min()}")
        return gpus

    def replicas_per_hour(self, n_hours: int) -> np.ndarray:
        whole = np.ceil(self.gpus_per_hour(n_hours) - 1e-9).astype(np.int64)
        return whole // max(1, self.card.gpus_per_replica)


@dataclass(frozen=True)
class PoolQueries:
    """The requests routed to one pool, in arrival order."""

    pool: Pool
    index: np.ndarray
    arrival_s: np.ndarray
    curves: QueryCurves
    output_tokens: np.ndarray
    accuracy: np.ndarray
    batch_size: np.ndarray | None = None   # planned operating point per query (None: from the load)


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
        batch_size = None
        if routed.planned is not None:
            planned = routed.planned.take(index)
            nominal = decode_tokens_per_vote(routed.strategy_code[index], planned.n_answer_tokens,
                                             routed.budget_tokens[index], cot_used_fraction)
            curves, batch_size = at_planned_prices(pool.card, curves, planned, nominal, routed.votes[index])
        out.append(PoolQueries(pool, index, batch.arrival_s[index], curves,
                               n_dec[index] * routed.votes[index], routed.accuracy[index], batch_size))
    return out


def at_planned_prices(card: EnergyCard, curves: QueryCurves, planned: PlannedPrices, nominal_dec: np.ndarray,
                      votes: np.ndarray) -> tuple[QueryCurves, np.ndarray | None]:
    """Scale each query's curves so that a request of its class's own tokens costs the planner's price.

    The planner prices an option through published anchors, an engine's
    operating curve and the generated-token distribution; the card's bare
    curves know none of them. Each query's energy curve is multiplied by
    ``planned energy / card energy`` of the class's nominal request at the
    planned operating point, its window curve likewise, so the request's own
    tokens still move its cost along the card's curve. Queries without a
    planned price keep the card's curves and the batch the load produces.
    """
    known = np.isfinite(planned.batch_size) & np.isfinite(planned.energy_j) & np.isfinite(planned.n_in_tokens)
    if not known.any():
        return curves, None
    n_in = np.where(known, planned.n_in_tokens, 1.0)
    dec = np.where(known, nominal_dec, 1.0)
    batch = np.where(known, planned.batch_size, 1.0)
    base = query_curves(card, n_in, dec, votes)
    with np.errstate(divide="ignore", invalid="ignore"):
        energy_factor = np.where(known, planned.energy_j / base.energy_j(batch), 1.0)
        window_factor = np.where(known & np.isfinite(planned.window_s), planned.window_s / base.window_s(batch), 1.0)
    energy_factor = np.where(np.isfinite(energy_factor) & (energy_factor > 0), energy_factor, 1.0)
    window_factor = np.where(np.isfinite(window_factor) & (window_factor > 0), window_factor, 1.0)
    scaled = QueryCurves(curves.alpha_s * window_factor, curves.beta_s * window_factor,
                         curves.gamma_j * energy_factor, curves.delta_j * energy_factor)
    return scaled, np.where(known, planned.batch_size, np.nan)


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
