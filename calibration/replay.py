"""Replay a trace against a serving engine at the trace's arrival times, and summarize it.

:func:`replay` submits each request at ``start + arrival_s`` (the engine's
clock), waits for all, and returns one record per request (arrival, submit,
first token, finish, tokens) and the engine's iteration log (running and
waiting requests, KV-cache use). :func:`replay_summary` gives the figures the
simulator is compared on; :func:`latency_summary` computes them from any
records with ``arrival_s``, ``first_token_s``, ``finish_s`` and
``n_out_tokens`` (the simulator's are built the same way).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd

from calibration.engine import ServingEngine


@dataclass(frozen=True)
class ReplayRequest:
    request_id: int
    arrival_s: float
    n_in_tokens: int
    n_out_tokens: int


async def _one(engine: ServingEngine, request: ReplayRequest, start_s: float, prompt: list[int]) -> dict:
    delay = start_s + request.arrival_s - engine.clock()
    if delay > 0:
        await asyncio.sleep(delay)
    timing = await engine.generate(f"r{request.request_id}", prompt, request.n_out_tokens)
    return {"request_id": request.request_id, "arrival_s": request.arrival_s,
            "submit_s": timing.submit_s - start_s, "first_token_s": timing.first_token_s - start_s,
            "finish_s": timing.finish_s - start_s, "n_in_tokens": timing.n_in_tokens,
            "n_out_tokens": timing.n_out_tokens}


async def replay(engine: ServingEngine, requests: list[ReplayRequest], seed: int = 0,
                 lead_s: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Serve ``requests`` at their arrival times; (per-request records, engine iterations), times from the start."""
    rng = random.Random(seed)
    vocab = engine.vocab_size()
    prompts = [[rng.randrange(1, vocab) for _ in range(r.n_in_tokens)] for r in requests]
    first_iteration = len(engine.iterations)
    start_s = engine.clock() + lead_s
    rows = await asyncio.gather(*(_one(engine, r, start_s, p) for r, p in zip(requests, prompts, strict=True)))
    records = pd.DataFrame(rows).sort_values("arrival_s", kind="stable").reset_index(drop=True)
    log = pd.DataFrame(engine.iterations[first_iteration:], columns=["clock_s", "running", "waiting", "kv_cache_use"])
    log["clock_s"] -= start_s
    return records, log


def busy_intervals(records: pd.DataFrame) -> np.ndarray:
    """The union of the requests' [arrival, finish] intervals (the engine has work), as (start, end) rows."""
    order = records.sort_values("arrival_s")
    merged: list[list[float]] = []
    for start, end in zip(order["arrival_s"], order["finish_s"], strict=True):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([float(start), float(end)])
    return np.asarray(merged, float).reshape(-1, 2)


def busy_seconds(records: pd.DataFrame) -> float:
    """Seconds in which at least one request is in the engine (arrived, not finished)."""
    intervals = busy_intervals(records)
    return float((intervals[:, 1] - intervals[:, 0]).sum())


def running_time_average(log: pd.DataFrame, records: pd.DataFrame, grid_s: float = 0.01) -> float:
    """Time-average over the replay's span of the scheduler's running count.

    The count an iteration reports holds since the previous iteration; where
    no request is in the engine (between busy intervals) the count is 0.
    """
    start, end = float(records["arrival_s"].min()), float(records["finish_s"].max())
    times = log["clock_s"].to_numpy(float)
    if len(times) == 0 or end <= start:
        return float("nan")
    grid = np.arange(start, end, grid_s)
    running = log["running"].to_numpy(float)[np.minimum(np.searchsorted(times, grid), len(times) - 1)]
    intervals = busy_intervals(records)
    slot = np.searchsorted(intervals[:, 0], grid, side="right") - 1
    busy = (slot >= 0) & (grid < intervals[np.maximum(slot, 0), 1])
    return float(np.mean(np.where(busy, running, 0.0)))


def latency_summary(records: pd.DataFrame) -> dict[str, float]:
    """TTFT and end-to-end p50/p99, throughput, mean requests in the system (arrival to finish)."""
    ttft = records["first_token_s"] - records["arrival_s"]
    e2e = records["finish_s"] - records["arrival_s"]
    span = float(records["finish_s"].max() - records["arrival_s"].min())
    return {
        "requests": float(len(records)),
        "ttft_p50_s": float(np.percentile(ttft, 50)), "ttft_p99_s": float(np.percentile(ttft, 99)),
        "e2e_p50_s": float(np.percentile(e2e, 50)), "e2e_p99_s": float(np.percentile(e2e, 99)),
        "throughput_tokens_per_s": float(records["n_out_tokens"].sum() / span),
        "mean_in_system": float(e2e.sum() / span),
        "span_s": span,
    }


def replay_summary(records: pd.DataFrame, log: pd.DataFrame) -> dict[str, float]:
    """:func:`latency_summary` plus the engine's time-averaged running batch."""
    summary = latency_summary(records)
    summary["mean_running_batch"] = running_time_average(log, records)
    summary["engine_busy_s"] = busy_seconds(records)
    summary["engine_busy_s_per_query"] = summary["engine_busy_s"] / max(len(records), 1)
    summary["max_running_batch"] = float(log["running"].max()) if len(log) else float("nan")
    summary["max_waiting"] = float(log["waiting"].max()) if len(log) else float("nan")
    return summary
