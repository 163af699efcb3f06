"""Hourly accounting of a simulation: query and idle energy, tokens, latency quantiles, carbon.

Each query's energy and GPU time come from the one cost model,
:mod:`tpf.cost.pricing`; carbon from :mod:`tpf.cost.carbon`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpf.cost.carbon import facility_carbon_kg
from tpf.domain import J_PER_KWH
from tpf.errors import ConfigError
from tpf.simulate.carbon import carbon_per_hour, pue_per_hour
from tpf.simulate.result import SimResult

SECONDS_PER_HOUR = 3600.0


# --- hourly ledger -------------------------------------------------------------

QUANTILES = (0.50, 0.95, 0.99)
_HIST_EDGES_S = np.geomspace(1e-4, 1e6, 4606)  # ratio 1.005 per bin: quantiles within 0.25%


def grouped_quantiles(group: np.ndarray, values: np.ndarray, n_groups: int, quantiles=QUANTILES) -> np.ndarray:
    """Exact quantiles (numpy's default, linear interpolation) per group; NaN for empty groups."""
    grouped = values[np.argsort(group, kind="stable")]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=n_groups))])
    out = np.full((n_groups, len(quantiles)), np.nan)
    for index in np.flatnonzero(np.diff(bounds)):
        out[index] = np.quantile(grouped[bounds[index]:bounds[index + 1]], quantiles)
    return out


def histogram_quantiles(histogram: np.ndarray, quantiles=QUANTILES) -> np.ndarray:
    """Quantiles per row of a latency histogram over ``_HIST_EDGES_S`` (bin geometric midpoints)."""
    mids = np.sqrt(_HIST_EDGES_S[:-1] * _HIST_EDGES_S[1:])
    mids = np.concatenate([[_HIST_EDGES_S[0]], mids, [_HIST_EDGES_S[-1]]])
    cumulative = np.cumsum(histogram, axis=1)
    totals = cumulative[:, -1]
    out = np.full((histogram.shape[0], len(quantiles)), np.nan)
    for column, q in enumerate(quantiles):
        for row in np.flatnonzero(totals):
            rank = max(1.0, np.ceil(q * totals[row]))
            out[row, column] = mids[np.searchsorted(cumulative[row], rank)]
    return out


class HourlyLedger:
    """Accumulates per-query and per-bin quantities into hourly totals.

    Query energy, tokens, accuracy and latency are booked to the bin (and hour)
    the engine assigns them; idle energy and busy GPU time per bin come from the
    pools. With ``exact_quantiles`` the latencies are kept and quantiles are
    exact; otherwise a log histogram per hour bounds memory (quantiles within 0.25%).
    """

    def __init__(self, n_hours: int, bin_s: float, exact_quantiles: bool = True):
        bins_per_hour = SECONDS_PER_HOUR / bin_s
        if not bin_s > 0 or abs(bins_per_hour - round(bins_per_hour)) > 1e-9:
            raise ConfigError(f"bin_s: must divide 3600 s into whole bins, got {bin_s}")
        self.n_hours, self.bin_s = n_hours, float(bin_s)
        self.bins_per_hour = int(round(bins_per_hour))
        n_bins = n_hours * self.bins_per_hour
        self.query_energy_j_bin = np.zeros(n_bins)
        self.idle_energy_j_bin = np.zeros(n_bins)
        self.busy_gpu_s_bin = np.zeros(n_bins)
        self.powered_gpus = np.zeros(n_hours)
        self.served = np.zeros(n_hours)
        self.output_tokens = np.zeros(n_hours)
        self.accuracy_sum = np.zeros(n_hours)
        self.accuracy_count = np.zeros(n_hours)
        self.exact_quantiles = exact_quantiles
        self._latency_parts: list[tuple[np.ndarray, np.ndarray]] = []
        self._histogram = None if exact_quantiles else np.zeros((n_hours, len(_HIST_EDGES_S) + 1), np.int64)

    @property
    def n_bins(self) -> int:
        return self.n_hours * self.bins_per_hour

    def add_queries(self, bin_index, latency_s, energy_j, output_tokens, accuracy) -> None:
        hour = bin_index // self.bins_per_hour
        self.query_energy_j_bin += np.bincount(bin_index, energy_j, self.n_bins)
        self.served += np.bincount(hour, minlength=self.n_hours)
        self.output_tokens += np.bincount(hour, output_tokens, self.n_hours)
        known = ~np.isnan(accuracy)
        self.accuracy_sum += np.bincount(hour[known], accuracy[known], self.n_hours)
        self.accuracy_count += np.bincount(hour[known], minlength=self.n_hours)
        if self._histogram is None:
            self._latency_parts.append((hour, np.asarray(latency_s, np.float64)))
        else:
            cell = np.searchsorted(_HIST_EDGES_S, latency_s)
            np.add.at(self._histogram, (hour, cell), 1)

    def add_pool(self, idle_energy_j_bin, busy_gpu_s_bin, powered_gpus_hour) -> None:
        self.idle_energy_j_bin += idle_energy_j_bin
        self.busy_gpu_s_bin += busy_gpu_s_bin
        self.powered_gpus += powered_gpus_hour

    def _quantiles(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-hour quantiles and overall quantiles of latency."""
        if self._histogram is not None:
            overall = histogram_quantiles(self._histogram.sum(axis=0, keepdims=True))[0]
            return histogram_quantiles(self._histogram), overall
        if not self._latency_parts:
            return np.full((self.n_hours, len(QUANTILES)), np.nan), np.full(len(QUANTILES), np.nan)
        hour = np.concatenate([h for h, _ in self._latency_parts])
        latency = np.concatenate([v for _, v in self._latency_parts])
        overall = np.quantile(latency, QUANTILES) if len(latency) else np.full(len(QUANTILES), np.nan)
        return grouped_quantiles(hour, latency, self.n_hours), overall

    def _per_hour(self, per_bin: np.ndarray) -> np.ndarray:
        return per_bin.reshape(self.n_hours, self.bins_per_hour).sum(axis=1)

    def finish(self, carbon_g_per_kwh, pue, engine: str, records=None, notes=None) -> SimResult:
        """Hourly table and totals; carbon and PUE are per hour (scalar, 24 values, or >= n_hours)."""
        carbon = carbon_per_hour(carbon_g_per_kwh, self.n_hours)
        pue_hour = pue_per_hour(pue, self.n_hours)
        query_j, idle_j = self._per_hour(self.query_energy_j_bin), self._per_hour(self.idle_energy_j_bin)
        it_j = query_j + idle_j
        facility_kwh = it_j / J_PER_KWH * pue_hour
        bin_kw = (self.query_energy_j_bin + self.idle_energy_j_bin) / self.bin_s / 1000.0
        bin_kw = bin_kw * np.repeat(pue_hour, self.bins_per_hour)
        per_hour_q, overall_q = self._quantiles()
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = self.accuracy_sum / self.accuracy_count
        hourly = pd.DataFrame({
            "hour": np.arange(self.n_hours),
            "served_queries": self.served,
            "output_tokens": self.output_tokens,
            "output_tokens_per_s": self.output_tokens / SECONDS_PER_HOUR,
            "latency_p50_s": per_hour_q[:, 0], "latency_p95_s": per_hour_q[:, 1], "latency_p99_s": per_hour_q[:, 2],
            "query_energy_j": query_j, "idle_energy_j": idle_j, "it_energy_j": it_j,
            "it_energy_kwh": it_j / J_PER_KWH, "pue": pue_hour, "facility_energy_kwh": facility_kwh,
            "carbon_g_per_kwh": carbon, "carbon_kg": facility_carbon_kg(facility_kwh, carbon),
            "avg_facility_kw": facility_kwh,  # kWh over one hour
            "peak_facility_kw": bin_kw.reshape(self.n_hours, self.bins_per_hour).max(axis=1),
            "busy_gpu_s": self._per_hour(self.busy_gpu_s_bin), "powered_gpus": self.powered_gpus,
            "expected_accuracy": accuracy,
        })
        return SimResult(hourly, self._totals(hourly, overall_q), records, engine, dict(notes or {}))

    def _totals(self, hourly: pd.DataFrame, overall_q: np.ndarray) -> dict[str, float]:
        served = float(hourly["served_queries"].sum())
        summed = {k: float(hourly[k].sum()) for k in (
            "served_queries", "output_tokens", "query_energy_j", "idle_energy_j", "it_energy_j",
            "it_energy_kwh", "facility_energy_kwh", "carbon_kg", "busy_gpu_s")}
        counted = float(self.accuracy_count.sum())
        return {
            **summed,
            "hours": float(self.n_hours),
            "output_tokens_per_s": summed["output_tokens"] / (self.n_hours * SECONDS_PER_HOUR),
            "latency_p50_s": float(overall_q[0]), "latency_p95_s": float(overall_q[1]),
            "latency_p99_s": float(overall_q[2]),
            "avg_facility_kw": summed["facility_energy_kwh"] / self.n_hours,
            "peak_facility_kw": float(hourly["peak_facility_kw"].max()),
            "it_energy_j_per_query": summed["it_energy_j"] / served if served else float("nan"),
            "expected_accuracy": float(self.accuracy_sum.sum() / counted) if counted else float("nan"),
        }
