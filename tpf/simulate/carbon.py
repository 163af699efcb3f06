"""Carbon and PUE signals: hourly grid intensity (gCO2eq/kWh) and facility PUE.

Sources of carbon intensity:

* an Electricity Maps CSV export, read by the one carbon-series reader
  :func:`tpf.carbon.read_carbon_series` (re-exported here with
  :func:`read_electricitymaps_csv` and :func:`window`; interval detection,
  time zones, order, gaps and range are documented there);
* a constant (:func:`constant_series`);
* a country's yearly value from a codecarbon-style CSV (:func:`country_intensity`,
  columns ``iso_code, year, carbon_intensity``);
* a 24-hour profile shipped in ``tpf/data/carbon_profiles.csv``
  (:func:`shipped_profile`), hourly means per UTC hour of day of 2023 data.

Every series is indexed by UTC hours.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from tpf.carbon import (  # noqa: F401  (the one carbon-series reader, re-exported here)
    INTENSITY_COLUMNS,
    CarbonGapWarning,
    CarbonSeries,
    read_carbon_series,
    read_electricitymaps_csv,
    window,
)
from tpf.domain import Facility, Grid
from tpf.errors import ConfigError, DataError

SHIPPED_PROFILES = Path(__file__).resolve().parent.parent / "data" / "carbon_profiles.csv"


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
