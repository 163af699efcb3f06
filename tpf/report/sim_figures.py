"""Figures of what a simulation saw (``tpf simulate``), beside the plan's.

* :func:`latency_distribution`: the distribution of end-to-end latency and time to
  first token (per-request records), or the hourly p50/p95/p99 (without records),
  with the SLO drawn.
* :func:`power_plan_vs_simulation`: facility power per hour, planned (hourly mean)
  against simulated (hourly mean and per-minute peak), with the cap.
* :func:`queue_over_time`: requests waiting per minute, per model (records).
* :func:`batch_formed`: the batch the simulation formed per model and hour against
  the plan's operating point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tpf.report.figures import PALETTE, _new_figure, _save


def _ecdf(axes, values: np.ndarray, label: str, color: str) -> None:
    values = np.sort(values[np.isfinite(values)])
    if not len(values):
        return
    axes.plot(values, np.arange(1, len(values) + 1) / len(values), color=color,
              label=f"{label}: p50 {np.quantile(values, 0.5):.3g} s, p99 {np.quantile(values, 0.99):.3g} s")


def latency_distribution(records: pd.DataFrame | None, hourly: pd.DataFrame, path: Path, *,
                         latency_slo_s: float | None, ttft_slo_s: float | None,
                         default_slo_s: float, dpi: int = 110) -> Path:
    """Cumulative distribution of end-to-end latency and TTFT (records), else hourly quantiles."""
    figure = _new_figure(9, 4.2, dpi)
    axes = figure.add_subplot()
    slo = latency_slo_s if latency_slo_s is not None else default_slo_s
    slo_label = (f"latency SLO {slo:g} s" if latency_slo_s is not None
                 else f"default latency check {slo:g} s (no SLO set)")
    if records is not None and len(records):
        _ecdf(axes, records["latency_s"].to_numpy(float), "end-to-end latency", "#1f4e8c")
        if "ttft_s" in records:
            _ecdf(axes, records["ttft_s"].to_numpy(float), "time to first token", "#d95f02")
        axes.axvline(slo, color="#c0392b", linestyle="--", label=slo_label)
        if ttft_slo_s is not None:
            axes.axvline(ttft_slo_s, color="#e67e22", linestyle=":", label=f"TTFT p99 SLO {ttft_slo_s:g} s")
        axes.axhline(0.99, color="#999999", linewidth=0.8)
        axes.set_xscale("log")
        axes.set_xlabel("seconds per request (log scale)")
        axes.set_ylabel("share of requests at or below")
        axes.set_title(f"Simulated latency distribution ({len(records):,} requests)")
    else:
        for column, color in (("latency_p50_s", "#7fa7d6"), ("latency_p95_s", "#1f78b4"),
                              ("latency_p99_s", "#1f4e8c")):
            axes.plot(hourly["hour"], hourly[column], marker=".", color=color, label=column.split("_")[1])
        axes.axhline(slo, color="#c0392b", linestyle="--", label=slo_label)
        axes.set_xlabel("hour")
        axes.set_ylabel("end-to-end latency (s)")
        axes.set_title("Simulated latency per hour (p50/p95/p99; no per-request records kept)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right" if records is not None and len(records) else "upper left")
    return _save(figure, path)


def power_plan_vs_simulation(plan_hourly: pd.DataFrame, sim_hourly: pd.DataFrame,
                             power_cap_kw: float | None, path: Path, dpi: int = 110) -> Path:
    """Facility power per hour: the plan's hourly mean as bars, the simulation's mean and peak as lines."""
    figure = _new_figure(9, 4.2, dpi)
    axes = figure.add_subplot()
    axes.bar(plan_hourly["period"], plan_hourly["facility_kw"], color="#c7d7ec", label="plan (hourly mean)")
    axes.plot(sim_hourly["hour"], sim_hourly["avg_facility_kw"], color="#1f4e8c", marker=".",
              label="simulation (hourly mean)")
    axes.plot(sim_hourly["hour"], sim_hourly["peak_facility_kw"], color="#d95f02", marker="^", markersize=4,
              label="simulation (peak minute)")
    if power_cap_kw is not None:
        axes.axhline(power_cap_kw, color="#c0392b", linestyle="--", linewidth=2, zorder=5,
                     label=f"cap {power_cap_kw:g} kW")
    axes.set_xlabel("hour")
    axes.set_ylabel("facility power (kW)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.set_title("Facility power per hour: planned vs simulated" + (" vs cap" if power_cap_kw is not None else ""))
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=4)
    return _save(figure, path)


def _waiting(records: pd.DataFrame, edges_s: np.ndarray) -> np.ndarray:
    """Requests waiting (arrived, not started) at each edge."""
    arrival = np.sort(records["arrival_s"].to_numpy(float))
    start = np.sort(records["arrival_s"].to_numpy(float) + records["wait_s"].to_numpy(float))
    return np.searchsorted(arrival, edges_s, side="right") - np.searchsorted(start, edges_s, side="right")


def queue_over_time(records: pd.DataFrame, path: Path, bin_s: float = 60.0, dpi: int = 110) -> Path:
    """Requests waiting for a GPU (arrived, not yet started), sampled every ``bin_s``, per model."""
    figure = _new_figure(9, 4.0, dpi)
    axes = figure.add_subplot()
    end_s = float((records["arrival_s"] + records["wait_s"]).max()) if len(records) else 0.0
    edges = np.arange(0.0, end_s + bin_s, bin_s)
    for index, (model, rows) in enumerate(records.groupby("model")):
        waiting = _waiting(rows, edges)
        axes.plot(edges / 3600.0, waiting, color=PALETTE[index % len(PALETTE)], linewidth=0.9,
                  label=f"{model} (max {int(waiting.max(initial=0))})")
    axes.set_xlabel("hour")
    axes.set_ylabel(f"requests waiting (every {bin_s:g} s)")
    axes.set_title("Queue over time: requests arrived but not yet started, per model")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    return _save(figure, path)


def batch_formed(table: pd.DataFrame, path: Path, dpi: int = 110) -> Path:
    """Per model and hour: the planned batch (dashed) and the mean batch the simulation formed (solid)."""
    figure = _new_figure(9, 4.0, dpi)
    axes = figure.add_subplot()
    for index, (model, rows) in enumerate(table.groupby("model")):
        rows = rows.sort_values("hour")
        color = PALETTE[index % len(PALETTE)]
        axes.plot(rows["hour"], rows["planned"], color=color, linestyle="--", label=f"{model} planned")
        axes.plot(rows["hour"], rows["formed"], color=color, marker="o", markersize=3, label=f"{model} formed")
    axes.set_xlabel("hour")
    axes.set_ylabel("batch size (requests per batch, mean)")
    axes.set_ylim(bottom=0)
    axes.set_title("Batch planned (dashed) vs formed in the simulation (solid), per model and hour")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    return _save(figure, path)
