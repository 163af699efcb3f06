"""Totals of an allocation (a share per data column and GPU counts), in user units."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpf.cost.carbon import carbon_kg, facility_carbon_kg
from tpf.plan.data import PlanData
from tpf.plan.queueing import wait_quantile_s


def period_energy_kwh(data: PlanData, shares: np.ndarray, gpus_on: np.ndarray | None) -> np.ndarray:
    """IT energy per period (kWh): dynamic energy of the served queries plus idle GPUs."""
    energy = np.bincount(data.col_period, weights=data.col_energy_kwh * shares,
                         minlength=data.n_periods)
    if data.gpu_vars and gpus_on is not None:
        idle = gpus_on.reshape(len(data.model_names), data.n_periods)
        energy = energy + (data.idle_power_kw[:, None] * data.period_h * idle).sum(axis=0)
    return energy


def required_gpus(data: PlanData, shares: np.ndarray) -> np.ndarray:
    """Fewest powered-on GPUs per (model, period) that carry ``shares``, flattened m*T+t.

    With replicas modelled: the GPUs of the fewest replicas
    (:func:`required_replicas`, whole for ``replicas="integer"``); else the
    busy GPU-hours over the period at the model's utilization (fractional).
    """
    key = data.col_model * data.n_periods + data.col_period
    size = len(data.model_names) * data.n_periods
    busy_h = np.bincount(key, weights=data.col_gpu_h * shares, minlength=size)
    needed = busy_h / (data.period_h * np.repeat(data.utilization, data.n_periods))
    if data.replicas_modelled:
        replicas = required_replicas(data, shares) * np.repeat(data.replica_gpus, data.n_periods)
        model_key = np.repeat(data.point_model, data.n_periods) * data.n_periods + np.tile(
            np.arange(data.n_periods), data.n_points)
        needed = np.maximum(needed, np.bincount(model_key, weights=replicas, minlength=size))
    return needed


def required_replicas(data: PlanData, shares: np.ndarray) -> np.ndarray:
    """Fewest replicas per (operating point, period), flattened p*T+t, that carry ``shares``:
    the busy GPU-hours at the point within ``U G`` per replica, and within the tail-latency
    SLOs' loads; rounded up (a hair's tolerance) for ``replicas="integer"``."""
    key = data.col_point * data.n_periods + data.col_period
    size = data.n_points * data.n_periods
    per_replica_h = np.repeat(data.replica_gpus, data.n_periods) * data.period_h
    busy_h = np.bincount(key, weights=data.col_gpu_h * shares, minlength=size)
    needed = busy_h / (per_replica_h * np.repeat(data.utilization[data.point_model], data.n_periods))
    for slo_gpu_h in (data.col_ttft_gpu_h, data.col_e2e_gpu_h):
        if slo_gpu_h is not None:
            needed = np.maximum(needed, np.bincount(key, weights=slo_gpu_h * shares, minlength=size) / per_replica_h)
    if data.settings.replicas == "integer":
        needed = np.ceil(needed - 1e-6)
    return np.maximum(needed, 0.0)


def point_latency(data: PlanData, shares: np.ndarray, replicas: np.ndarray) -> pd.DataFrame:
    """Per (operating point, period) with replicas: the load per replica, the batch it forms
    (Little's law: load x window) and the p99 TTFT and end-to-end latency of an M/M/c replica
    with ``c = B`` slots of the queries' mean window (:func:`tpf.plan.queueing.wait_quantile_s`)."""
    key = data.col_point * data.n_periods + data.col_period
    size = data.n_points * data.n_periods
    queries_at = data.col_queries * shares
    queries = np.bincount(key, weights=queries_at, minlength=size)
    options = data.options
    def mean(column: str) -> np.ndarray:
        values = options[column].to_numpy(float)[data.col_option] if column in options else np.zeros(data.n_columns)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(queries > 0, np.bincount(key, weights=values * queries_at, minlength=size) / queries, 0.0)
    window_s, prefill_s = mean("latency_s"), mean("prefill_s")
    batch = np.repeat(data.point_batch, data.n_periods)
    with np.errstate(divide="ignore", invalid="ignore"):
        load = np.where(replicas > 0, queries / data.period_s / replicas, 0.0)
    wait_s = wait_quantile_s(batch, load, window_s)
    busy = queries > 0
    return pd.DataFrame({
        "model": np.repeat(np.asarray(data.model_names)[data.point_model], data.n_periods),
        "period": np.tile(np.arange(data.n_periods), data.n_points), "batch_size": batch,
        "replicas": replicas, "gpus_on": replicas * np.repeat(data.replica_gpus, data.n_periods),
        "queries": queries, "load_per_replica_per_s": load, "window_s": window_s,
        "batch_formed": load * window_s,
        "ttft_p99_s": np.where(busy, wait_s + prefill_s, np.nan), "e2e_p99_s": np.where(busy, wait_s + window_s, np.nan),
    })[lambda frame: frame["replicas"] > 0].reset_index(drop=True)


def variable_values(data: PlanData, shares: np.ndarray, gpus: np.ndarray | None) -> np.ndarray:
    """The stacked variable vector (shares, GPUs, replicas) of an allocation at its fewest GPUs and replicas."""
    parts = [shares, gpus if gpus is not None else np.zeros(0)]
    if data.replicas_modelled:
        parts.append(required_replicas(data, shares))
    return np.concatenate(parts)


def totals(data: PlanData, shares: np.ndarray, gpus_on: np.ndarray | None) -> dict[str, float]:
    """queries, accuracy (fraction), it/facility energy (kWh), carbon (kg), peak facility power (kW)."""
    energy = period_energy_kwh(data, shares, gpus_on)
    facility = energy * data.pue
    return {
        "queries": data.total_queries,
        "accuracy": float(np.sum(data.col_weight * data.col_accuracy * shares)),
        "it_energy_kwh": float(energy.sum()),
        "facility_energy_kwh": float(facility.sum()),
        "carbon_kg": float(np.sum(facility_carbon_kg(facility, data.carbon_g_per_kwh))),
        "peak_facility_kw": float(facility.max() / data.period_h),
        "peak_it_kw": float(energy.max() / data.period_h),
        "embodied_kg": embodied_kg(data, gpus_on),
    }


def embodied_kg(data: PlanData, gpus_on: np.ndarray | None) -> float:
    """Embodied carbon of the powered-on GPU-hours (each model's ``embodied_kg_per_gpu_h``)."""
    if not data.gpu_vars or gpus_on is None or data.embodied_kg_per_gpu_h is None:
        return 0.0
    per_gpu = np.repeat(data.embodied_kg_per_gpu_h, data.n_periods) * data.period_h
    return float(np.dot(per_gpu, gpus_on))


def per_period(data: PlanData, shares: np.ndarray, gpus_on: np.ndarray | None) -> pd.DataFrame:
    """Per period: queries, IT energy split into idle (powered GPUs) and dynamic (queries), facility, carbon."""
    energy = period_energy_kwh(data, shares, gpus_on)
    dynamic = np.bincount(data.col_period, weights=data.col_energy_kwh * shares, minlength=data.n_periods)
    return pd.DataFrame({
        "period": np.arange(data.n_periods),
        "queries": data.demand_queries.sum(axis=0),
        "it_energy_kwh": energy,
        "idle_energy_kwh": energy - dynamic,
        "dynamic_energy_kwh": dynamic,
        "facility_energy_kwh": energy * data.pue,
        "facility_power_kw": energy * data.pue / data.period_h,
        "carbon_kg": carbon_kg(energy, data.pue, data.carbon_g_per_kwh),
    })


def allocation(data: PlanData, shares: np.ndarray, tol: float = 1e-9) -> pd.DataFrame:
    """The tidy allocation: one row per (class, period, option) with a positive share."""
    used = np.flatnonzero(shares > tol)
    options = data.options.iloc[data.col_option[used]].reset_index(drop=True)
    out = pd.DataFrame({
        "class_name": options["class_name"], "period": data.col_period[used],
        "arrival_period": data.arrival_period[used],
        "option_id": options["option_id"], "model": options["model"],
        "hardware": options["hardware"], "strategy": options["strategy"],
        "budget_tokens": options["budget_tokens"], "votes": options["votes"],
        "share": shares[used], "queries": shares[used] * data.col_queries[used],
        "accuracy": options["accuracy"], "energy_j": options["energy_j"],
    })
    for column in ("batch_size", "gpu_s"):
        if column in options:
            out[column] = options[column].to_numpy(float)
    if "batch_size" not in out and data.point_batch is not None:   # one operating point per model
        out["batch_size"] = data.point_batch[data.col_point[used]]
    return out.sort_values(["class_name", "period", "option_id"]).reset_index(drop=True)


def per_model_period(data: PlanData, shares: np.ndarray, gpus_on: np.ndarray) -> pd.DataFrame:
    """Per (model, period): GPUs powered and unpowered, busy GPU-hours, utilization of the
    powered GPUs, the query-weighted operating point (batch size), idle and dynamic IT
    energy (kWh), and the idle energy the unpowered GPUs would add if kept on."""
    n_models, n_periods = len(data.model_names), data.n_periods
    key = data.col_model * n_periods + data.col_period
    size = n_models * n_periods
    busy_h = np.bincount(key, weights=data.col_gpu_h * shares, minlength=size)
    queries = np.bincount(key, weights=data.col_queries * shares, minlength=size)
    batch = data.options["batch_size"].to_numpy(float)[data.col_option] if "batch_size" in data.options \
        else np.ones(data.n_columns)
    batch_sum = np.bincount(key, weights=batch * data.col_queries * shares, minlength=size)
    idle_kw = np.repeat(data.idle_power_kw, n_periods)
    fleet = np.repeat(data.fleet_gpus, n_periods)
    with np.errstate(divide="ignore", invalid="ignore"):
        utilization = np.where(gpus_on > 0, busy_h / (gpus_on * data.period_h), 0.0)
        batch_size = np.where(queries > 0, batch_sum / queries, np.nan)
    frame = pd.DataFrame({
        "model": np.repeat(data.model_names, n_periods), "period": np.tile(np.arange(n_periods), n_models),
        "gpus_on": gpus_on, "gpus_off": np.maximum(fleet - gpus_on, 0.0),
        "gpus_needed": required_gpus(data, shares), "busy_gpu_h": busy_h, "utilization": utilization,
        "batch_size": batch_size, "queries": queries,
        "idle_energy_kwh": idle_kw * data.period_h * gpus_on,
        "dynamic_energy_kwh": np.bincount(key, weights=data.col_energy_kwh * shares, minlength=size),
        "unpowered_idle_kwh": idle_kw * data.period_h * np.maximum(fleet - gpus_on, 0.0),
    })
    return frame if not data.replicas_modelled else _with_replicas(frame, data, shares)


def _with_replicas(frame: pd.DataFrame, data: PlanData, shares: np.ndarray) -> pd.DataFrame:
    """Per (model, period): replicas powered (all points), load per replica, worst p99 latencies."""
    points = point_latency(data, shares, required_replicas(data, shares))
    grouped = points.groupby(["model", "period"]).agg(
        replicas=("replicas", "sum"), point_queries=("queries", "sum"), ttft_p99_s=("ttft_p99_s", "max"),
        e2e_p99_s=("e2e_p99_s", "max"))
    out = frame.merge(grouped.reset_index(), on=["model", "period"], how="left")
    out["replicas"] = out["replicas"].fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["load_per_replica_per_s"] = np.where(out["replicas"] > 0, out["point_queries"].fillna(0.0)
                                                 / data.period_s / out["replicas"], 0.0)
    return out.drop(columns="point_queries")
