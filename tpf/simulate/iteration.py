"""Iteration-level batching: each replica runs steps, as vLLM does (and Vidur models it).

A replica's step is either a **prefill chunk** (the prompts of requests it has
just admitted, whole prompts up to ``chunk_tokens`` tokens together) or a
**decode step** of its running batch (one token for every running request).
Prefill goes first, as vLLM's default scheduler does: admitted requests are
prefilled before the running batch decodes again. Times and energies come
from the card through each request's own curves (:mod:`tpf.cost.pricing`,
anchors applied per request shape):

* prefill of ``k`` requests together: the step lasts the mean over them of
  ``prefill_window_i(k) = a_i + b_i k``; request ``i`` is charged
  ``prefill_energy_i(k) = g_i / k + d_i``;
* the prefill step yields a request's first token; then a decode step of a
  batch of ``B`` running requests yields one more each: request ``i``'s share
  is ``(window_i(B) - prefill_window_i(B)) / (n_i - 1)`` per step over its
  ``n_i`` generated tokens; the step lasts the mean of those shares; each
  running request is charged its own energy share ``(energy_i(B) -
  prefill_energy_i(B)) / (n_i - 1)`` at that step's ``B``. A one-token answer
  is served whole in its prefill step (its full window and energy).

So a request that ran its whole decode at one batch size costs exactly what
the request-level engine charges at that size; one whose batch grew and shrank
pays each step at the batch it ran in. The energy is booked per request
(``gamma_i * sum_t 1/B_t + delta_i * n_i``, kept in O(1) per step with a running
sum of ``1/B``), its time to first token is the end of its prefill, its batch
size the harmonic mean of the decode steps' batches. A replica admits a
request while it has a slot (the pool's batch limit) and KV cache for the
request's input plus generated tokens (:mod:`tpf.simulate.memory`); requests
wait first come, first served in the pool's queue, and an idle replica takes
them as they arrive.
"""

from __future__ import annotations

import heapq

import numpy as np

from tpf.simulate.event import EventPoolOutput, PoolState
from tpf.simulate.pools import PoolQueries

CHUNK_TOKENS = 8192  # prompt tokens of one prefill chunk (vLLM's max_num_batched_tokens order)


class _Replica:
    """One replica's running batch and the state of its step in flight."""

    __slots__ = ("busy", "running", "held", "steps", "inverse_sum", "sum_alpha", "sum_beta", "finish", "prefilling")

    def __init__(self) -> None:
        self.busy = False
        self.running = 0
        self.held = 0.0
        self.steps = 0              # decode steps done
        self.inverse_sum = 0.0      # sum over decode steps of 1 / B
        self.sum_alpha = 0.0        # running requests' per-step window coefficients
        self.sum_beta = 0.0
        self.finish: list[tuple[int, int]] = []  # (decode step at which it ends, request)
        self.prefilling: list[int] = []


class IterationPool(PoolState):
    """Iteration-level batching (module doc); events ``step_done``."""

    def __init__(self, queries: PoolQueries, replicas_hour: np.ndarray, period_s: float,
                 chunk_tokens: float = CHUNK_TOKENS):
        super().__init__(queries, replicas_hour, period_s)
        full, prefill = queries.curves, queries.prefill
        assert prefill is not None and queries.decode_steps is not None and queries.tokens is not None
        steps = np.maximum(np.round(queries.decode_steps), 1.0)
        per = 1.0 / np.maximum(steps - 1.0, 1.0)
        self.n_steps = steps.astype(np.int64).tolist()
        alone = steps <= 1  # one token: the prefill step produces it, at the whole request's cost
        self.p_alpha = np.where(alone, full.alpha_s, prefill.alpha_s).tolist()
        self.p_beta = np.where(alone, full.beta_s, prefill.beta_s).tolist()
        self.p_gamma = np.where(alone, full.gamma_j, prefill.gamma_j).tolist()
        self.p_delta = np.where(alone, full.delta_j, prefill.delta_j).tolist()
        self.d_alpha = ((full.alpha_s - prefill.alpha_s) * per).tolist()
        self.d_beta = ((full.beta_s - prefill.beta_s) * per).tolist()
        self.d_gamma = ((full.gamma_j - prefill.gamma_j) * per).tolist()
        self.d_delta = ((full.delta_j - prefill.delta_j) * per).tolist()
        self.kv_tokens = queries.pool.kv_tokens
        self.need = np.minimum(queries.tokens, self.kv_tokens).tolist()
        self.prompt = (queries.tokens - queries.output_tokens).tolist()
        self.chunk_tokens = float(chunk_tokens)
        count = len(self.arrival)
        self.start = [0.0] * count
        self.energy = [0.0] * count
        self.done_s = [0.0] * count
        self.first_token_s = [0.0] * count
        self.inverse_start = [0.0] * count
        self.batch = [1.0] * count
        self.replicas = [_Replica() for _ in range(max(self.replicas_hour))]
        self.busy_log: list[tuple[float, float]] = []

    def capacity_changed(self) -> None:
        """Replicas beyond ``allowed`` admit nothing new; their running requests finish."""

    def dispatch(self, now: float, next_event_s: float) -> list[tuple]:
        events = []
        for number in range(self.allowed):
            replica = self.replicas[number]
            if not replica.busy:
                events += self._start_step(number, replica, now)
        idle = any(not self.replicas[r].busy for r in range(self.allowed))
        return events + self.wake_at_next_arrival(now, idle)

    def _admit(self, replica: _Replica, now: float) -> list[int]:
        admitted: list[int] = []
        chunk = 0.0
        limit, arrival, total = self.limit, self.arrival, len(self.arrival)
        while self.head < total and arrival[self.head] <= now and replica.running < limit:
            index = self.head
            if replica.held + self.need[index] > self.kv_tokens:
                break
            if admitted and chunk + self.prompt[index] > self.chunk_tokens:
                break
            chunk += self.prompt[index]
            replica.running += 1
            replica.held += self.need[index]
            self.start[index] = now
            admitted.append(index)
            self.head += 1
        return admitted

    def _start_step(self, number: int, replica: _Replica, now: float) -> list[tuple]:
        admitted = self._admit(replica, now) if number < self.allowed else []
        if admitted:
            size = len(admitted)
            step_s = sum(self.p_alpha[i] + self.p_beta[i] * size for i in admitted) / size
            for i in admitted:
                self.energy[i] += self.p_gamma[i] / size + self.p_delta[i]
            replica.prefilling = admitted
        elif replica.finish:
            size = replica.running - len(replica.prefilling)
            step_s = replica.sum_alpha / size + replica.sum_beta
            replica.inverse_sum += 1.0 / size
            replica.steps += 1
        else:
            replica.busy = False
            return []
        replica.busy = True
        self.busy_log.append((now, step_s))
        return [(now + step_s, self.step_done, number)]

    def step_done(self, now: float, number: int, next_event_s: float) -> list[tuple]:
        replica = self.replicas[number]
        replica.busy = False
        if replica.prefilling:
            for i in replica.prefilling:
                self.first_token_s[i] = now
                self._join(replica, i, now)
            replica.prefilling = []
        else:
            self._leave_finished(replica, now)
        return self.dispatch(now, next_event_s) if number < self.allowed else \
            self._start_step(number, replica, now)

    def _join(self, replica: _Replica, index: int, now: float) -> None:
        if self.n_steps[index] <= 1:   # the prefill produced its one token
            self.done_s[index] = now
            self._release(replica, index)
            return
        replica.sum_alpha += self.d_alpha[index]
        replica.sum_beta += self.d_beta[index]
        self.inverse_start[index] = replica.inverse_sum
        heapq.heappush(replica.finish, (replica.steps + self.n_steps[index] - 1, index))

    def _leave_finished(self, replica: _Replica, now: float) -> None:
        while replica.finish and replica.finish[0][0] <= replica.steps:
            _, index = heapq.heappop(replica.finish)
            inverse = replica.inverse_sum - self.inverse_start[index]
            decoded = self.n_steps[index] - 1
            self.energy[index] += self.d_gamma[index] * inverse + self.d_delta[index] * decoded
            self.batch[index] = decoded / inverse
            self.done_s[index] = now
            replica.sum_alpha -= self.d_alpha[index]
            replica.sum_beta -= self.d_beta[index]
            self._release(replica, index)

    def _release(self, replica: _Replica, index: int) -> None:
        replica.running -= 1
        replica.held -= self.need[index]

    def output(self) -> EventPoolOutput:
        start = np.asarray(self.start)
        arrival = np.asarray(self.arrival)
        log = np.asarray(self.busy_log, np.float64).reshape(-1, 2)
        return EventPoolOutput(start, np.asarray(self.batch), log[:, 0], log[:, 1],
                               energy_j=np.asarray(self.energy), latency_s=np.asarray(self.done_s) - arrival,
                               ttft_s=np.asarray(self.first_token_s) - arrival)
