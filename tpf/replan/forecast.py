"""Forecasts of an hourly series (carbon intensity, arrivals) over a planning window.

At hour ``t`` a forecaster returns the values it expects for hours
``t, t+1, ..., t+H-1`` using only what is known at ``t``:

* ``oracle``: the true values (perfect foresight, the regret baseline);
* ``persistence``: every hour equals the last observed hour ``t-1``;
* ``seasonal_naive``: the same hour of the most recent day (``t+k-24j``, the
  smallest whole ``j`` that reaches the past); ``seasonal_naive_week`` the
  same with weeks (168 h);
* ``csv``: a user series (one value per hour, e.g. a day-ahead forecast),
  read from ``replan.forecast_csv`` by the project's carbon-series reader.

Before the series starts (``t`` too early for a lag), the earliest observed
value stands in.
"""

from __future__ import annotations

import numpy as np

from tpf.errors import ConfigError

FORECASTS = ("oracle", "persistence", "seasonal_naive", "seasonal_naive_week", "csv")
_SEASONS_H = {"seasonal_naive": 24, "seasonal_naive_week": 168}


def check_forecast(name: str) -> str:
    if name not in FORECASTS:
        raise ConfigError(f"replan.forecast: must be one of {', '.join(FORECASTS)}, got {name!r}")
    return name


def forecast_window(kind: str, actual: np.ndarray, t: int, horizon: int,
                    user: np.ndarray | None = None) -> np.ndarray:
    """Forecast of ``actual[t : t + horizon]`` made at hour ``t`` (indices past the end repeat the last hour)."""
    ahead = np.arange(t, t + horizon)
    if kind == "oracle":
        return actual[np.minimum(ahead, len(actual) - 1)]
    if kind == "csv":
        if user is None:
            raise ConfigError("replan.forecast_csv: required for replan.forecast=csv, got null")
        return user[np.minimum(ahead, len(user) - 1)]
    if kind == "persistence":
        return np.full(horizon, actual[max(t - 1, 0)])
    season = _SEASONS_H[check_forecast(kind)]
    k = ahead - t
    lagged = ahead - season * (k // season + 1)
    return actual[np.maximum(lagged, 0)]


def forecast_error(kind: str, actual: np.ndarray, horizon: int, user: np.ndarray | None = None,
                   step: int = 24) -> float:
    """Mean absolute percentage error of the forecast over the series (every ``step`` hours)."""
    errors = []
    for t in range(0, len(actual) - horizon, step):
        truth = actual[t:t + horizon]
        guess = forecast_window(kind, actual, t, horizon, user)
        errors.append(np.mean(np.abs(guess - truth) / np.maximum(np.abs(truth), 1e-9)))
    return float(np.mean(errors)) if errors else float("nan")
