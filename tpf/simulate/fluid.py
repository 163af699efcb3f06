"""The fluid engine: a vectorized batch-level model of each pool, bin by bin.

Per pool and time bin ``b`` (``bin_s``, 60 s by default) with ``R`` replicas and
``a`` arrivals of mean window curve ``alpha + beta * B``:

* batch size from the load (Little's law, continuous batching):
  ``B = lambda * (alpha + beta * B)`` with ``lambda = a / (R * bin_s)`` per
  replica, i.e. ``B = lambda*alpha / (1 - lambda*beta)``, clipped to
  ``[1, max_batch_size]`` (``max_batch_size`` when the replica saturates);
* capacity ``c = R * bin_s * B_max / (alpha + beta * B_max)`` queries per bin;
* backlog by the Lindley recursion ``Q_b = max(0, Q_{b-1} + a_b - c_b)``,
  computed in closed form with cumulative sums;
* a query's latency is its window at ``B`` plus the backlog wait
  ``(Q_{b-1} + Q_b) / 2 / (c_b / bin_s)``; its energy is ``gamma / B + delta``.

The batch comes from the load alone (or ``fixed_batch_size`` when a caller
asks for one explicitly); nothing of a plan's operating point is read.

The fluid model has no stochastic queueing: with spare capacity a query waits
0 s. Use the event engine for queueing detail; both book energy the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpf.simulate.pools import PoolQueries, batch_limit


@dataclass(frozen=True)
class FluidPoolOutput:
    bin_index: np.ndarray
    batch_size: np.ndarray
    wait_s: np.ndarray
    busy_gpu_s_bin: np.ndarray
    backlog_end: float


def _batch_size(lam, mean_alpha, mean_beta, max_batch: int) -> np.ndarray:
    denominator = 1.0 - lam * mean_beta
    with np.errstate(divide="ignore", invalid="ignore"):
        batch = np.where(denominator > 0, lam * mean_alpha / denominator, np.inf)
    return np.clip(np.nan_to_num(batch, nan=1.0, posinf=float(max_batch)), 1.0, float(max_batch))


def _backlog(arrivals: np.ndarray, capacity: np.ndarray, initial: float) -> np.ndarray:
    """Lindley recursion ``Q_b = max(0, Q_{b-1} + a_b - c_b)`` with ``Q_{-1} = initial``."""
    level = initial + np.cumsum(arrivals - capacity)
    return level - np.minimum(0.0, np.minimum.accumulate(level))


def fluid_pool(
    queries: PoolQueries,
    replicas_bin: np.ndarray,
    bin_s: float,
    first_bin: int = 0,
    backlog_start: float = 0.0,
    fixed_batch_size: float | None = None,
) -> FluidPoolOutput:
    """Run one pool over bins ``first_bin .. first_bin + len(replicas_bin) - 1``."""
    n_bins = len(replicas_bin)
    bins = np.floor(queries.arrival_s / bin_s).astype(np.int64) - first_bin
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    safe_counts = np.maximum(counts, 1.0)
    alpha, beta = queries.curves.alpha_s, queries.curves.beta_s
    mean_alpha = np.where(counts > 0, np.bincount(bins, alpha, n_bins) / safe_counts, alpha.mean())
    mean_beta = np.where(counts > 0, np.bincount(bins, beta, n_bins) / safe_counts, beta.mean())
    replicas = np.maximum(replicas_bin.astype(np.float64), 0.0)
    limit = batch_limit(queries)
    full = float(fixed_batch_size) if fixed_batch_size else float(limit)
    capacity = replicas * bin_s * full / (mean_alpha + mean_beta * full)
    backlog = _backlog(counts, capacity, backlog_start)
    backlog_before = np.concatenate([[backlog_start], backlog[:-1]])
    if fixed_batch_size:
        batch_bin = np.full(n_bins, float(fixed_batch_size))
    else:
        lam = counts / np.maximum(replicas * bin_s, 1e-300)
        batch_bin = _batch_size(lam, mean_alpha, mean_beta, limit)
        batch_bin = np.where((backlog > 0) | (backlog_before > 0), float(limit), batch_bin)
    with np.errstate(divide="ignore", invalid="ignore"):
        wait_bin = np.where(backlog + backlog_before > 0, (backlog + backlog_before) / 2 / (capacity / bin_s), 0.0)
    served = counts + backlog_before - backlog
    window = mean_alpha + mean_beta * batch_bin
    busy = np.minimum(served * window / batch_bin, replicas * bin_s) * queries.pool.card.gpus_per_replica
    return FluidPoolOutput(bins + first_bin, batch_bin[bins], wait_bin[bins], busy, float(backlog[-1]))
