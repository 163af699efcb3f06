"""``tpf replan``: walk a span hour by hour for the three policies; write summary.json, hourly.csv, a figure.

``summary.json`` keys (kg of CO2e, kWh, accuracy as a fraction):
``carbon_kg`` (forecast policy, operational + embodied), ``carbon_kg_agnostic``
(serve on arrival), ``carbon_kg_oracle`` (true series, same horizon),
``operational_kg*`` and ``embodied_kg*`` for each, ``facility_energy_kwh*``,
``accuracy*``, ``deadline_misses*``, ``slo_misses*``, ``saved_vs_agnostic_pct``
(forecast policy), ``oracle_saved_vs_agnostic_pct``, ``regret_kg`` and
``regret_pct`` (forecast minus oracle, in percent of the agnostic carbon),
``forecast_mape`` of the intensity forecast, and wall times. A figure that is
not a number (``forecast_mape`` of a span too short to score) is written ``null``:
the file is strict JSON.
``hourly.csv``: one row per (hour, policy), columns
:data:`~tpf.replan.engine.HOURLY_COLUMNS` plus ``time_utc``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tpf.atomic import write_text_atomic
from tpf.config.build import ScenarioInputs, build_inputs
from tpf.config.schema import TpfConfig
from tpf.errors import ConfigError
from tpf.plan.options import build_options
from tpf.replan.engine import PolicyRun, Span, run_policies
from tpf.replan.forecast import check_forecast, forecast_error
from tpf.replan.inputs import (
    carbon_series,
    class_mix,
    hourly_arrivals,
    merge_by_deadline,
    user_forecast,
    window_spec,
)
from tpf.replan.sites import build_sites, check_sites
from tpf.run.steps import strategy_spec

POLICIES = ("forecast", "agnostic", "oracle")


def _check(config: TpfConfig) -> None:
    replan, problems = config.replan, []
    if not 1 <= replan.days <= 366:
        problems.append(f"replan.days: must be in [1, 366], got {replan.days}")
    if not 1 <= replan.horizon_h <= 336:
        problems.append(f"replan.horizon_h: must be in [1, 336], got {replan.horizon_h}")
    try:
        check_forecast(replan.forecast)
    except ConfigError as exc:
        problems += exc.problems
    if replan.forecast == "csv" and not replan.forecast_csv:
        problems.append("replan.forecast_csv: required for replan.forecast=csv, got null")
    if problems:
        raise ConfigError(problems)


def replan_span(config: TpfConfig) -> tuple[dict[str, PolicyRun], dict[str, Any], pd.DatetimeIndex]:
    """Run the three policies over the configured span; return them, the span's facts and its hours."""
    _check(config)
    inputs = build_inputs(config)
    check_sites(inputs)
    planner = config.planner
    options = build_options(inputs.workload, inputs.cards.energy, inputs.cards.accuracy, strategy_spec(planner),
                            latency_slo_s=planner.latency_slo_s, batch_size=planner.batch_size).table
    mix = class_mix(options, inputs, config.replan.accuracy_target)
    n_hours = config.replan.days * 24
    # the walk goes on after the span, without arrivals, until every deadline has passed
    walk = n_hours + int(mix.deadlines_h.max(initial=0))
    total = walk + config.replan.horizon_h
    carbon, start, zone = carbon_series(inputs, total, n_hours)
    sites = build_sites(inputs, mix.names, start, total, carbon, zone, n_hours)
    arrivals = hourly_arrivals(inputs.workload, start.hour, total, config.workload.start_hour)
    arrivals[:, n_hours:] = 0.0
    allowed = sites.allowed
    if config.replan.merge_classes:
        mix, arrivals, allowed = merge_by_deadline(mix, arrivals, allowed)
    sites = replace(sites, allowed=allowed)
    spec = window_spec(inputs, mix, options, config.replan.horizon_h, config.replan.price_embodied, sites)
    user = user_forecast(config.replan.forecast_csv, start, total, n_hours)
    span = Span(sites.carbon_g_per_kwh if len(sites.names) > 1 else sites.carbon_g_per_kwh[0], arrivals,
                mix.accuracy, walk, user)
    runs = run_policies(spec, span, config.replan.forecast)
    facts = {"zone": zone if len(sites.names) == 1 else "+".join(sites.zones),
             "sites": {name: z for name, z in zip(sites.names, sites.zones, strict=True)}, "start_utc": str(start), "hours": n_hours, "horizon_h": config.replan.horizon_h,
             "forecast": config.replan.forecast, "deferrable_share": config.workload.deferrable_share,
             "deadline_h": config.workload.deadline_h, "classes": len(mix.names),
             "forecast_mape": float(np.mean([
                 forecast_error(config.replan.forecast, series[:n_hours], config.replan.horizon_h,
                                None if user is None else user[:n_hours]) for series in sites.carbon_g_per_kwh])),
             "embodied_kg_per_gpu_h": float(spec.embodied_kg_per_gpu_h.max(initial=0.0)),
             "embodied_source": embodied_source(inputs)}
    facts["hours_walked"] = walk
    return runs, facts, pd.date_range(start, periods=walk, freq="h")


def embodied_source(inputs: ScenarioInputs) -> str:
    """Where the fleet's embodied figures come from (the hardware catalog; estimates)."""
    from tpf.specs import hardware_spec

    labels = set()
    for entry in inputs.fleet.entries:
        try:
            spec = hardware_spec(entry.hardware)
        except ConfigError:
            labels.add(f"{entry.hardware}: none (not in the hardware catalog, not counted)")
            continue
        labels.add(f"{spec.key}: {spec.embodied_kg_per_gpu:g} kgCO2e per GPU over {spec.embodied_lifetime_years:g} "
                   f"years ({spec.embodied_source}; tpf/data/hardware.yaml)")
    return "; ".join(sorted(labels))


def summarize(runs: dict[str, PolicyRun], facts: dict[str, Any]) -> dict[str, Any]:
    """The summary.json mapping (see the module docstring)."""
    out: dict[str, Any] = {"status": "ok", **facts}
    for policy in [p for p in (*POLICIES, "spatial") if p in runs]:
        suffix = "" if policy == "forecast" else f"_{policy}"
        for key, value in runs[policy].totals().items():
            out[f"{key}{suffix}"] = value
    agnostic, oracle, forecast = out["carbon_kg_agnostic"], out["carbon_kg_oracle"], out["carbon_kg"]
    out["saved_vs_agnostic_pct"] = 100.0 * (agnostic - forecast) / agnostic if agnostic else 0.0
    out["oracle_saved_vs_agnostic_pct"] = 100.0 * (agnostic - oracle) / agnostic if agnostic else 0.0
    agnostic_op = out["operational_kg_agnostic"]
    out["operational_saved_vs_agnostic_pct"] = (
        100.0 * (agnostic_op - out["operational_kg"]) / agnostic_op if agnostic_op else 0.0)
    out["oracle_operational_saved_vs_agnostic_pct"] = (
        100.0 * (agnostic_op - out["operational_kg_oracle"]) / agnostic_op if agnostic_op else 0.0)
    out["regret_kg"] = forecast - oracle
    out["regret_pct"] = 100.0 * (forecast - oracle) / agnostic if agnostic else 0.0
    for policy in [p for p in (*POLICIES, "spatial") if p in runs]:
        hourly, suffix = runs[policy].hourly, "" if policy == "forecast" else f"_{policy}"
        for column in [c for c in hourly.columns if c.startswith("queries_served_")]:
            served = float(hourly["queries_served"].sum())
            out[f"share_{column.removeprefix('queries_served_')}{suffix}"] = (
                float(hourly[column].sum()) / served if served else 0.0)
    distinct = {id(run): run for run in runs.values()}.values()
    out["wall_s_total"] = float(sum(run.wall_s for run in distinct))
    return out


def json_ready(value: Any) -> Any:
    """``value`` with numpy numbers as plain ones and every NaN or infinity as None (JSON null)."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def hourly_frame(runs: dict[str, PolicyRun], hours: pd.DatetimeIndex) -> pd.DataFrame:
    frames = []
    for policy in [p for p in (*POLICIES, "spatial") if p in runs]:
        frame = runs[policy].hourly.copy()
        frame["policy"] = policy
        frame.insert(0, "time_utc", hours.strftime("%Y-%m-%d %H:%M"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def run_replan(config: TpfConfig, run_dir: Path) -> dict[str, Any]:
    """Run, then write summary.json, hourly.csv and replan.png into ``run_dir``."""
    runs, facts, hours = replan_span(config)
    summary = summarize(runs, facts)
    run_dir.mkdir(parents=True, exist_ok=True)
    hourly = hourly_frame(runs, hours)
    write_text_atomic(run_dir / "hourly.csv", hourly.to_csv(index=False))
    write_text_atomic(run_dir / "summary.json", json.dumps(json_ready(summary), indent=2, allow_nan=False) + "\n")
    if config.report.figures:
        replan_figure(hourly, run_dir / "replan.png", summary)
    return summary


#: What each policy does, for the figure's legend.
POLICY_WORDS = {"forecast": "forecast: re-plans each hour on the intensity forecast",
                "agnostic": "agnostic: serves each query on arrival",
                "oracle": "oracle: re-plans on the true intensity",
                "spatial": "spatial: sites chosen on the forecast"}


def replan_figure(hourly: pd.DataFrame, path: Path, summary: dict[str, Any] | None = None) -> Path:
    """Intensity over the span (true and forecast), and the carbon each policy saved against
    serving on arrival, cumulative over the span; times in UTC, savings printed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    summary = summary or {}
    figure = Figure(figsize=(10, 6), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True)
    first = hourly[hourly["policy"] == "forecast"]
    times = pd.to_datetime(first["time_utc"]).to_numpy()
    top.plot(times, first["carbon_g_per_kwh"], lw=0.6, color="#2e7d32", label="true intensity")
    top.plot(times, first["forecast_g_per_kwh"], lw=0.6, color="#d95f02",
             label=f"forecast of each hour made at its re-plan ({summary.get('forecast', 'forecast')}, horizon hour 0)")
    top.set_ylabel("gCO2/kWh")
    top.legend(loc="upper right", fontsize=8)
    top.grid(alpha=0.3)
    agnostic = np.cumsum(hourly.loc[hourly["policy"] == "agnostic", "carbon_kg"].to_numpy())
    for policy, color in (("forecast", "#1f4e8c"), ("oracle", "#7570b3"), ("spatial", "#e7298a")):
        part = hourly[hourly["policy"] == policy]
        if len(part) and len(part) == len(agnostic):
            saved = agnostic - np.cumsum(part["carbon_kg"].to_numpy())
            bottom.plot(times, saved, color=color, label=f"{POLICY_WORDS[policy]}: {saved[-1]:.4g} kg saved")
    bottom.axhline(0.0, color="#666666", lw=0.8, label=POLICY_WORDS["agnostic"] + " (the zero line)")
    bottom.set_ylabel("kgCO2e saved vs agnostic,\ncumulative")
    bottom.set_xlabel("time (UTC)")
    bottom.legend(loc="upper left", fontsize=8)
    bottom.grid(alpha=0.3)
    figure.suptitle(_replan_title(summary, first["time_utc"]), fontsize=10)
    figure.savefig(path)
    return path


def _replan_title(summary: dict[str, Any], times: pd.Series) -> str:
    span = f"{times.iloc[0]} to {times.iloc[-1]} UTC" if len(times) else ""
    head = f"Hourly re-planning, {summary.get('zone', '')}, {span}"
    if "saved_vs_agnostic_pct" not in summary:
        return head
    return (f"{head}\nforecast policy saved {summary['saved_vs_agnostic_pct']:.2f}% of the agnostic carbon "
            f"({summary['carbon_kg_agnostic']:.4g} -> {summary['carbon_kg']:.4g} kgCO2e); oracle "
            f"{summary['oracle_saved_vs_agnostic_pct']:.2f}%; deferrable share "
            f"{summary.get('deferrable_share', 0):g}, deadline {summary.get('deadline_h', 0):g} h")
