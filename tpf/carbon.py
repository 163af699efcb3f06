"""The one reader of grid carbon-intensity series (gCO2eq/kWh), for scenarios and the simulator.

Input: an Electricity Maps CSV export, a ``Datetime (UTC)`` column (any
column whose name starts with ``Datetime``) and the intensity columns
``Carbon Intensity gCO₂eq/kWh (direct)`` / ``(LCA)``; ``column`` picks
``direct`` (operational emissions) or ``lca`` (life-cycle; ``lifecycle`` is
an alias). A UTF-8 byte-order mark is accepted.

What the reader does with what it finds:

* **Interval.** The interval is detected from the timestamps. Hourly series
  are taken as they are. A finer interval that divides the hour (5, 15, 30
  minutes, ...) is converted to hourly values by averaging the intervals of
  each hour: the planner and simulator spread a period's energy evenly over
  the hour, so each sub-interval carries the same energy and this mean is the
  energy-weighted mean. An interval longer than an hour, or timestamps on no
  regular grid, are refused, as is an interval that changes mid-file (a run
  of :data:`CHANGED_INTERVAL_ROWS` or more steps of another equal length:
  30-minute rows followed by 15-minute rows are not 15-minute rows with every
  other one missing).
* **Time zones.** Timestamps are read in ``declared_tz`` (UTC by default;
  ``grid.time_zone`` in a scenario) and returned in UTC. A header naming
  another zone (``Datetime (CET)``), a timestamp whose explicit offset is not
  UTC under a UTC declaration, and a local time that the daylight-saving change
  skips are errors naming the file (and the row where known). A local time
  that the autumn change repeats is read as ``dst`` says (``grid.dst``):
  ``refuse`` (the default: an error), ``first`` (its first occurrence, summer
  time) or ``last`` (its second, standard time); a wall-clock hour listed
  twice (the file runs through the repeat) is read in file order, its first
  listing as summer time and its second as standard time, whatever ``dst`` says.
* **Order.** Rows must be in time order; a step back or a repeated timestamp
  is an error naming the row (the reader never takes values by position).
* **Gaps.** Missing intervals (absent rows, or empty / ``NaN`` values) are
  filled by linear interpolation in time (constant at the ends) with a
  :class:`CarbonGapWarning` that counts them; :class:`CarbonSeries` keeps the
  count so reports can state it.
* **Range.** Each value must be a number in ``[0, 5000]`` gCO2eq/kWh
  (:data:`MAX_G_PER_KWH`, the documented range of ``grid.carbon_g_per_kwh``);
  text or an infinite value is an error naming the row and column.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tpf.csvcheck import check_row_widths, plain
from tpf.errors import ConfigError, DataError

INTENSITY_COLUMNS = {
    "direct": "Carbon Intensity gCO₂eq/kWh (direct)",
    "lca": "Carbon Intensity gCO₂eq/kWh (LCA)",
}
COLUMN_ALIASES = {"lifecycle": "lca", "LCA": "lca"}
MAX_G_PER_KWH = 5000.0
HOUR_NS = 3_600_000_000_000
_OFFSET = re.compile(r"(Z|[+-]\d\d:?\d\d)$")
_HAS_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
DST_CHOICES = ("refuse", "first", "last")
CHANGED_INTERVAL_ROWS = 4
_UTC_OFFSETS = ("Z", "+00:00", "-00:00", "+0000", "-0000")


class CarbonGapWarning(UserWarning):
    """Hours missing from a carbon series were filled; the message says how many."""


@dataclass(frozen=True)
class CarbonSeries:
    """An hourly series (UTC) and what reading it took: the source interval, filled hours."""

    hourly: pd.Series
    interval_minutes: float
    filled_intervals: int

    def note(self) -> str:
        """One line for reports: how the hourly values were obtained."""
        parts = []
        if self.interval_minutes < 60:
            parts.append(f"{self.interval_minutes:g}-minute series averaged to hours (energy-weighted)")
        if self.filled_intervals:
            parts.append(f"{self.filled_intervals} missing interval(s) filled by interpolation")
        return "; ".join(parts)


def _datetime_column(source: str, columns: list[str]) -> str:
    for name in columns:
        if str(name).startswith("Datetime"):
            return str(name)
    raise DataError(
        f"{source}: missing column 'Datetime (UTC)' (an Electricity Maps export); found: "
        + ", ".join(map(str, columns))
    )


def _check_time_zone(source: str, column: str, raw: pd.Series, declared_tz: str) -> None:
    label = re.search(r"\(([^)]*)\)", column)
    if label and label.group(1).strip().upper() != declared_tz.upper():
        raise DataError(
            f"{source}: column {column!r} is in time zone {label.group(1)!r}, "
            f"but the series was declared {declared_tz!r}"
        )
    text = raw.astype(str).str.strip()
    offsets = text.str.extract(_OFFSET, expand=False).dropna()
    foreign = offsets[~offsets.isin(_UTC_OFFSETS)]
    if declared_tz.upper() == "UTC" and len(foreign):
        row = int(foreign.index[0]) + 1
        raise DataError(
            f"{source}: row {row}, column {column!r}: timestamp {text[foreign.index[0]]!r} has UTC "
            f"offset {foreign.iloc[0]}, but the series was declared UTC ({len(foreign)} such rows)"
        )


def _ambiguous(wall: pd.Series, dst: str) -> str | np.ndarray:
    """How to read wall times the autumn change repeats: in file order when the file lists them twice
    (first summer, then standard time), else as ``dst`` says (True: summer time)."""
    if dst == "refuse":
        return "raise"
    if wall.duplicated().any():
        return "infer"
    return np.full(len(wall), dst == "first")


def _localized(source: str, column: str, raw: pd.Series, declared_tz: str, dst: str = "refuse") -> pd.Series:
    """Local wall-clock times in ``declared_tz`` as UTC; a skipped hour is an error, a repeated one
    follows ``dst`` (see the module docstring)."""
    if dst not in DST_CHOICES:
        raise ConfigError(f"grid.dst: must be one of {', '.join(DST_CHOICES)}, got {dst!r}")
    try:
        wall = pd.to_datetime(raw, format="mixed")
        local = wall.dt.tz_localize(declared_tz, ambiguous=_ambiguous(wall, dst), nonexistent="raise")
    except (ValueError, KeyError) as exc:  # pytz/zoneinfo errors: unknown zone, DST gap or repeat
        raise DataError(f"{source}: column {column!r}: cannot read the times as {declared_tz!r} local "
                        f"time ({exc}); give UTC timestamps or ones with an explicit offset"
                        + ("" if dst != "refuse" else ", or set grid.dst=first|last for the autumn repeat")) from exc
    return local.dt.tz_convert("UTC")


def _parse_times(source: str, column: str, raw: pd.Series, declared_tz: str,
                 dst: str = "refuse") -> pd.DatetimeIndex:
    _check_time_zone(source, column, raw, declared_tz)
    stamps = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    if stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0]) + 1
        raise DataError(f"{source}: row {row}, column {column!r}: not a timestamp: {plain(raw.iloc[row - 1])!r}")
    if declared_tz.upper() != "UTC" and not raw.astype(str).str.contains(_HAS_OFFSET).any():
        stamps = _localized(source, column, raw, declared_tz, dst)
    index = pd.DatetimeIndex(stamps).as_unit("ns")
    step = np.diff(index.asi8)
    for mask, what in ((step < 0, "earlier than the row before (series not sorted)"),
                       (step == 0, "repeats the timestamp of the row before (duplicate)")):
        if mask.any():
            row = int(np.flatnonzero(mask)[0]) + 2
            raise DataError(f"{source}: row {row}, column {column!r}: {what}: {index[row - 1]}")
    return index


def _interval_ns(source: str, column: str, index: pd.DatetimeIndex) -> int:
    """The series' interval: its smallest step, which must divide an hour and every other step."""
    if len(index) < 2:
        if index.asi8[0] % HOUR_NS:
            raise DataError(f"{source}: row 1, column {column!r}: a series of one row must be on the hour, "
                            f"got {index[0]}")
        return HOUR_NS
    steps = np.diff(index.asi8)
    interval = int(steps.min())
    if interval > HOUR_NS:
        raise DataError(f"{source}: column {column!r}: the rows are {interval / HOUR_NS:g} h apart; "
                        "an hourly or finer series is needed")
    if HOUR_NS % interval or np.any(steps % interval):
        row = int(np.flatnonzero(steps % interval)[0]) + 2 if np.any(steps % interval) else 2
        raise DataError(f"{source}: row {row}, column {column!r}: timestamps are not on a regular "
                        f"grid that divides the hour (smallest step {interval / 6e10:g} min)")
    _check_steady_interval(source, column, index, steps, interval)
    offgrid = (index.asi8 - index[0].floor("h").value) % interval != 0
    offgrid |= (index.asi8 % interval) != 0
    if offgrid.any():
        row = int(np.flatnonzero(offgrid)[0]) + 1
        raise DataError(f"{source}: row {row}, column {column!r}: timestamp {index[row - 1]} is not "
                        f"on the {interval / 6e10:g}-minute grid of the series")
    return interval


def _check_steady_interval(source: str, column: str, index: pd.DatetimeIndex, steps: np.ndarray,
                           interval: int) -> None:
    """Refuse a run of CHANGED_INTERVAL_ROWS equal steps longer than ``interval``: the interval changed."""
    same_as_before = np.concatenate([[False], steps[1:] == steps[:-1]])
    run_start, run_length = 0, 0
    for i, step in enumerate(steps):
        run_start, run_length = (run_start, run_length + 1) if same_as_before[i] else (i, 1)
        if step != interval and run_length >= CHANGED_INTERVAL_ROWS:
            raise DataError(
                f"{source}: rows {run_start + 1} to {i + 2}, column {column!r}: the rows are {step / 6e10:g} min "
                f"apart from {index[run_start]}, but {interval / 6e10:g} min apart elsewhere: the interval "
                "changes mid-file; give one interval (resample the file) or split it")


def _values(source: str, column: str, raw: pd.Series) -> np.ndarray:
    text = raw.astype(str).str.strip()
    blank = raw.isna().to_numpy() | text.str.lower().isin(["", "nan", "na", "null", "none"]).to_numpy()
    values = pd.to_numeric(raw.where(~blank), errors="coerce").to_numpy(np.float64)
    bad = (np.isnan(values) & ~blank) | np.isinf(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise DataError(f"{source}: row {row}, column {column!r}: not a finite number: {plain(raw.iloc[row - 1])!r}")
    out_of_range = ~np.isnan(values) & ((values < 0) | (values > MAX_G_PER_KWH))
    if out_of_range.any():
        row = int(np.flatnonzero(out_of_range)[0]) + 1
        raise DataError(f"{source}: row {row}, column {column!r}: must be >= 0 and <= {MAX_G_PER_KWH:g} "
                        f"gCO2eq/kWh, got {values[row - 1]:g} ({int(out_of_range.sum())} such rows)")
    return values


def _fill(series: pd.Series, interval_ns: int, source: str) -> tuple[pd.Series, int]:
    full = pd.date_range(series.index[0], series.index[-1], freq=pd.Timedelta(interval_ns, "ns"), tz="UTC")
    complete = series.reindex(full)
    missing = int(complete.isna().sum())
    if missing == len(complete):
        raise DataError(f"{source}: the carbon series has no values")
    if missing:
        complete = complete.interpolate(method="time").ffill().bfill()
        warnings.warn(
            f"{source}: filled {missing} missing {_unit(interval_ns)} of carbon intensity by linear "
            "interpolation in time (constant at the ends)",
            CarbonGapWarning,
            stacklevel=4,
        )
    return complete, missing


def _unit(interval_ns: int) -> str:
    return "hour(s)" if interval_ns == HOUR_NS else f"{interval_ns / 6e10:g}-minute interval(s)"


def _to_hourly(series: pd.Series, interval_ns: int) -> pd.Series:
    if interval_ns == HOUR_NS:
        return series
    hours = pd.DatetimeIndex(series.index).floor("h")
    hourly = series.groupby(hours).mean()
    hourly.index = pd.DatetimeIndex(hourly.index)
    hourly.name = series.name
    return hourly


def _read_frame(path: str | Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read carbon series: {exc}") from exc
    check_row_widths(frame, path)
    return frame


def read_carbon_series(path: str | Path, column: str = "direct", declared_tz: str = "UTC",
                       dst: str = "refuse") -> CarbonSeries:
    """Read a carbon-intensity CSV into an hourly UTC series (see the module docstring)."""
    key = COLUMN_ALIASES.get(column, column)
    if key not in INTENSITY_COLUMNS:
        raise ConfigError(f"grid.column: must be one of direct, lca (or lifecycle), got {column!r}")
    source = str(path)
    frame = _read_frame(path)
    time_column = _datetime_column(source, [str(c) for c in frame.columns])
    wanted = INTENSITY_COLUMNS[key]
    if wanted not in frame.columns:
        raise DataError(f"{source}: missing column {wanted!r}; found: {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise DataError(f"{source}: the carbon series has no rows")
    index = _parse_times(source, time_column, frame[time_column], declared_tz, dst)
    interval = _interval_ns(source, time_column, index)
    values = _values(source, wanted, frame[wanted])
    zone = str(frame["Zone Id"].iloc[0]) if "Zone Id" in frame.columns else Path(path).stem
    filled, missing = _fill(pd.Series(values, index=index, name=zone), interval, source)
    return CarbonSeries(_to_hourly(filled, interval), interval / 6e10, missing)


def read_electricitymaps_csv(path: str | Path, column: str = "direct", declared_tz: str = "UTC",
                             dst: str = "refuse") -> pd.Series:
    """Hourly carbon intensity (gCO2eq/kWh, indexed by UTC hours) of a CSV export."""
    return read_carbon_series(path, column, declared_tz, dst).hourly


def parse_start(start: str | pd.Timestamp | None, key: str = "grid.start_utc") -> pd.Timestamp | None:
    """A start time as a UTC timestamp (naive times are UTC); a ConfigError naming ``key``."""
    if start is None or (isinstance(start, str) and not start.strip()):
        return None
    try:
        stamp = pd.Timestamp(start)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{key}: not a date and time: {start!r} (write e.g. '2023-06-01 00:00')") from exc
    if stamp is pd.NaT:
        raise ConfigError(f"{key}: not a date and time: {start!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def window(series: pd.Series, start: str | pd.Timestamp | None, n_hours: int) -> np.ndarray:
    """``n_hours`` hourly values starting at ``start`` (UTC; None: the first hour); an error if not covered."""
    first = parse_start(start, "start") or pd.Timestamp(series.index[0])
    if first != first.floor("h"):
        raise ConfigError(f"start: {first} is not on the hour")
    wanted = pd.date_range(first, periods=n_hours, freq="h")
    values = series.reindex(wanted)
    if values.isna().any():
        raise DataError(
            f"carbon series {series.name!r} covers {series.index[0]} to {series.index[-1]}; "
            f"it does not cover {n_hours} hours from {first}"
        )
    return values.to_numpy(np.float64)
