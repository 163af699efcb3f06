"""Carbon and PUE signals: hourly grid intensity (gCO2eq/kWh) and facility PUE.

Sources of carbon intensity:

* an Electricity Maps CSV export (:func:`read_electricitymaps_csv`): a
  ``Datetime (UTC)`` column and ``Carbon Intensity gCO₂eq/kWh (direct)`` /
  ``(LCA)`` columns, one row per hour; ``column="direct"`` (operational
  emissions) or ``"lca"`` (life-cycle);
* a constant (:func:`constant_series`);
* a country's yearly value from a codecarbon-style CSV (:func:`country_intensity`,
  columns ``iso_code, year, carbon_intensity``);
* a 24-hour profile shipped in ``tpf/data/carbon_profiles.csv``
  (:func:`shipped_profile`), hourly means per UTC hour of day of 2023 data.

Every series is indexed by UTC hours. Missing hours (absent rows or empty
values) are filled by linear interpolation in time (constant extension at the
ends) and a :class:`CarbonGapWarning` says how many hours were filled. A
timestamp in another time zone than declared, a repeated or out-of-order hour,
a timestamp off the hour, or a negative intensity is a :class:`DataError`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from tpf.domain import Facility, Grid
from tpf.errors import ConfigError, DataError

INTENSITY_COLUMNS = {
    "direct": "Carbon Intensity gCO₂eq/kWh (direct)",
    "lca": "Carbon Intensity gCO₂eq/kWh (LCA)",
}
SHIPPED_PROFILES = Path(__file__).resolve().parent.parent / "data" / "carbon_profiles.csv"
_OFFSET = re.compile(r"(Z|[+-]\d\d:?\d\d)$")


class CarbonGapWarning(UserWarning):
    """Hours missing from a carbon series were filled; the message says how many."""


def _datetime_column(source: str, columns: Sequence[str]) -> str:
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
    foreign = offsets[~offsets.isin(["Z", "+00:00", "-00:00", "+0000", "-0000"])]
    if declared_tz.upper() == "UTC" and len(foreign):
        row = int(foreign.index[0]) + 1
        raise DataError(
            f"{source}: row {row}, column {column!r}: timestamp {text[foreign.index[0]]!r} has UTC "
            f"offset {foreign.iloc[0]}, but the series was declared UTC ({len(foreign)} such rows)"
        )


def _parse_hours(source: str, column: str, raw: pd.Series, declared_tz: str) -> pd.DatetimeIndex:
    _check_time_zone(source, column, raw, declared_tz)
    stamps = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    if stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0]) + 1
        raise DataError(f"{source}: row {row}, column {column!r}: not a timestamp: {raw.iloc[row - 1]!r}")
    if declared_tz.upper() != "UTC" and not raw.astype(str).str.contains(_OFFSET).any():
        stamps = pd.to_datetime(raw, format="mixed").dt.tz_localize(declared_tz).dt.tz_convert("UTC")
    index = pd.DatetimeIndex(stamps)
    off_hour = index != index.floor("h")
    if off_hour.any():
        row = int(np.flatnonzero(off_hour)[0]) + 1
        raise DataError(f"{source}: row {row}, column {column!r}: timestamp not on the hour: {index[row - 1]}")
    step = np.diff(index.asi8)
    for mask, what in ((step < 0, "earlier than the row before (series not sorted)"),
                       (step == 0, "repeats the hour of the row before (duplicate)")):
        if mask.any():
            row = int(np.flatnonzero(mask)[0]) + 2
            raise DataError(f"{source}: row {row}, column {column!r}: {what}: {index[row - 1]}")
    return index


def fill_gaps(series: pd.Series, source: str) -> pd.Series:
    """Reindex to every hour between the first and last; fill missing hours linearly.

    Warns with :class:`CarbonGapWarning` naming the number of filled hours.
    """
    full = pd.date_range(series.index[0], series.index[-1], freq="h", tz="UTC")
    complete = series.reindex(full)
    missing = int(complete.isna().sum())
    if missing:
        complete = complete.interpolate(method="time").ffill().bfill()
        warnings.warn(
            f"{source}: filled {missing} missing hour(s) of carbon intensity by linear "
            "interpolation in time (constant at the ends)",
            CarbonGapWarning,
            stacklevel=3,
        )
    return complete


def read_electricitymaps_csv(
    path: str | Path, column: str = "direct", declared_tz: str = "UTC"
) -> pd.Series:
    """Hourly carbon intensity (gCO2eq/kWh) from an Electricity Maps CSV export.

    ``column``: ``direct`` or ``lca``. Returns a Series indexed by UTC hours,
    named after the file's ``Zone Id`` (or the file stem).
    """
    if column not in INTENSITY_COLUMNS:
        raise ConfigError(f"carbon.column: must be one of {', '.join(INTENSITY_COLUMNS)}, got {column!r}")
    source = str(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: cannot read carbon series: {exc}") from exc
    time_column = _datetime_column(source, list(frame.columns))
    wanted = INTENSITY_COLUMNS[column]
    if wanted not in frame.columns:
        raise DataError(f"{source}: missing column {wanted!r}; found: {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise DataError(f"{source}: the carbon series has no rows")
    index = _parse_hours(source, time_column, frame[time_column], declared_tz)
    values = pd.to_numeric(frame[wanted], errors="coerce").to_numpy(np.float64)
    negative = values < 0
    if negative.any():
        row = int(np.flatnonzero(negative)[0]) + 1
        raise DataError(f"{source}: row {row}, column {wanted!r}: must be >= 0, got {values[row - 1]}")
    zone = str(frame["Zone Id"].iloc[0]) if "Zone Id" in frame.columns else Path(path).stem
    series = pd.Series(values, index=index, name=zone)
    return fill_gaps(series, source)


def constant_series(carbon_g_per_kwh: float, start: str | pd.Timestamp, n_hours: int, name: str = "constant") -> pd.Series:
    """A flat hourly series."""
    if not carbon_g_per_kwh >= 0:
        raise ConfigError(f"carbon_g_per_kwh: must be >= 0, got {carbon_g_per_kwh}")
    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n_hours, freq="h")
    return pd.Series(float(carbon_g_per_kwh), index=index, name=name)


def country_intensity(path: str | Path, iso_code: str) -> float:
    """A country's yearly carbon intensity (gCO2/kWh) from a codecarbon-style CSV.

    Columns ``iso_code, carbon_intensity`` (and ``year``: the latest year wins).
    """
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    for required in ("iso_code", "carbon_intensity"):
        if required not in frame.columns:
            raise DataError(f"{path}: missing column {required!r}; found: {', '.join(frame.columns)}")
    rows = frame[frame["iso_code"].astype(str).str.upper() == iso_code.upper()]
    if rows.empty:
        sample = ", ".join(frame["iso_code"].astype(str).head(8))
        raise DataError(f"{path}: no row with iso_code {iso_code!r} (codes such as {sample}, ...)")
    if "year" in rows.columns:
        rows = rows.sort_values("year")
    return float(rows["carbon_intensity"].iloc[-1])


def window(series: pd.Series, start: str | pd.Timestamp, n_hours: int) -> np.ndarray:
    """``n_hours`` hourly values starting at ``start`` (UTC); an error if not covered."""
    first = pd.Timestamp(start)
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    wanted = pd.date_range(first, periods=n_hours, freq="h")
    values = series.reindex(wanted)
    if values.isna().any():
        raise DataError(
            f"carbon series {series.name!r} covers {series.index[0]} to {series.index[-1]}; "
            f"it does not cover {n_hours} hours from {first}"
        )
    return values.to_numpy(np.float64)


def hour_of_day_means(series: pd.Series, start: str, end: str) -> pd.Series:
    """Mean intensity per UTC hour of day (0..23) over ``[start, end)``."""
    part = series[(series.index >= pd.Timestamp(start, tz="UTC")) & (series.index < pd.Timestamp(end, tz="UTC"))]
    if part.empty:
        raise DataError(f"carbon series {series.name!r} has no hours in [{start}, {end})")
    return part.groupby(pd.DatetimeIndex(part.index).hour).mean()


def shipped_profile(zone: str, column: str = "direct", path: str | Path = SHIPPED_PROFILES) -> np.ndarray:
    """The shipped 24-hour profile (gCO2/kWh per UTC hour of day) of ``zone``."""
    frame = pd.read_csv(path, comment="#")
    rows = frame[frame["zone"] == zone].sort_values("hour_utc")
    if len(rows) != 24:
        raise ConfigError(f"carbon profile zone: must be one of {', '.join(sorted(frame['zone'].unique()))}, got {zone!r}")
    return rows[f"carbon_g_per_kwh_{column}"].to_numpy(np.float64)


def per_hour(values: ArrayLike, n_hours: int, name: str) -> np.ndarray:
    """Broadcast a scalar, repeat a 24-hour profile, or cut a longer series to ``n_hours``."""
    array = np.atleast_1d(np.asarray(values, np.float64))
    if array.size == 1:
        out = np.full(n_hours, float(array[0]))
    elif array.size >= n_hours:
        out = array[:n_hours].copy()
    elif array.size == 24:
        out = np.tile(array, -(-n_hours // 24))[:n_hours]
    else:
        raise ConfigError(f"{name}: needs 1, 24 or >= {n_hours} hourly values, got {array.size}")
    return out


def _checked_per_hour(values: ArrayLike, n_hours: int, name: str, check: Callable[[tuple[float, ...]], object]) -> np.ndarray:
    """:func:`per_hour`, then the domain object's own range check on every hour (first 10 problems)."""
    hourly = per_hour(values, n_hours, name)
    try:
        check(tuple(hourly.tolist()))
    except ConfigError as exc:
        raise ConfigError(exc.problems[:10]) from None
    return hourly


def pue_per_hour(pue: ArrayLike, n_hours: int) -> np.ndarray:
    """Hourly PUE (constant or one value per hour); each must be >= 1 (:meth:`Facility.validate`)."""
    return _checked_per_hour(pue, n_hours, "facility.pue", lambda v: Facility(pue=v).validate(n_hours))


def carbon_per_hour(carbon_g_per_kwh: ArrayLike, n_hours: int) -> np.ndarray:
    """Hourly grid intensity (gCO2/kWh); each must be >= 0 (:meth:`Grid.validate`)."""
    return _checked_per_hour(
        carbon_g_per_kwh, n_hours, "grid.carbon_g_per_kwh", lambda v: Grid(carbon_g_per_kwh=v).validate(n_hours)
    )
