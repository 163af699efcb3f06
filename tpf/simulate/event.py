"""The event engine: queueing and batching per model pool, one event heap.

The core is small: a heap of ``(time_s, sequence, handler, pool, replica)``
ordered by that one key (time, then the order events were created); a handler
returns its follow-up events. Each pool owns its state: its FIFO queue (the
pool's requests in arrival order and a head pointer) and its replicas. The
batching strategy is a pool-state class picked from :data:`BATCHING`:

* ``continuous`` (default): continuous batching; events ``slot_free``;
* ``static``: a free replica takes all waiting requests as one batch; events
  ``replica_free``;
* ``iteration``: iteration level, each step a prefill chunk or a decode step
  of the running batch, priced per step from the card
  (:mod:`tpf.simulate.iteration`); events ``step_done``.

Shared events: ``wake`` (the next request of an idle pool arrives) and
``hour`` (the number of powered replicas changes, when ``gpus`` vary by hour).
A request's latency is its wait in the queue plus its window at its batch size.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from tpf.errors import ConfigError
from tpf.simulate.pools import PoolQueries


@dataclass(frozen=True)
class EventPoolOutput:
    """Per request: service start and batch size; per busy interval: start and GPU-busy seconds.

    An engine that prices each step itself (iteration level) also gives each
    request's energy, latency and time to first token; the others leave them
    None and the request is priced at its batch size.
    """

    start_s: np.ndarray
    batch_size: np.ndarray
    busy_start_s: np.ndarray
    busy_s: np.ndarray
    energy_j: np.ndarray | None = None
    latency_s: np.ndarray | None = None
    ttft_s: np.ndarray | None = None


class PoolState:
    """One pool's FIFO queue (its requests in arrival order and a head pointer) and replicas."""

    def __init__(self, queries: PoolQueries, replicas_hour: np.ndarray, period_s: float):
        self.arrival = queries.arrival_s.tolist()
        self.alpha = queries.curves.alpha_s.tolist()
        self.beta = queries.curves.beta_s.tolist()
        self.limit = queries.pool.batch_limit
        self.replicas_hour = replicas_hour.tolist()
        self.period_s = period_s
        self.allowed = self.replicas_hour[0]
        self.head, self.wake_pending = 0, False

    def wake(self, now: float, replica: int, next_event_s: float) -> list[tuple]:
        self.wake_pending = False
        return self.dispatch(now, next_event_s)

    def hour(self, now: float, replica: int, next_event_s: float) -> list[tuple]:
        hour = int(round(now / self.period_s))
        self.allowed = self.replicas_hour[min(hour, len(self.replicas_hour) - 1)]
        self.capacity_changed()
        return self.dispatch(now, next_event_s)

    def wake_at_next_arrival(self, now: float, can_start: bool) -> list[tuple]:
        if can_start and self.head < len(self.arrival) and not self.wake_pending and self.arrival[self.head] > now:
            self.wake_pending = True
            return [(self.arrival[self.head], self.wake, -1)]
        return []

    def capacity_changed(self) -> None:
        raise NotImplementedError

    def dispatch(self, now: float, next_event_s: float) -> list[tuple]:
        """Start what can start at ``now``; no other event happens before ``next_event_s``."""
        raise NotImplementedError

    def output(self) -> EventPoolOutput:
        raise NotImplementedError


class ContinuousPool(PoolState):
    """Continuous batching (as vLLM): a request joins the least-loaded replica with a free slot.

    Its batch size is the replica's number of active requests once it joined;
    its window is ``alpha + beta * B``; its slot frees when the window ends.
    Arrivals before the next pending event are admitted in the same dispatch
    (nothing can change the pool in between), which saves their wake events.
    """

    def __init__(self, queries: PoolQueries, replicas_hour: np.ndarray, period_s: float):
        super().__init__(queries, replicas_hour, period_s)
        self.active = [0] * max(self.replicas_hour)
        self.held = [0.0] * max(self.replicas_hour)      # KV-cache tokens held per replica
        self.kv_tokens = queries.pool.kv_tokens
        need = queries.tokens if queries.tokens is not None else np.zeros(len(self.arrival))
        self.need = np.minimum(need, self.kv_tokens).tolist()  # a request larger than the cache runs alone
        self.start = [0.0] * len(self.arrival)
        self.batch = [0] * len(self.arrival)
        self.window = [0.0] * len(self.arrival)

    def _least_loaded(self, need: float) -> int:
        """The powered replica with the fewest active requests that has a slot and KV cache for
        ``need`` tokens, or -1 (the request waits: first come, first served)."""
        if self.allowed < 1:
            return -1
        load = min(self.active[:self.allowed])
        replica = self.active.index(load)
        if load < self.limit and self.held[replica] + need <= self.kv_tokens:
            return replica
        fits = [r for r in range(self.allowed)
                if self.active[r] < self.limit and self.held[r] + need <= self.kv_tokens]
        return min(fits, key=self.active.__getitem__) if fits else -1

    def dispatch(self, now: float, next_event_s: float) -> list[tuple]:
        events: list[tuple] = []
        arrival, total = self.arrival, len(self.arrival)
        while self.head < total:
            index = self.head
            if arrival[index] > now:
                if arrival[index] >= next_event_s:
                    break
                now = arrival[index]
            replica = self._least_loaded(self.need[index])
            if replica < 0:
                return events
            self.active[replica] += 1
            self.held[replica] += self.need[index]
            batch = self.active[replica]
            window = self.alpha[index] + self.beta[index] * batch
            self.start[index], self.batch[index], self.window[index] = now, batch, window
            self.head += 1
            events.append((now + window, self.slot_free, (replica, index)))
            next_event_s = min(next_event_s, now + window)
        return events + self.wake_at_next_arrival(now, True)

    def slot_free(self, now: float, slot: tuple[int, int], next_event_s: float) -> list[tuple]:
        replica, index = slot
        self.active[replica] -= 1
        self.held[replica] -= self.need[index]
        return self.dispatch(now, next_event_s)

    def capacity_changed(self) -> None:
        """Replicas beyond ``allowed`` take no new requests; their active ones finish."""

    def output(self) -> EventPoolOutput:
        start = np.asarray(self.start)
        batch = np.asarray(self.batch, np.float64)
        return EventPoolOutput(start, batch, start, np.asarray(self.window) / batch)


class StaticPool(PoolState):
    """Static batching: an idle replica takes every waiting request (up to the limit) as one batch.

    The batch window lasts its longest member's ``alpha + beta * B``; the
    replica is busy until then.
    """

    def __init__(self, queries: PoolQueries, replicas_hour: np.ndarray, period_s: float):
        super().__init__(queries, replicas_hour, period_s)
        self.flat = not np.any(queries.curves.beta_s)
        self.idle = list(range(self.allowed))
        self.off = list(range(self.allowed, max(self.replicas_hour)))
        self.log: list[tuple[int, float, float]] = []  # (count, start_s, window_s) in head order

    def _window(self, count: int) -> float:
        head = self.head
        if count == 1:
            return self.alpha[head] + self.beta[head]
        if self.flat:
            return max(self.alpha[head:head + count])
        pairs = zip(self.alpha[head:head + count], self.beta[head:head + count], strict=True)
        return max(a + b * count for a, b in pairs)

    def dispatch(self, now: float, next_event_s: float) -> list[tuple]:
        events: list[tuple] = []
        arrival, total = self.arrival, len(self.arrival)
        while self.idle and self.head < total and arrival[self.head] <= now:
            replica = self.idle.pop()
            count = bisect_right(arrival, now, self.head, min(total, self.head + self.limit)) - self.head
            window = self._window(count)
            self.log.append((count, now, window))
            self.head += count
            events.append((now + window, self.replica_free, replica))
        return events + self.wake_at_next_arrival(now, bool(self.idle))

    def replica_free(self, now: float, replica: int, next_event_s: float) -> list[tuple]:
        (self.idle if replica < self.allowed else self.off).append(replica)
        return self.dispatch(now, next_event_s)

    def capacity_changed(self) -> None:
        self.idle = [r for r in self.idle if r < self.allowed]
        self.idle += [r for r in self.off if r < self.allowed]
        self.off = [r for r in self.off if r >= self.allowed]

    def output(self) -> EventPoolOutput:
        counts = np.asarray([c for c, _, _ in self.log], np.int64)
        starts = np.asarray([s for _, s, _ in self.log], np.float64)
        windows = np.asarray([w for _, _, w in self.log], np.float64)
        return EventPoolOutput(np.repeat(starts, counts), np.repeat(counts, counts).astype(np.float64),
                               starts, windows)


BATCHING: dict[str, type[PoolState]] = {"continuous": ContinuousPool, "static": StaticPool}


def _register_iteration() -> None:
    from tpf.simulate.iteration import IterationPool

    BATCHING["iteration"] = IterationPool


def make_pool_state(queries: PoolQueries, replicas_hour: np.ndarray, batching: str, period_s: float) -> PoolState:
    """The pool state of the batching strategy ``batching`` (a key of :data:`BATCHING`)."""
    if batching == "iteration" and batching not in BATCHING:
        _register_iteration()
    if batching not in BATCHING:
        raise ConfigError(f"batching: must be one of {', '.join(BATCHING)}, got {batching!r}")
    return BATCHING[batching](queries, replicas_hour, period_s)


def run_events(pools: list[PoolState]) -> None:
    """The event loop: pop the earliest event, run its handler, push its follow-ups.

    An event is ``(time_s, sequence, handler, replica)``; ``handler(now, replica,
    next_event_s)`` returns follow-ups ``(time_s, handler, replica)``.
    """
    heap: list[tuple] = []
    sequence = 0
    for pool in pools:
        follow: list[tuple] = []
        if pool.arrival:
            pool.wake_pending = True
            follow.append((pool.arrival[0], pool.wake, -1))
        if len(set(pool.replicas_hour)) > 1:
            follow += [(h * pool.period_s, pool.hour, -1) for h in range(1, len(pool.replicas_hour))]
        for time_s, handler, replica in follow:
            heapq.heappush(heap, (time_s, sequence, handler, replica))
            sequence += 1
    push, pop, infinity = heapq.heappush, heapq.heappop, float("inf")
    while heap:
        now, _, handler, replica = pop(heap)
        for time_s, next_handler, next_replica in handler(now, replica, heap[0][0] if heap else infinity):
            push(heap, (time_s, sequence, next_handler, next_replica))
            sequence += 1
    for pool in pools:
        if pool.head < len(pool.arrival):
            raise ConfigError(
                f"{len(pool.arrival) - pool.head} requests were never served: no replica is powered "
                "after they arrive (give the pool GPUs in the last hours)"
            )
