"""What a re-plan needs from a scenario: the blended option of each class, hourly arrivals, carbon.

Each class is served by one fixed mix of options, the same for every policy
(so policies differ only in *when* they serve): the planner's allocation of
one average hour without caps (``min_it_energy`` at the accuracy target, or
``max_accuracy`` when none is set). A class's blended option has the mix's
IT energy above idle (kWh), busy GPU-hours on each model, and accuracy, per
query. Arrivals repeat the workload's daily profile (period p of a 24-period
workload is UTC hour ``(start_hour + p) % 24``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tpf.carbon import parse_start, read_electricitymaps_csv
from tpf.config.build import ScenarioInputs
from tpf.config.paths import resolve_path
from tpf.domain import J_PER_KWH, Fleet, Grid, Workload
from tpf.errors import ConfigError
from tpf.plan import PlannerSettings, plan
from tpf.replan.window import WindowSpec

S_PER_H = 3600.0


@dataclass(frozen=True)
class ClassMix:
    """Per class k: the blended option (user units) and its deadline."""

    names: list[str]
    deadlines_h: np.ndarray
    energy_kwh_per_query: np.ndarray
    gpu_h_per_query: np.ndarray      # (K, M)
    accuracy: np.ndarray
    models: list[str]


def _average_hour(workload: Workload) -> Workload:
    classes = tuple(replace(c, rate_per_s=(float(np.mean([c.rate_at(t) for t in range(workload.n_periods)])),),
                            deadline_h=0.0) for c in workload.classes)
    return Workload(classes, 1, S_PER_H)


def class_mix(options: pd.DataFrame, inputs: ScenarioInputs, accuracy_target: float | None) -> ClassMix:
    """The blended option of every class (see the module docstring)."""
    workload = inputs.workload
    target = accuracy_target if accuracy_target is not None else inputs.config.planner.accuracy_target
    settings = (PlannerSettings(objective="min_it_energy", accuracy_target=target) if target is not None
                else PlannerSettings()).without_caps().with_changes(
        gpu_capacity=False, accuracy_target=target)
    average = _average_hour(workload)
    result = plan(options, average, inputs.facility, Grid((inputs.grid.intensity_at(0),)), Fleet(()), settings)
    extra = [c for c in ("gpu_s", "idle_power_w") if c not in result.allocation.columns]
    alloc = result.allocation.merge(options[["option_id", "class_name", *extra]],
                                    on=["option_id", "class_name"], how="left")
    models = [e.model for e in inputs.fleet.entries]
    names = [c.name for c in workload.classes]
    energy, gpu_h, acc = np.zeros(len(names)), np.zeros((len(names), len(models))), np.zeros(len(names))
    for k, name in enumerate(names):
        part = alloc[alloc["class_name"] == name]
        share = part["share"].to_numpy(float)
        gpu_s = part["gpu_s"].fillna(0.0).to_numpy(float)
        above_idle = np.maximum(part["energy_j"].to_numpy(float) - part["idle_power_w"].fillna(0.0) * gpu_s, 0.0)
        energy[k] = float(np.dot(share, above_idle)) / J_PER_KWH
        acc[k] = float(np.dot(share, part["accuracy"].to_numpy(float)))
        for m, model in enumerate(models):
            on_m = (part["model"] == model).to_numpy()
            gpu_h[k, m] = float(np.dot(share[on_m], gpu_s[on_m])) / S_PER_H
    deadlines = np.array([int(np.floor(c.deadline_h + 1e-9)) for c in workload.classes], np.int64)
    return ClassMix(names, deadlines, energy, gpu_h, acc, models)


def merge_by_deadline(mix: ClassMix, arrivals: np.ndarray,
                      allowed: np.ndarray) -> tuple[ClassMix, np.ndarray, np.ndarray]:
    """One class per (deadline, allowed sites): per-query figures weighted by each class's queries.

    Exact when the classes' arrivals keep the same proportions hour by hour
    (one daily profile scaled by each class's share); it makes the window LP
    as many times smaller as there are classes per group.
    """
    keys = [(int(d), tuple(row)) for d, row in zip(mix.deadlines_h, allowed.tolist(), strict=True)]
    groups = sorted(set(keys))
    weight = arrivals.sum(axis=1)
    index = np.array([groups.index(k) for k in keys])
    size = len(groups)

    def mean(values: np.ndarray) -> np.ndarray:
        total = np.bincount(index, weight, size)
        return np.stack([np.bincount(index, weight * v, size) for v in np.atleast_2d(values.T)], axis=-1) / \
            np.maximum(total, 1e-300)[:, None]

    merged = ClassMix([f"deadline_{d}h_sites_{''.join('1' if a else '0' for a in row)}" for d, row in groups],
                      np.array([d for d, _ in groups], np.int64),
                      mean(mix.energy_kwh_per_query)[:, 0], mean(mix.gpu_h_per_query), mean(mix.accuracy)[:, 0],
                      mix.models)
    grouped = np.stack([arrivals[index == g].sum(axis=0) for g in range(size)])
    return merged, grouped, np.array([row for _, row in groups], bool).reshape(size, allowed.shape[1])


def hourly_arrivals(workload: Workload, start_hour_utc: int, n_hours: int, start_hour: int) -> np.ndarray:
    """(K, n_hours) queries per hour from the workload's daily profile."""
    if workload.n_periods not in (1, 24) or workload.period_s != S_PER_H:
        raise ConfigError("workload: tpf replan repeats a daily profile; needs period_s=3600 and "
                          f"n_periods 1 or 24, got {workload.n_periods} periods of {workload.period_s} s")
    hour_of_day = (start_hour_utc + np.arange(n_hours)) % 24
    period = (hour_of_day - start_hour) % 24 if workload.n_periods == 24 else np.zeros(n_hours, np.int64)
    rates = np.array([[c.rate_at(p) for p in range(workload.n_periods)] for c in workload.classes])
    return rates[:, period] * S_PER_H


def carbon_series(inputs: ScenarioInputs, n_hours: int,
                  span_hours: int | None = None) -> tuple[np.ndarray, pd.Timestamp, str]:
    """Hourly intensity (g/kWh) from ``grid.start_utc``: the CSV series (which must cover the
    ``span_hours``; see :func:`csv_series`), or the grid's 24-hour profile repeated."""
    grid = inputs.config.grid
    start = parse_start(grid.start_utc) or pd.Timestamp("2023-01-01 00:00", tz="UTC")
    if grid.kind == "electricitymaps":
        values, zone = csv_series(str(grid.csv_path), grid.column, start, n_hours, "grid.csv_path",
                                  grid.time_zone, span_hours, grid.dst)
        return values * grid.scale, start, zone
    if grid.kind == "constant":
        return np.full(n_hours, float(grid.carbon_g_per_kwh) * grid.scale), start, "constant"
    profile = np.asarray(grid.hourly_g_per_kwh, float) * grid.scale
    return profile[(start.hour + np.arange(n_hours)) % len(profile)], start, grid.name


def csv_series(path: str, column: str, start: pd.Timestamp, n_hours: int, key: str,
               time_zone: str = "UTC", span_hours: int | None = None, dst: str = "refuse") -> tuple[np.ndarray, str]:
    """``n_hours`` hourly values from ``start`` of an Electricity Maps CSV; ``time_zone`` and ``dst``
    read its times, as ``grid.time_zone`` and ``grid.dst`` for plan and simulate.

    The series must cover the span, its first ``span_hours`` (all ``n_hours`` when None), or a
    ConfigError names the dates it covers. Hours after the span (deadlines still open, the last
    look-ahead windows) that run past its end take the value of the same hour one day earlier, with
    a warning that counts them."""
    series = read_electricitymaps_csv(resolve_path(path), column, time_zone, dst)
    part = series[series.index >= start].to_numpy(float)[:n_hours]
    needed = n_hours if span_hours is None else min(span_hours, n_hours)
    if start < series.index[0] or len(part) < needed:
        days = f" ({needed // 24} days from {start:%Y-%m-%d %H:%M} UTC)" if needed % 24 == 0 else ""
        raise ConfigError(
            f"{key}: {path} covers {series.index[0]:%Y-%m-%d %H:%M} to {series.index[-1]:%Y-%m-%d %H:%M} UTC "
            f"({len(series)} hours); the span needs {needed} hours{days}: move grid.start_utc into the "
            "series or lower replan.days")
    if len(part) < n_hours:
        warnings.warn(f"{path}: {n_hours - len(part)} hour(s) after the span run past the series' end "
                      f"({series.index[-1]:%Y-%m-%d %H:%M} UTC); they take the value of the same hour a day "
                      "earlier", UserWarning, stacklevel=2)
    return _extend_daily(part, n_hours), str(series.name)


def _extend_daily(values: np.ndarray, n_hours: int) -> np.ndarray:
    """``values`` continued to ``n_hours`` by repeating the hour 24 hours earlier (the last value when
    shorter than a day)."""
    out = list(values)
    while len(out) < n_hours:
        out.append(out[-24] if len(out) >= 24 else out[-1])
    return np.asarray(out, float)


def user_forecast(path: str | None, start: pd.Timestamp, n_hours: int,
                  span_hours: int | None = None) -> np.ndarray | None:
    """A user's forecast series (Electricity Maps CSV layout) over the span, or None."""
    if path is None:
        return None
    return csv_series(path, "direct", start, n_hours, "replan.forecast_csv", span_hours=span_hours)[0]


def window_spec(inputs: ScenarioInputs, mix: ClassMix, options: pd.DataFrame, horizon_h: int,
                price_embodied: bool, sites: Any) -> WindowSpec:
    """The window LP's data for this scenario's fleet and sites (:class:`tpf.replan.sites.Sites`)."""
    entries = inputs.fleet.entries
    idle_w = options.groupby("model")["idle_power_w"].max() if "idle_power_w" in options else pd.Series(dtype=float)
    return WindowSpec(
        horizon_h=int(horizon_h), deadlines_h=mix.deadlines_h, energy_kwh_per_query=mix.energy_kwh_per_query,
        gpu_h_per_query=mix.gpu_h_per_query,
        idle_kw=np.array([float(idle_w.get(e.model, 0.0)) / 1000.0 for e in entries]),
        utilization=np.array([e.utilization for e in entries], float),
        fleet_gpus=sites.fleet_gpus, pue=sites.pue, power_cap_kw=sites.power_cap_kw,
        embodied_kg_per_gpu_h=np.array([e.embodied_kg_per_gpu_h for e in entries], float),
        price_embodied=price_embodied,
        allowed=sites.allowed, site_names=sites.names)
