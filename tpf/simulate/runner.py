"""Run a simulation: route requests, serve them per pool with an engine, account per hour.

:func:`simulate` runs a RequestBatch through the ``fluid`` or the ``event``
engine; :func:`simulate_stream` runs chunks of a long trace through the fluid
engine in bounded memory (latency quantiles from a log histogram, within 0.25%).
Energy of a query is booked to the bin where its service starts (event engine)
or where it arrives (fluid engine); idle energy to every bin the GPUs are powered.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from tpf.cost.pricing import STRATEGY_NAMES
from tpf.errors import ConfigError
from tpf.simulate.accounting import SECONDS_PER_HOUR, HourlyLedger
from tpf.simulate.event import make_pool_state, run_events
from tpf.simulate.fluid import fluid_pool
from tpf.simulate.pools import (
    Pool,
    PoolQueries,
    check_capacity,
    idle_energy_per_bin,
    pool_map,
    split_by_pool,
)
from tpf.simulate.result import RECORD_COLUMNS, SimResult
from tpf.simulate.routing import Routed, route_with_policy
from tpf.simulate.workload import RequestBatch, concat_batches

ENGINES = ("fluid", "event")


def route(batch: RequestBatch, routing: Any) -> Routed:
    """Decisions from an AllocationRouter (``route(batch)``) or a policy (``decide(...)``)."""
    if hasattr(routing, "route"):
        return routing.route(batch)
    if hasattr(routing, "decide"):
        return route_with_policy(batch, routing)
    raise ConfigError(
        "routing: needs an AllocationRouter (a plan's allocation) or an object with "
        f"decide(request_id, category, n_in_tokens, hour); got {type(routing).__name__}"
    )


def horizon_hours(batch: RequestBatch, n_hours: int | None) -> int:
    last = float(batch.arrival_s[-1]) if len(batch) else 0.0
    needed = int(np.floor(last / SECONDS_PER_HOUR)) + 1
    if n_hours is None:
        return needed
    if n_hours < needed:
        raise ConfigError(f"n_hours: requests arrive until hour {needed - 1}, so n_hours must be >= {needed}, got {n_hours}")
    return int(n_hours)


def _records(batch: RequestBatch, routed: Routed, parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    columns = {name: np.empty(len(batch))
               for name in ("batch_size", "wait_s", "latency_s", "ttft_s", "energy_j", "n_out_tokens")}
    for part in parts:
        for name in columns:
            columns[name][part["index"]] = part[name]
    frame = pd.DataFrame({
        "request_id": batch.request_id, "arrival_s": batch.arrival_s,
        "hour": np.floor(batch.arrival_s / SECONDS_PER_HOUR).astype(np.int64),
        "category": batch.category_names(),
        "model": np.asarray(routed.models, dtype=object)[routed.model_code],
        "strategy": np.asarray(STRATEGY_NAMES, dtype=object)[routed.strategy_code],
        "budget_tokens": routed.budget_tokens, "votes": routed.votes, "n_in_tokens": batch.n_in_tokens,
        **columns, "accuracy": routed.accuracy,
    })
    return frame[list(RECORD_COLUMNS)]


def _book(ledger: HourlyLedger, queries: PoolQueries, bin_index, batch_size, wait_s,
          priced: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Book each query: its energy and latency at its batch size, or as the engine ``priced`` them."""
    if priced is None:
        energy = queries.curves.energy_j(batch_size)
        latency = wait_s + queries.curves.window_s(batch_size)
    else:
        energy, latency = priced[0], priced[1]
    if priced is not None and len(priced) > 2:
        ttft = priced[2]
    elif queries.prefill is not None:
        ttft = wait_s + queries.prefill.window_s(batch_size)
    else:
        ttft = np.full(len(queries.index), np.nan)
    ledger.add_queries(bin_index, latency, energy, queries.output_tokens, queries.accuracy)
    return {"index": queries.index, "batch_size": batch_size, "wait_s": wait_s, "latency_s": latency,
            "energy_j": energy, "n_out_tokens": queries.output_tokens, "ttft_s": ttft,
            "hour": np.asarray(bin_index) // ledger.bins_per_hour, "model": queries.pool.model}


def _fluid(groups, n_hours, bin_s, fixed_batch_size, ledger) -> tuple[list, dict[str, np.ndarray]]:
    parts, busy = [], {}
    for queries in groups:
        replicas_hour = queries.pool.replicas_per_hour(n_hours)
        check_capacity(queries, replicas_hour)
        out = fluid_pool(queries, np.repeat(replicas_hour, ledger.bins_per_hour), bin_s,
                         fixed_batch_size=fixed_batch_size)
        parts.append(_book(ledger, queries, out.bin_index, out.batch_size, out.wait_s))
        busy[queries.pool.model] = out.busy_gpu_s_bin
    return parts, busy


def _event(groups, n_hours, bin_s, batching, ledger_of) -> tuple[HourlyLedger, list, dict[str, np.ndarray]]:
    states = []
    for queries in groups:
        replicas_hour = queries.pool.replicas_per_hour(n_hours)
        check_capacity(queries, replicas_hour)
        states.append(make_pool_state(queries, replicas_hour, batching, SECONDS_PER_HOUR))
    run_events(states)
    outputs = [state.output() for state in states]
    last_start = max((max(float(o.start_s.max()), float(o.busy_start_s.max(initial=0.0)))
                      for o in outputs if len(o.start_s)), default=0.0)
    ledger = ledger_of(max(n_hours, int(np.floor(last_start / SECONDS_PER_HOUR)) + 1))
    parts, busy = [], {}
    for queries, out in zip(groups, outputs, strict=True):
        bin_index = np.floor(out.start_s / bin_s).astype(np.int64)
        priced = None if out.energy_j is None or out.latency_s is None else \
            (out.energy_j, out.latency_s, out.ttft_s)
        parts.append(_book(ledger, queries, bin_index, out.batch_size, out.start_s - queries.arrival_s, priced))
        batch_bin = np.floor(out.busy_start_s / bin_s).astype(np.int64)
        gpu_s = out.busy_s * queries.pool.card.gpus_per_replica
        busy[queries.pool.model] = np.bincount(batch_bin, gpu_s, ledger.n_bins)
    return ledger, parts, busy


def simulate(
    requests: RequestBatch,
    routing: Any,
    pools: Mapping[str, Pool] | Sequence[Pool],
    *,
    engine: str = "fluid",
    carbon_g_per_kwh: ArrayLike = 400.0,
    pue: ArrayLike = 1.3,
    n_hours: int | None = None,
    bin_s: float = 60.0,
    idle_mode: str = "powered",
    fixed_batch_size: float | None = None,
    batching: str = "continuous",
    keep_records: bool = False,
    cot_used_fraction: float = 1.0,
) -> SimResult:
    """Simulate ``requests`` routed by ``routing`` on ``pools``; hourly and total results.

    ``carbon_g_per_kwh`` and ``pue``: a scalar, 24 daily values, or one per hour.
    ``fixed_batch_size`` (fluid engine) serves every query at that batch size
    (the planner's assumption) instead of the one the load produces.
    ``cot_used_fraction``: share of a CoT budget generated (as in the option table).
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine: must be one of {', '.join(ENGINES)}, got {engine!r}")
    pools_by_model = pool_map(pools)
    hours = horizon_hours(requests, n_hours)
    routed = route(requests, routing)
    groups = split_by_pool(requests, routed, pools_by_model, cot_used_fraction)
    if engine == "fluid":
        ledger = HourlyLedger(hours, bin_s)
        parts, busy = _fluid(groups, hours, bin_s, fixed_batch_size, ledger)
    else:
        ledger, parts, busy = _event(groups, hours, bin_s, batching, lambda h: HourlyLedger(h, bin_s))
    idle_hour: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for model, pool in pools_by_model.items():
        busy_bin = busy.get(model, np.zeros(ledger.n_bins))
        idle, gpus = idle_energy_per_bin(pool, ledger.n_hours, ledger.bins_per_hour, bin_s, busy_bin, idle_mode)
        ledger.add_pool(idle, busy_bin, gpus)
        idle_hour[model] = (idle.reshape(ledger.n_hours, -1).sum(axis=1), busy_bin.reshape(ledger.n_hours, -1).sum(axis=1))
    records = _records(requests, routed, parts) if keep_records else None
    notes = {"bin_s": bin_s, "idle_mode": idle_mode, "fixed_batch_size": fixed_batch_size, "batching": batching}
    result = ledger.finish(carbon_g_per_kwh, pue, engine, records, notes)
    result.model_hourly = model_hourly(parts, pools_by_model, ledger.n_hours, idle_hour)
    ttft = np.concatenate([part["ttft_s"] for part in parts]) if parts else np.zeros(0)
    ttft = ttft[np.isfinite(ttft)]
    result.totals["ttft_p50_s"], result.totals["ttft_p99_s"] = (
        (float(np.quantile(ttft, 0.5)), float(np.quantile(ttft, 0.99))) if len(ttft) else (float("nan"),) * 2)
    return result


def model_hourly(parts: list[dict[str, Any]], pools: Mapping[str, Pool], n_hours: int,
                 idle_hour: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> pd.DataFrame:
    """Per model and hour: queries served, their energy, the batch they formed (mean over
    queries), p99 latency and time to first token, whole GPUs powered, their idle energy and
    busy GPU-seconds (``idle_hour``: per model, idle J and busy GPU-s per hour)."""
    rows = []
    for part in parts:
        frame = pd.DataFrame({"hour": part["hour"], "batch_size": part["batch_size"], "energy_j": part["energy_j"],
                              "latency_s": part["latency_s"], "ttft_s": part["ttft_s"]})
        grouped = frame.groupby("hour")
        summary = grouped.agg(served_queries=("energy_j", "size"), query_energy_j=("energy_j", "sum"),
                              formed_batch_size=("batch_size", "mean"))
        summary["latency_p99_s"] = grouped["latency_s"].quantile(0.99)
        summary["ttft_p99_s"] = grouped["ttft_s"].quantile(0.99)
        rows.append(summary.reset_index().assign(model=part["model"]))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["hour", "served_queries", "query_energy_j", "formed_batch_size", "latency_p99_s", "ttft_p99_s",
                 "model"])
    idle_hour = idle_hour or {}
    zeros = (np.zeros(n_hours), np.zeros(n_hours))
    powered = pd.DataFrame([(model, hour, float(gpus), float(idle_hour.get(model, zeros)[0][hour]),
                             float(idle_hour.get(model, zeros)[1][hour]))
                            for model, pool in pools.items()
                            for hour, gpus in enumerate(pool.powered_gpus_per_hour(n_hours))],
                           columns=["model", "hour", "powered_gpus", "idle_energy_j", "busy_gpu_s"])
    table = powered.merge(table, on=["model", "hour"], how="left")
    table[["served_queries", "query_energy_j"]] = table[["served_queries", "query_energy_j"]].fillna(0.0)
    return table.sort_values(["model", "hour"]).reset_index(drop=True)


def _stream_pool_step(queries, state, replicas_bin, cursor, upto, bin_s, ledger, fixed_batch_size) -> None:
    """Advance one pool over bins ``[cursor, upto)`` with the requests of those bins."""
    out = fluid_pool(queries, replicas_bin[cursor:upto], bin_s, first_bin=cursor,
                     backlog_start=state["backlog"], fixed_batch_size=fixed_batch_size)
    part = _book(ledger, queries, out.bin_index, out.batch_size, out.wait_s)
    state["busy"][cursor:upto] += out.busy_gpu_s_bin
    state["backlog"] = out.backlog_end
    hours = len(state["served"])
    state["served"] += np.bincount(part["hour"], minlength=hours)[:hours]
    state["energy"] += np.bincount(part["hour"], part["energy_j"], hours)[:hours]
    state["batch"] += np.bincount(part["hour"], np.broadcast_to(part["batch_size"], part["hour"].shape), hours)[:hours]


def _stream_model_hourly(states: dict[str, dict[str, Any]], pools: Mapping[str, Pool], n_hours: int,
                         idle_hour: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """:func:`model_hourly` from the stream's per-hour sums (no per-query latencies are kept)."""
    parts = []
    for model, state in states.items():
        hours = np.flatnonzero(state["served"])
        served = state["served"][hours]
        parts.append({"hour": np.repeat(hours, 1), "batch_size": state["batch"][hours] / served,
                      "energy_j": state["energy"][hours], "latency_s": np.full(len(hours), np.nan),
                      "ttft_s": np.full(len(hours), np.nan), "model": model, "count": served})
    table = model_hourly(parts, pools, n_hours, idle_hour)
    counts = {(part["model"], int(h)): float(c) for part in parts for h, c in zip(part["hour"], part["count"], strict=True)}
    table["served_queries"] = [counts.get((m, int(h)), 0.0) for m, h in zip(table["model"], table["hour"], strict=True)]
    return table


def simulate_stream(
    chunks: Iterable[RequestBatch],
    routing: Any,
    pools: Mapping[str, Pool] | Sequence[Pool],
    n_hours: int,
    *,
    carbon_g_per_kwh: ArrayLike = 400.0,
    pue: ArrayLike = 1.3,
    bin_s: float = 60.0,
    idle_mode: str = "powered",
    fixed_batch_size: float | None = None,
    cot_used_fraction: float = 1.0,
    exact_quantiles: bool = False,
) -> SimResult:
    """The fluid engine over a stream of request chunks, in memory bounded by the chunk size.

    Each chunk is routed and served bin by bin; the requests of a chunk's last,
    possibly incomplete bin wait for the next chunk, and each pool's backlog
    carries over. A pool with a backlog but no request in a stretch of bins
    keeps it until its next requests (a simplification for overload only).
    Quantiles come from per-hour log histograms (within 0.25%), or with
    ``exact_quantiles`` from the distinct latencies and their counts (the
    fluid engine has few); no per-query records. Without a backlog carried
    over a pool's empty stretch, the hourly results are those of
    :func:`simulate` with ``engine="fluid"`` on the concatenated chunks, to
    float round-off (sums split at chunk boundaries).
    """
    pools_by_model = pool_map(pools)
    ledger = HourlyLedger(n_hours, bin_s, exact_quantiles=exact_quantiles, compress=exact_quantiles)
    replicas = {m: np.repeat(p.replicas_per_hour(n_hours), ledger.bins_per_hour) for m, p in pools_by_model.items()}
    states: dict[str, dict[str, Any]] = {m: {"backlog": 0.0, "busy": np.zeros(ledger.n_bins), "served": np.zeros(n_hours),
                                             "energy": np.zeros(n_hours), "batch": np.zeros(n_hours)}
                                         for m in pools_by_model}
    cursor, carry = 0, None
    for chunk in itertools.chain(chunks, [None]):
        batch = chunk if carry is None else (carry if chunk is None else concat_batches([carry, chunk]))
        if batch is None or len(batch) == 0:
            continue
        bins = np.floor(batch.arrival_s / bin_s).astype(np.int64)
        if bins[-1] >= ledger.n_bins:
            raise ConfigError(f"n_hours: the stream has requests after hour {n_hours - 1}; raise n_hours")
        upto = ledger.n_bins if chunk is None else int(bins[-1])
        ready = bins < upto
        carry = batch.take(~ready)
        now = batch.take(ready)
        if len(now):
            for queries in split_by_pool(now, route(now, routing), pools_by_model, cot_used_fraction):
                check_capacity(queries, replicas[queries.pool.model][::ledger.bins_per_hour])
                _stream_pool_step(queries, states[queries.pool.model], replicas[queries.pool.model],
                                  cursor, upto, bin_s, ledger, fixed_batch_size)
        cursor = upto
    idle_hour = {}
    for model, pool in pools_by_model.items():
        idle, gpus = idle_energy_per_bin(pool, n_hours, ledger.bins_per_hour, bin_s, states[model]["busy"], idle_mode)
        ledger.add_pool(idle, states[model]["busy"], gpus)
        idle_hour[model] = (idle.reshape(n_hours, -1).sum(axis=1), states[model]["busy"].reshape(n_hours, -1).sum(axis=1))
    notes = {"bin_s": bin_s, "idle_mode": idle_mode, "fixed_batch_size": fixed_batch_size, "backlog_end": {m: s["backlog"] for m, s in states.items()}}
    result = ledger.finish(carbon_g_per_kwh, pue, "fluid-stream", None, notes)
    result.model_hourly = _stream_model_hourly(states, pools_by_model, n_hours, idle_hour)
    return result
