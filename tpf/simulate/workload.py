"""Requests for the simulator: trace readers, synthetic arrivals, mixes, scaling, tiling.

A :class:`RequestBatch` holds requests column-wise in numpy arrays, sorted by
arrival time (s from the start of the simulation). Three sources:

* a trace file, CSV or JSONL, read by :func:`read_trace`: the generic layout
  (``arrival_s, n_in_tokens, n_out_tokens`` and an optional ``category``),
  the Azure LLM inference trace (``TIMESTAMP, ContextTokens, GeneratedTokens``),
  Mooncake and Vidur traces, or any file whose columns are named by option
  (:mod:`tpf.simulate.trace_layout`);
* synthetic arrivals per query class (:func:`synthetic_requests`): Poisson at
  each period's rate, or bursty (a gamma-modulated Poisson process).

Large traces stream in chunks (:func:`iter_trace_chunks`), each a RequestBatch
with global request ids, so memory stays bounded whatever the trace length.
Every reader checks its input and raises :class:`~tpf.errors.DataError` naming
the file, row and column: missing columns, negative or non-numeric token
counts, timestamps that go backwards. Simultaneous arrivals are kept in file order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tpf.atomic import write_text_atomic
from tpf.csvcheck import check_row_widths, plain
from tpf.domain import Workload
from tpf.errors import ConfigError, DataError
from tpf.schema import MAX_TOKENS_PER_REQUEST
from tpf.simulate.trace_layout import SECONDS_PER_UNIT, TraceLayout, layout_for, mismatch_hint

AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
GENERIC_COLUMNS = ("arrival_s", "n_in_tokens", "n_out_tokens")
DEFAULT_CATEGORY = "default"


@dataclass(frozen=True)
class RequestBatch:
    """Requests, one array entry each, sorted by ``arrival_s``.

    ``category_code`` indexes ``categories``; ``class_code`` (or None) indexes
    the workload's query classes when the requests were generated per class.
    ``n_out_tokens`` is what the request generates when answered zero-shot.
    """

    request_id: np.ndarray
    arrival_s: np.ndarray
    n_in_tokens: np.ndarray
    n_out_tokens: np.ndarray
    category_code: np.ndarray
    categories: tuple[str, ...] = (DEFAULT_CATEGORY,)
    class_code: np.ndarray | None = None
    class_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])

    def take(self, index: np.ndarray | slice) -> RequestBatch:
        return replace(
            self,
            request_id=self.request_id[index],
            arrival_s=self.arrival_s[index],
            n_in_tokens=self.n_in_tokens[index],
            n_out_tokens=self.n_out_tokens[index],
            category_code=self.category_code[index],
            class_code=None if self.class_code is None else self.class_code[index],
        )

    def category_names(self) -> np.ndarray:
        return np.asarray(self.categories, dtype=object)[self.category_code]


def make_batch(
    arrival_s: np.ndarray,
    n_in_tokens: np.ndarray,
    n_out_tokens: np.ndarray,
    category: Sequence[str] | np.ndarray | None = None,
    request_id: np.ndarray | None = None,
) -> RequestBatch:
    """Build a RequestBatch from plain arrays (categories as strings)."""
    count = len(arrival_s)
    names: tuple[str, ...]
    if category is None:
        codes, names = np.zeros(count, np.int32), (DEFAULT_CATEGORY,)
    else:
        uniques, inverse = np.unique(np.asarray(category, dtype=str), return_inverse=True)
        codes, names = inverse.astype(np.int32), tuple(str(u) for u in uniques)
    return RequestBatch(
        request_id=np.arange(count, dtype=np.int64) if request_id is None else np.asarray(request_id, np.int64),
        arrival_s=np.asarray(arrival_s, np.float64),
        n_in_tokens=np.asarray(n_in_tokens, np.float64),
        n_out_tokens=np.asarray(n_out_tokens, np.float64),
        category_code=codes,
        categories=names,
    )


# --- validation --------------------------------------------------------------


def _first_bad_row(mask: np.ndarray, row_offset: int) -> int:
    """1-based data row (header excluded) of the first True in ``mask``."""
    return int(np.flatnonzero(mask)[0]) + row_offset + 1


def check_columns(source: str, present: Sequence[str], required: Sequence[str]) -> None:
    missing = [c for c in required if c not in present]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(required)}; found: {', '.join(map(str, present))}"
        )


def _numeric(source: str, frame: pd.DataFrame, column: str, row_offset: int) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = _first_bad_row(bad, row_offset)
        raise DataError(
            f"{source}: row {row}, column {column}: not a finite number "
            f"({int(bad.sum())} such rows), got {plain(frame[column].iloc[row - row_offset - 1])!r}"
        )
    return values


def check_tokens(source: str, column: str, values: np.ndarray, row_offset: int, minimum: float,
                 maximum: float = MAX_TOKENS_PER_REQUEST) -> None:
    """Token counts must lie in [minimum, maximum] (the measurement tables' bound, 1e8 per request)."""
    bad = (values < minimum) | (values > maximum)
    if bad.any():
        row = _first_bad_row(bad, row_offset)
        raise DataError(
            f"{source}: row {row}, column {column}: token count must be >= {minimum:g} and <= {maximum:g}, "
            f"got {values[row - row_offset - 1]:g} ({int(bad.sum())} such rows)"
        )


def check_arrivals(
    source: str, column: str, arrival_s: np.ndarray, row_offset: int, previous_s: float | None
) -> None:
    """Arrivals must not go back in time; simultaneous arrivals keep their file order."""
    if len(arrival_s) == 0:
        return
    series = arrival_s if previous_s is None else np.concatenate([[previous_s], arrival_s])
    backwards = np.diff(series) < 0
    shift = 0 if previous_s is None else 1
    if backwards.any():
        row = _first_bad_row(backwards, row_offset) + 1 - shift
        raise DataError(
            f"{source}: row {row}, column {column}: earlier than the row before (trace not sorted); "
            f"arrival times must not decrease ({int(backwards.sum())} such rows)"
        )


# --- trace readers -----------------------------------------------------------


@dataclass
class _ReadState:
    """What one chunk passes to the next: the time origin and the last arrival."""

    origin: pd.Timestamp | None = None
    previous_s: float | None = None


def _arrival_seconds(source: str, frame: pd.DataFrame, layout: TraceLayout, row_offset: int,
                     state: _ReadState) -> np.ndarray:
    column = layout.arrival
    if layout.time_unit != "datetime":
        arrival_s = _numeric(source, frame, column, row_offset) * SECONDS_PER_UNIT[layout.time_unit]
        negative = arrival_s < 0
        if negative.any():
            row = _first_bad_row(negative, row_offset)
            raise DataError(f"{source}: row {row}, column {column}: arrival time must be >= 0, got "
                            f"{plain(frame[column].iloc[row - row_offset - 1])!r} ({int(negative.sum())} such rows)")
        return arrival_s
    stamps = pd.to_datetime(frame[column].astype(str), errors="coerce", format="mixed", utc=True)
    if stamps.isna().any():
        row = _first_bad_row(stamps.isna().to_numpy(), row_offset)
        raise DataError(f"{source}: row {row}, column {column}: not a date and time: "
                        f"{plain(frame[column].iloc[row - row_offset - 1])!r}")
    if state.origin is None:
        state.origin = stamps.iloc[0]
    return (stamps - state.origin).dt.total_seconds().to_numpy(np.float64)


def _frame_to_batch(source: str, frame: pd.DataFrame, layout: TraceLayout, row_offset: int,
                    state: _ReadState) -> RequestBatch:
    check_columns(source, [str(c) for c in frame.columns], layout.required)
    arrival_s = _arrival_seconds(source, frame, layout, row_offset, state)
    n_in = _numeric(source, frame, layout.n_in, row_offset)
    n_out = _numeric(source, frame, layout.n_out, row_offset)
    check_tokens(source, layout.n_in, n_in, row_offset, 0)
    check_tokens(source, layout.n_out, n_out, row_offset, 0)
    check_arrivals(source, layout.arrival, arrival_s, row_offset, state.previous_s)
    category = None
    if layout.category and layout.category in frame.columns:
        category = frame[layout.category].astype(str).to_numpy()
    if len(frame):
        state.previous_s = float(arrival_s[-1])
    ids = np.arange(row_offset, row_offset + len(frame), dtype=np.int64)
    return make_batch(arrival_s, n_in, n_out, category, request_id=ids)


def trace_format(path: str | Path) -> str:
    """``azure``, ``csv`` or ``jsonl``, from the suffix and the CSV header."""
    path = Path(path)
    if path.suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            header = handle.readline()
    except OSError as exc:
        raise DataError(f"{path}: cannot read trace: {exc}") from exc
    return "azure" if "TIMESTAMP" in header else "csv"


def _chunks(path: str | Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if trace_format(path) == "jsonl":
        # no date guessing: a "timestamp" or "arrived_at" field stays the number it is
        if int(pd.__version__.split(".")[0]) >= 3:
            yield from pd.read_json(path, lines=True, chunksize=chunk_rows, dtype=False)
        else:  # older pandas turns "timestamp" and "*_at" fields into dates unless told not to
            yield from pd.read_json(path, lines=True, chunksize=chunk_rows, dtype=False, convert_dates=False)
    else:
        yield from pd.read_csv(path, chunksize=chunk_rows, skipinitialspace=True, encoding="utf-8-sig")


def iter_trace_chunks(path: str | Path, chunk_rows: int = 1_000_000, fmt: str = "auto",
                      columns: Mapping[str, str | None] | None = None) -> Iterator[RequestBatch]:
    """Stream a trace (CSV or JSONL) as RequestBatches of ``chunk_rows``.

    ``fmt`` names the layout (:mod:`tpf.simulate.trace_layout`: generic, azure,
    mooncake, vidur, or auto from the columns) and ``columns`` overrides its
    fields (``arrival``, ``n_in``, ``n_out``, ``category``, ``time_unit``).
    Arrival times are seconds (from the first request for date-time columns);
    simultaneous arrivals keep their file order; request ids are the 0-based
    data row numbers. Order is checked across chunk boundaries. Categories
    are per chunk; merge them with :func:`assign_categories` or read small
    traces whole with :func:`read_trace`.
    """
    source, is_jsonl = str(path), trace_format(path) == "jsonl"
    state, row_offset, layout = _ReadState(), 0, None
    try:
        for frame in _chunks(path, chunk_rows):
            if layout is None:
                names = [str(c) for c in frame.columns]
                layout = layout_for(fmt, names, columns)
                hint = mismatch_hint(fmt, layout, names)
                if hint:
                    raise DataError(f"{source}: {hint}")
            if not is_jsonl:
                check_row_widths(frame, path)
            if len(frame):
                yield _frame_to_batch(source, frame, layout, row_offset, state)
            row_offset += len(frame)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, DataError | ConfigError):
            raise
        raise DataError(f"{source}: cannot read trace: {exc}") from exc


def read_trace(path: str | Path, fmt: str = "auto", columns: Mapping[str, str | None] | None = None) -> RequestBatch:
    """Read a whole trace into one RequestBatch (``fmt`` and ``columns`` as in :func:`iter_trace_chunks`)."""
    chunks = [c for c in iter_trace_chunks(path, 1 << 22, fmt, columns) if len(c)]
    if not chunks:
        raise DataError(f"{path}: the trace has no requests (no data rows)")
    return concat_batches(chunks)


def read_azure_trace(path: str | Path) -> RequestBatch:
    """Read an Azure LLM inference trace (``TIMESTAMP, ContextTokens, GeneratedTokens``)."""
    if trace_format(path) != "azure":
        raise DataError(f"{path}: not an Azure trace: the header needs {', '.join(AZURE_COLUMNS)}")
    return read_trace(path, "azure")


def concat_batches(batches: Sequence[RequestBatch]) -> RequestBatch:
    """Concatenate batches in order (categories merged by name)."""
    names = sorted({name for b in batches for name in b.categories})
    lookup = {name: i for i, name in enumerate(names)}
    codes = [np.asarray([lookup[c] for c in b.categories], np.int32)[b.category_code] for b in batches]
    with_class = all(b.class_code is not None for b in batches)
    return RequestBatch(
        request_id=np.concatenate([b.request_id for b in batches]),
        arrival_s=np.concatenate([b.arrival_s for b in batches]),
        n_in_tokens=np.concatenate([b.n_in_tokens for b in batches]),
        n_out_tokens=np.concatenate([b.n_out_tokens for b in batches]),
        category_code=np.concatenate(codes),
        categories=tuple(names),
        class_code=np.concatenate([b.class_code for b in batches]) if with_class else None,  # type: ignore[misc]
        class_names=batches[0].class_names if with_class and batches else (),
    )


def write_trace(batch: RequestBatch, path: str | Path) -> Path:
    """Write the generic trace form (CSV, or JSONL for a ``.jsonl`` suffix)."""
    path = Path(path)
    frame = pd.DataFrame({
        "arrival_s": batch.arrival_s,
        "n_in_tokens": batch.n_in_tokens.astype(np.int64),
        "n_out_tokens": batch.n_out_tokens.astype(np.int64),
        "category": batch.category_names(),
    })
    if path.suffix == ".jsonl":
        return write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in frame.to_dict("records")))
    return write_text_atomic(path, frame.to_csv(index=False, float_format="%.6f"))


# --- transformations ---------------------------------------------------------


# Independent hash streams: a request's routing draw must not depend on the
# draws that picked its category or kept it when a trace was thinned.
STREAM_ROUTING, STREAM_CATEGORY, STREAM_TILING = 1, 2, 3


def splitmix64_uniform(keys: np.ndarray, seed: int = 0, stream: int = STREAM_ROUTING) -> np.ndarray:
    """A deterministic uniform draw in [0, 1) per integer key (splitmix64 hash).

    ``stream`` separates independent uses of the same keys and seed.
    """
    offset = (seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) % (1 << 64)
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(offset)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign_categories(batch: RequestBatch, mix: Mapping[str, float], seed: int = 0) -> RequestBatch:
    """Give each request a category drawn from ``mix`` (weights, normalized), by request id."""
    names = list(mix)
    weights = np.asarray([mix[n] for n in names], np.float64)
    problems = [f"category_mix.{n}: must be >= 0, got {w}" for n, w in zip(names, weights, strict=True) if not w >= 0]
    if not names or not weights.sum() > 0:
        problems.append("category_mix: needs at least one category with a positive weight")
    if problems:
        raise ConfigError(problems)
    cumulative = np.cumsum(weights) / weights.sum()
    draw = splitmix64_uniform(batch.request_id, seed, STREAM_CATEGORY)
    codes = np.minimum(np.searchsorted(cumulative, draw, side="right"), len(names) - 1)
    return replace(batch, category_code=codes.astype(np.int32), categories=tuple(names))


def scale_time(batch: RequestBatch, factor: float) -> RequestBatch:
    """Multiply arrival times by ``factor`` (0.5 doubles the arrival rate)."""
    if not factor > 0:
        raise ConfigError(f"time_scale: must be > 0, got {factor}")
    return replace(batch, arrival_s=batch.arrival_s * factor)


def diurnal_profile(n_hours: int = 24, peak_hour: float = 14.0, trough_ratio: float = 0.4) -> np.ndarray:
    """A synthetic daily rate profile (mean 1): a cosine peaking at ``peak_hour``.

    The lowest hour's rate is ``trough_ratio`` times the highest hour's. This is
    an illustrative shape, not a measurement.
    """
    if not 0 < trough_ratio <= 1:
        raise ConfigError(f"trough_ratio: must be in (0, 1], got {trough_ratio}")
    hours = np.arange(n_hours) + 0.5
    amplitude = (1 - trough_ratio) / (1 + trough_ratio)
    return 1.0 + amplitude * np.cos(2 * np.pi * (hours - peak_hour) / 24.0)


def tile_trace(
    batch: RequestBatch, hourly_profile: Sequence[float], span_s: float = 3600.0, seed: int = 0
) -> RequestBatch:
    """Repeat a trace of ``span_s`` seconds once per hour, scaled by ``hourly_profile``.

    Hour h holds the trace's requests at ``profile[h]`` times their rate: the
    integer part as whole copies (copy k circularly shifted by k times the
    golden ratio of the span, so copies do not coincide), the fractional part
    as a deterministic thinning of one more copy. Request ids stay unique.
    """
    profile = np.asarray(hourly_profile, np.float64)
    bad = [f"hourly_profile[{i}]: must be >= 0, got {v}" for i, v in enumerate(profile) if not v >= 0]
    if bad:
        raise ConfigError(bad)
    base = batch.take(batch.arrival_s < span_s)
    parts: list[RequestBatch] = []
    id_stride = int(base.request_id.max()) + 1 if len(base) else 1
    max_copies = int(np.ceil(profile.max())) if len(profile) else 0
    for hour, factor in enumerate(profile):
        for copy in range(int(np.ceil(factor))):
            keep_fraction = min(1.0, factor - copy)
            shift_s = (copy * 0.6180339887498949 * span_s) % span_s
            arrival = (base.arrival_s + shift_s) % span_s
            new_id = base.request_id + np.int64((hour * max_copies + copy) * id_stride)
            part = replace(base.take(slice(None)), arrival_s=arrival + hour * span_s, request_id=new_id)
            if keep_fraction < 1.0:
                part = part.take(splitmix64_uniform(new_id, seed, STREAM_TILING) < keep_fraction)
            parts.append(part)
    tiled = concat_batches(parts) if parts else base.take(slice(0, 0))
    return tiled.take(np.argsort(tiled.arrival_s, kind="stable"))


# --- synthetic arrivals ------------------------------------------------------


def _burst_multipliers(rng: np.random.Generator, n_windows: int, burst_cv: float) -> np.ndarray:
    if burst_cv <= 0:
        return np.ones(n_windows)
    shape = 1.0 / burst_cv**2
    return rng.gamma(shape, 1.0 / shape, size=n_windows)


def _lengths(rng: np.random.Generator, mean: float, cv: float, count: int) -> np.ndarray:
    if cv <= 0:
        return np.full(count, float(mean))
    sigma2 = np.log1p(cv**2)
    draw = rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), size=count)
    return np.maximum(1.0, np.round(draw))


def synthetic_requests(
    workload: Workload,
    seed: int = 0,
    burst_cv: float = 0.0,
    burst_window_s: float = 60.0,
    length_cv: float = 0.0,
) -> RequestBatch:
    """Arrivals per query class and period: Poisson at ``rate_per_s``, or bursty.

    With ``burst_cv > 0`` the rate of each ``burst_window_s`` window is
    multiplied by a gamma draw of mean 1 and coefficient of variation
    ``burst_cv`` (a doubly stochastic Poisson process). Input lengths are the
    class's ``n_in_tokens`` (lognormal with ``length_cv`` when > 0, mean
    kept); output lengths are the class's ``n_answer_tokens``, drawn with the
    same spread where the answer is longer than one token.
    """
    rng = np.random.default_rng(seed)
    categories = sorted({c.category for c in workload.classes})
    draw = _PeriodDraw(workload, burst_cv, burst_window_s, length_cv)
    parts = [draw(rng, class_index, period) for class_index in range(len(workload.classes))
             for period in range(workload.n_periods)]
    return _sorted_batch(parts, workload, categories, 0)


class _PeriodDraw:
    """The draws of one query class in one period (arrival times, input lengths)."""

    def __init__(self, workload: Workload, burst_cv: float, burst_window_s: float, length_cv: float):
        workload.validate()
        if burst_cv < 0 or length_cv < 0 or not burst_window_s > 0:
            raise ConfigError("burst_cv, length_cv: must be >= 0; burst_window_s: must be > 0")
        self.workload, self.burst_cv, self.length_cv = workload, burst_cv, length_cv
        self.windows = max(1, int(round(workload.period_s / burst_window_s)))
        self.window_s = workload.period_s / self.windows

    def __call__(self, rng: np.random.Generator, class_index: int,
                 period: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        query_class = self.workload.classes[class_index]
        rates = query_class.rate_at(period) * _burst_multipliers(rng, self.windows, self.burst_cv)
        counts = rng.poisson(rates * self.window_s)
        starts = period * self.workload.period_s + np.repeat(np.arange(self.windows) * self.window_s, counts)
        total = int(counts.sum())
        arrival = starts + rng.uniform(0, self.window_s, total)
        n_in = _lengths(rng, query_class.n_in_tokens, self.length_cv, total)
        answer_cv = self.length_cv if query_class.n_answer_tokens > 1 else 0.0
        return class_index, arrival, n_in, _lengths(rng, query_class.n_answer_tokens, answer_cv, total)


def _sorted_batch(parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], workload: Workload,
                  categories: list[str], first_id: int) -> RequestBatch:
    """The parts' requests in arrival order (ties in part order), ids from ``first_id``."""
    classes = workload.classes
    arrival = np.concatenate([t for _, t, _, _ in parts])
    order = np.argsort(arrival, kind="stable")
    size = [len(t) for _, t, _, _ in parts]
    cls = np.concatenate([np.full(n, c, np.int32) for (c, _, _, _), n in zip(parts, size, strict=True)])
    category = np.asarray([categories.index(c.category) for c in classes], np.int32)
    return RequestBatch(
        request_id=np.arange(first_id, first_id + len(arrival), dtype=np.int64),
        arrival_s=arrival[order],
        n_in_tokens=np.concatenate([n for _, _, n, _ in parts])[order],
        n_out_tokens=np.concatenate([a for _, _, _, a in parts])[order],
        category_code=category[cls][order],
        categories=tuple(categories),
        class_code=cls[order],
        class_names=tuple(c.name for c in classes),
    )


def synthetic_request_periods(
    workload: Workload,
    seed: int = 0,
    burst_cv: float = 0.0,
    burst_window_s: float = 60.0,
    length_cv: float = 0.0,
) -> Iterator[RequestBatch]:
    """The requests of :func:`synthetic_requests`, one period at a time (the same draws and ids).

    A first pass records the generator's state where each class's period
    starts (its draws are discarded); the second yields period by period, so
    memory holds one period's requests.
    """
    rng = np.random.default_rng(seed)
    categories = sorted({c.category for c in workload.classes})
    draw = _PeriodDraw(workload, burst_cv, burst_window_s, length_cv)
    n_classes = len(workload.classes)
    states: dict[tuple[int, int], Any] = {}
    for class_index in range(n_classes):
        for period in range(workload.n_periods):
            states[class_index, period] = rng.bit_generator.state
            draw(rng, class_index, period)
    first_id = 0
    for period in range(workload.n_periods):
        parts = []
        for class_index in range(n_classes):
            rng.bit_generator.state = states[class_index, period]
            parts.append(draw(rng, class_index, period))
        batch = _sorted_batch(parts, workload, categories, first_id)
        first_id += len(batch)
        yield batch
