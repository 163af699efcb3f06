"""Write a run's files: summary.json, plan.csv, hourly.csv, report.md and its figures.

Every file is written to a temporary name and renamed, so an interrupted run
never leaves a half-written file behind; nothing outside the run directory is
touched.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from tpf.atomic import write_text_atomic
from tpf.report import figures, sim_figures
from tpf.report.markdown import report_markdown
from tpf.report.record import PLAN_COLUMNS, RunRecord
from tpf.report.simulation import DEFAULT_LATENCY_P99_S, formed_batches


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(_json_safe(data), indent=2) + "\n")


def write_csv(path: Path, table: pd.DataFrame) -> Path:
    return write_text_atomic(path, table.to_csv(index=False))


def plan_table(allocation: pd.DataFrame) -> pd.DataFrame:
    """plan.csv: one row per (class, period, option) with a positive share."""
    columns = [c for c in PLAN_COLUMNS if c in allocation.columns]
    extra = [c for c in ("option_id", "hardware") if c in allocation.columns]
    return allocation[columns + extra].sort_values(["period", "class_name", "model"]).reset_index(drop=True)


#: options.csv: option table column -> exported name (units in the names).
OPTIONS_EXPORT = {
    "class_name": "class_name", "option_id": "option_id", "model": "model", "strategy": "strategy",
    "budget_tokens": "budget_tokens", "votes": "votes", "batch_size": "batch_size",
    "accuracy": "accuracy", "n_out_tokens": "n_out_tokens_expected",
    "n_out_tokens_spread": "n_out_tokens_spread", "energy_j": "energy_j_per_query",
    "gpu_s": "gpu_s_per_query", "latency_s": "latency_s", "energy_source": "energy_source",
    "energy_basis": "energy_basis", "anchor_extrapolation": "anchor_extrapolation", "idle_power_w": "idle_power_w",
}


def options_table(options: pd.DataFrame) -> pd.DataFrame:
    """options.csv: one row per (class, option) the planner could choose, as priced."""
    columns = [c for c in OPTIONS_EXPORT if c in options.columns]
    return options[columns].rename(columns=OPTIONS_EXPORT)


def draw_figures(run_dir: Path, record: RunRecord, cards: Any, dpi: int) -> dict[str, str]:
    """Draw every figure the record has data for; returns title -> file name."""
    drawn: dict[str, str] = {}
    if len(record.allocation):
        figures.routing_mix(record.allocation, run_dir / "routing_mix.png", dpi)
        drawn["Routing mix per hour"] = "routing_mix.png"
    if len(record.hourly_plan):
        figures.power_and_carbon(record.hourly_plan, record.power_cap_kw, run_dir / "power_carbon.png", dpi)
        drawn[("Facility power vs cap" if record.power_cap_kw is not None else "Facility power")
              + ", and carbon intensity"] = "power_carbon.png"
    if record.fronts or record.baselines is not None:
        figures.pareto_fronts(record.fronts, record.totals, record.baselines, run_dir / "pareto.png", dpi)
        drawn["Pareto fronts: accuracy vs energy and carbon" + _unproven(record.fronts)] = "pareto.png"
    if record.simulation_hourly is not None:
        drawn.update(draw_simulation_figures(run_dir, record, dpi))
    if cards is not None:
        labels = {c.model: c.source for c in record.cards if c.kind == "energy"}
        figures.energy_curves(cards.energy, labels, run_dir / "energy_curves.png", dpi=dpi,
                              lengths=figures.WorkloadLengths.of(record.options))
        drawn["Energy cards"] = "energy_curves.png"
        categories = sorted(set(record.allocation.get("category", pd.Series(dtype=str)))) or sorted(
            {c.category for c in cards.accuracy.curves}
        )
        figures.accuracy_curves(cards.accuracy, categories, run_dir / "accuracy_curves.png", dpi=dpi)
        drawn["Accuracy cards"] = "accuracy_curves.png"
    return drawn


def draw_simulation_figures(run_dir: Path, record: RunRecord, dpi: int) -> dict[str, str]:
    """The simulation's own figures: latency, power against the plan, queue, batches formed."""
    hourly, records, drawn = record.simulation_hourly, record.simulation_records, {}
    sim_figures.latency_distribution(records, hourly, run_dir / "sim_latency.png",
                                     latency_slo_s=record.latency_slo_s, ttft_slo_s=record.ttft_p99_slo_s,
                                     default_slo_s=DEFAULT_LATENCY_P99_S, dpi=dpi)
    drawn["Simulation: latency distribution"] = "sim_latency.png"
    if len(record.hourly_plan):
        sim_figures.power_plan_vs_simulation(record.hourly_plan, hourly, record.power_cap_kw,
                                             run_dir / "sim_power.png", dpi)
        drawn["Simulation: facility power per hour, planned vs simulated"] = "sim_power.png"
    if records is not None and len(records):
        sim_figures.queue_over_time(records, run_dir / "sim_queue.png", dpi=dpi)
        drawn["Simulation: queue over time"] = "sim_queue.png"
    batches = formed_batches(record)
    if batches is not None and len(batches):
        sim_figures.batch_formed(batches, run_dir / "sim_batches.png", dpi)
        drawn["Simulation: batch planned vs formed"] = "sim_batches.png"
    return drawn


def _unproven(fronts: dict[str, pd.DataFrame]) -> str:
    """A title suffix counting the front points whose solve stopped at the time limit."""
    count = sum(int((~front["proven_optimal"].astype(bool)).sum())
                for front in fronts.values() if "proven_optimal" in front)
    suffix = f" ({count} points not proven optimal: stopped at planner.time_limit_s)" if count else ""
    if any("replicas" in front and (front["replicas"] == "relaxed (LP)").any() for front in fronts.values()):
        suffix += " (fronts on the relaxation: fractional replicas and GPUs; the plan itself is whole)"
    return suffix


def write_run(run_dir: Path, record: RunRecord, cards: Any = None, draw: bool = True,
              dpi: int = 110) -> dict[str, Path]:
    """Write summary.json, plan.csv, options.csv, hourly.csv (if simulated) and report.md (+ PNGs)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    written = {"summary": write_json(run_dir / "summary.json", record.summary())}
    if len(record.allocation):
        written["plan"] = write_csv(run_dir / "plan.csv", plan_table(record.allocation))
    if record.options is not None and len(record.options):
        written["options"] = write_csv(run_dir / "options.csv", options_table(record.options))
    if record.simulation_hourly is not None:
        written["hourly"] = write_csv(run_dir / "hourly.csv", record.simulation_hourly)
    if record.simulation_model_hourly is not None:
        written["model_hourly"] = write_csv(run_dir / "model_hourly.csv", record.simulation_model_hourly)
    if len(record.hourly_plan):
        written["hourly_plan"] = write_csv(run_dir / "hourly_plan.csv", record.hourly_plan)
    drawn = draw_figures(run_dir, record, cards, dpi) if draw else {}
    written["report"] = write_text_atomic(run_dir / "report.md", report_markdown(record, drawn))
    return written
