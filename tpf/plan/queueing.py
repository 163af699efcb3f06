"""Tail latency of a replica from the Erlang-C queue: the load a powered GPU may carry.

A replica serving at operating point ``B`` (continuous batching) holds ``B``
requests at once, each for its batch window ``S`` (s): an M/M/c queue with
``c = B`` servers and service rate ``1/S`` each. At arrival rate ``lambda``
the offered load is ``A = lambda * S`` (Erlang) and the utilization
``rho = A / c``. Erlang C gives the probability that a request waits,

    C(c, A) = c * B(c, A) / (c - A * (1 - B(c, A)))

with Erlang B by its recursion ``B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1))``,
and the wait tail ``P(W > t) = C(c, A) * exp(-(c / S - lambda) * t)``.

Time to first token is the wait plus the prefill ``S_prefill``; the p99 TTFT
SLO ``T`` holds when ``P(W > T - S_prefill) <= 1 - 0.99``.
:func:`max_utilization` returns the largest ``rho`` that keeps it (0 when the
prefill alone breaks the SLO). Pooling across replicas lowers the wait, so a
per-replica bound is conservative (the approach fleet-sizing tools take when
they size pools per replica).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def erlang_c(servers: ArrayLike, offered_erlang: ArrayLike) -> np.ndarray:
    """Probability that an arrival waits in M/M/c (1 where ``A >= c``), elementwise."""
    c = np.atleast_1d(np.asarray(servers, np.int64))
    load = np.broadcast_to(np.atleast_1d(np.asarray(offered_erlang, np.float64)), c.shape)
    blocking = np.ones(c.shape)
    for k in range(1, int(c.max(initial=1)) + 1):
        step = load * blocking / (k + load * blocking)
        blocking = np.where(k <= c, step, blocking)
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = c * blocking / (c - load * (1.0 - blocking))
    return np.where(load < c, np.clip(wait, 0.0, 1.0), 1.0)


def wait_tail(servers: ArrayLike, utilization: ArrayLike, service_s: ArrayLike, wait_s: ArrayLike) -> np.ndarray:
    """``P(W > wait_s)`` of M/M/c at utilization ``rho`` and service time ``S``."""
    c = np.atleast_1d(np.asarray(servers, np.float64))
    rho = np.asarray(utilization, np.float64)
    service = np.asarray(service_s, np.float64)
    waits = erlang_c(c.astype(np.int64), rho * c)
    return waits * np.exp(-c * (1.0 - rho) / service * np.maximum(np.asarray(wait_s, np.float64), 0.0))


def max_utilization(servers: ArrayLike, service_s: ArrayLike, prefill_s: ArrayLike, slo_s: float,
                    quantile: float = 0.99, iterations: int = 40) -> np.ndarray:
    """Largest utilization per replica whose TTFT ``quantile`` stays within ``slo_s`` (bisection)."""
    c = np.atleast_1d(np.asarray(servers, np.float64))
    service = np.broadcast_to(np.asarray(service_s, np.float64), c.shape)
    budget_s = slo_s - np.broadcast_to(np.asarray(prefill_s, np.float64), c.shape)
    allowed = 1.0 - quantile
    low, high = np.zeros(c.shape), np.ones(c.shape)
    for _ in range(iterations):
        middle = (low + high) / 2
        fits = wait_tail(c, middle, service, budget_s) <= allowed
        low, high = np.where(fits, middle, low), np.where(fits, high, middle)
    return np.where(budget_s > 0, low, 0.0)


def wait_quantile_s(servers: ArrayLike, arrival_per_s: ArrayLike, service_s: ArrayLike,
                    quantile: float = 0.99) -> np.ndarray:
    """The ``quantile`` of the M/M/c wait (s): ``max(0, ln(C / (1 - q)) / (c / S - lambda))``.

    Inverts ``P(W > t) = C(c, A) exp(-(c / S - lambda) t)``; infinite where the
    load reaches the replica's capacity (``lambda S >= c``), 0 where no load.
    """
    c = np.atleast_1d(np.asarray(servers, np.float64))
    rate = np.broadcast_to(np.asarray(arrival_per_s, np.float64), c.shape)
    service = np.broadcast_to(np.asarray(service_s, np.float64), c.shape)
    load = rate * service
    stable = (load < c) & (service > 0)
    waits = erlang_c(c.astype(np.int64), np.where(stable, load, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        drain = np.where(stable, c / np.where(service > 0, service, 1.0) - rate, 1.0)
        tail = np.log(np.maximum(waits, 1e-300) / (1.0 - quantile)) / drain
    return np.where(stable, np.maximum(tail, 0.0), np.where(rate > 0, np.inf, 0.0))
