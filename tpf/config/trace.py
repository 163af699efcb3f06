"""Trace replay for a scenario: the requests of ``workload.trace`` and the demand they make.

:func:`replay_requests` reads the trace (Azure or generic), scales its time,
tiles its first period over the horizon at the workload's hourly profile,
gives each request a query class (drawn from the configured class mix when
the trace has no categories) and its answer length. :func:`trace_workload`
counts the replayed requests per class and period, so the planner plans for
the demand the simulator will replay.

Everything here uses :mod:`tpf.simulate.workload`; nothing reads a ``DictConfig``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from tpf.config.paths import REPO_DIR, resolve_path
from tpf.config.schema import TraceConfig, WorkloadConfig
from tpf.domain import QueryClass, Workload
from tpf.errors import ConfigError, DataError
from tpf.simulate.trace_layout import FORMATS
from tpf.simulate.workload import (
    DEFAULT_CATEGORY,
    RequestBatch,
    assign_categories,
    concat_batches,
    read_trace,
    scale_time,
    tile_trace,
)

MIN_ANSWER_TOKENS = 1.0


def trace_path_problem(trace: TraceConfig) -> str | None:
    """What is wrong with ``workload.trace.path`` (None: the file exists or no trace is set)."""
    if not trace.path:
        return None
    text = str(trace.path)
    path = resolve_path(text)
    if path.is_file():
        return None
    if path.exists():
        return (f"workload.trace.path: {text!r} is not a regular file (a device, FIFO or folder); "
                "give a trace file")
    tried = [str(Path(text).expanduser().absolute())]
    if not Path(text).expanduser().is_absolute():
        tried.append(str((REPO_DIR / text).resolve()))
    return (f"workload.trace.path: trace file not found: {text!r} (tried {', '.join(tried)}); "
            "give an existing trace file (formats: " + ", ".join(FORMATS[1:]) + ")")


def trace_file(trace: TraceConfig) -> Path:
    """The trace's file, or a DataError naming the key and the paths tried."""
    problem = trace_path_problem(trace)
    if problem:
        raise DataError(problem)
    return resolve_path(str(trace.path))


def trace_columns(trace: TraceConfig) -> dict[str, str | None]:
    """The layout fields the scenario overrides (:func:`tpf.simulate.trace_layout.layout_for`)."""
    return {"arrival": trace.arrival_column, "n_in": trace.n_in_column, "n_out": trace.n_out_column,
            "category": trace.category_column, "time_unit": trace.time_unit}


def read_configured_trace(trace: TraceConfig) -> RequestBatch:
    """Read the trace in its declared ``format`` with the configured column mapping."""
    return read_trace(trace_file(trace), trace.format, trace_columns(trace))


def fill_period(batch: RequestBatch, period_s: float) -> RequestBatch:
    """The trace's first ``period_s`` seconds from its first request on; a shorter trace
    is repeated end to end (each copy after the last request plus one mean gap)."""
    batch = replace(batch, arrival_s=batch.arrival_s - batch.arrival_s[0])
    last_s = float(batch.arrival_s[-1])
    if last_s >= period_s:
        return batch.take(batch.arrival_s < period_s)
    span_s = last_s + (last_s / (len(batch) - 1) if len(batch) > 1 else period_s)
    stride = int(batch.request_id.max()) + 1
    copies = [
        replace(batch, arrival_s=batch.arrival_s + k * span_s, request_id=batch.request_id + k * stride)
        for k in range(int(np.ceil(period_s / span_s)))
    ]
    filled = concat_batches(copies)
    return filled.take(filled.arrival_s < period_s)


def class_weights(workload: WorkloadConfig) -> dict[str, float]:
    """Each class's mean arrival rate (queries/s): share x total rate, or its mean rate_per_s."""
    return {
        c.name: float(np.mean(c.rate_per_s)) if c.rate_per_s is not None else c.share * workload.total_rate_per_s
        for c in workload.classes
    }


def _classes_from_mix(batch: RequestBatch, workload: WorkloadConfig, seed: int) -> np.ndarray:
    drawn = assign_categories(batch, class_weights(workload), seed)
    names = [c.name for c in workload.classes]
    return np.asarray([names.index(n) for n in drawn.categories], np.int32)[drawn.category_code]


def _classes_from_categories(batch: RequestBatch, workload: WorkloadConfig, source: str) -> np.ndarray:
    """A request's class: the class of its category with the nearest input length (log scale)."""
    known = sorted({c.category for c in workload.classes})
    unknown = sorted(set(batch.categories[c] for c in np.unique(batch.category_code)) - set(known))
    if unknown:
        raise DataError(f"{source}: column category: {unknown} match no class of the workload; "
                        f"valid categories: {', '.join(known)}")
    out = np.zeros(len(batch), np.int32)
    for code, category in enumerate(batch.categories):
        members = sorted((c.n_in_tokens, i) for i, c in enumerate(workload.classes) if c.category == category)
        selected = batch.category_code == code
        if not members or not selected.any():
            continue
        log_in = np.log([m[0] for m in members])
        where = np.searchsorted((log_in[1:] + log_in[:-1]) / 2, np.log(np.maximum(batch.n_in_tokens[selected], 1.0)))
        out[selected] = np.asarray([m[1] for m in members], np.int32)[where]
    return out


def _with_classes(batch: RequestBatch, workload: WorkloadConfig, seed: int, source: str) -> RequestBatch:
    has_categories = batch.categories != (DEFAULT_CATEGORY,) or any(
        c.category == DEFAULT_CATEGORY for c in workload.classes)
    codes = (_classes_from_categories(batch, workload, source) if has_categories
             else _classes_from_mix(batch, workload, seed))
    categories = sorted({c.category for c in workload.classes})
    category_of_class = np.asarray([categories.index(c.category) for c in workload.classes], np.int32)
    answer = np.asarray([c.n_answer_tokens for c in workload.classes], np.float64)
    n_out = batch.n_out_tokens if workload.trace.answer_tokens == "trace" else answer[codes]
    return replace(batch, category_code=category_of_class[codes], categories=tuple(categories),
                   class_code=codes, class_names=tuple(c.name for c in workload.classes), n_out_tokens=n_out)


def replay_requests(workload: WorkloadConfig, profile: tuple[float, ...], seed: int = 0,
                    max_queries: int | None = None) -> RequestBatch:
    """The requests a scenario replays over its ``n_periods`` periods.

    ``profile`` holds the rate multiplier of each period (the hourly profile
    read from ``start_hour``). With ``tile`` the trace's first period is
    repeated in every period at ``profile[p]`` times its rate; without, the
    scaled trace is replayed once and requests after the horizon are left out.
    """
    trace = workload.trace
    source = str(trace.path)
    batch = scale_time(read_configured_trace(trace), trace.time_scale)
    horizon_s = workload.n_periods * workload.period_s
    if trace.tile:
        base = fill_period(batch, workload.period_s)
        expected = len(base) * float(sum(profile))
        if max_queries is not None and expected > max_queries:
            raise ConfigError(
                f"simulate.max_queries: tiling {source} gives about {expected:.3g} queries, more than "
                f"{max_queries}; raise simulate.max_queries, shorten the workload or raise workload.trace.time_scale"
            )
        batch = tile_trace(base, profile, span_s=workload.period_s, seed=seed)
    else:
        batch = batch.take(batch.arrival_s < horizon_s)
        if max_queries is not None and len(batch) > max_queries:
            raise ConfigError(f"simulate.max_queries: {source} has {len(batch)} queries in the horizon, "
                              f"more than {max_queries}; raise simulate.max_queries")
    if len(batch) == 0:
        raise DataError(f"{source}: no request arrives within the {workload.n_periods} periods of the workload")
    return _with_classes(batch, workload, seed, source)


def trace_workload(workload: Workload, requests: RequestBatch, answer_from_trace: bool) -> Workload:
    """``workload`` with each class's rate per period counted from ``requests`` and its
    input tokens (and, with ``answer_from_trace``, answer tokens) the mean of its requests."""
    assert requests.class_code is not None
    period = np.minimum((requests.arrival_s // workload.period_s).astype(np.int64), workload.n_periods - 1)
    classes = []
    for index, query_class in enumerate(workload.classes):
        mine = requests.class_code == index
        counts = np.bincount(period[mine], minlength=workload.n_periods)
        n_in = float(requests.n_in_tokens[mine].mean()) if mine.any() else query_class.n_in_tokens
        n_answer = query_class.n_answer_tokens
        if answer_from_trace and mine.any():
            n_answer = max(MIN_ANSWER_TOKENS, float(requests.n_out_tokens[mine].mean()))
        classes.append(QueryClass(query_class.name, query_class.category, max(n_in, 1.0),
                                  tuple(float(c) / workload.period_s for c in counts), n_answer))
    return Workload(tuple(classes), workload.n_periods, workload.period_s).validate()
