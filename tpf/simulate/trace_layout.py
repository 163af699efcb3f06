"""Where a trace keeps its fields: column names and the unit of its arrival times.

A :class:`TraceLayout` maps the three fields the simulator needs (arrival
time, input tokens, output tokens, and optionally a category) to a file's own
column names, and says how arrival times are written:

========== ==================== ==================== ===================== ========
layout     arrival              input tokens         output tokens         time
========== ==================== ==================== ===================== ========
generic    ``arrival_s``        ``n_in_tokens``      ``n_out_tokens``      s
azure      ``TIMESTAMP``        ``ContextTokens``    ``GeneratedTokens``   datetime
mooncake   ``timestamp``        ``input_length``     ``output_length``     ms
vidur      ``arrived_at``       ``num_prefill_tokens`` ``num_decode_tokens`` s
========== ==================== ==================== ===================== ========

(The Azure LLM inference traces, the Mooncake FAST'25 JSONL traces and
Vidur's processed trace CSVs.) ``auto`` picks the first layout whose three
columns are all in the file. Any field can be renamed and the time unit set
(``s``, ``ms``, ``us``, ``ns`` or ``datetime``: date-time text, counted from
the first row) with :func:`layout_for`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from tpf.errors import ConfigError

SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
TIME_UNITS = (*SECONDS_PER_UNIT, "datetime")


@dataclass(frozen=True)
class TraceLayout:
    """Column names of a trace's fields and the unit of its arrival column."""

    arrival: str = "arrival_s"
    n_in: str = "n_in_tokens"
    n_out: str = "n_out_tokens"
    category: str | None = "category"
    time_unit: str = "s"

    @property
    def required(self) -> tuple[str, str, str]:
        return (self.arrival, self.n_in, self.n_out)

    def matches(self, columns: Sequence[str]) -> bool:
        return all(name in columns for name in self.required)


LAYOUTS: dict[str, TraceLayout] = {
    "generic": TraceLayout(),
    "azure": TraceLayout("TIMESTAMP", "ContextTokens", "GeneratedTokens", None, "datetime"),
    "mooncake": TraceLayout("timestamp", "input_length", "output_length", None, "ms"),
    "vidur": TraceLayout("arrived_at", "num_prefill_tokens", "num_decode_tokens", None, "s"),
}
FORMATS = ("auto", *LAYOUTS)
OVERRIDE_FIELDS = ("arrival", "n_in", "n_out", "category", "time_unit")


def detect_layout(columns: Sequence[str]) -> str:
    """The layout with the most of its required columns present (first wins ties; 'generic' when none)."""
    scores = {name: sum(c in columns for c in layout.required) for name, layout in LAYOUTS.items()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] else "generic"


def mismatch_hint(fmt: str, layout: TraceLayout, columns: Sequence[str]) -> str:
    """Why ``layout`` does not fit ``columns``, naming a layout that would ('' when it fits)."""
    if layout.matches(columns):
        return ""
    other = detect_layout(columns)
    if fmt != "auto" and LAYOUTS[other].matches(columns):
        return (f"format {fmt} expects columns {', '.join(layout.required)} but the file's columns "
                f"match the {other} layout; set the format to {other} or auto")
    return ""


def layout_for(fmt: str, columns: Sequence[str], overrides: Mapping[str, str | None] | None = None) -> TraceLayout:
    """The layout of format ``fmt`` (``auto``: detected from ``columns``) with ``overrides`` applied."""
    if fmt not in FORMATS:
        raise ConfigError(f"workload.trace.format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    layout = LAYOUTS[detect_layout(columns) if fmt == "auto" else fmt]
    given = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
    unknown = sorted(set(given) - set(OVERRIDE_FIELDS))
    if unknown:
        raise ConfigError(f"trace layout: unknown field(s) {unknown}; valid: {', '.join(OVERRIDE_FIELDS)}")
    if given.get("time_unit", layout.time_unit) not in TIME_UNITS:
        raise ConfigError(f"workload.trace.time_unit: must be one of {', '.join(TIME_UNITS)}, "
                          f"got {given['time_unit']!r}")
    return replace(layout, **given)
