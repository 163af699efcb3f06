"""Plan against the independent simulation, per model and hour (``model_hourly.csv`` and the report).

The plan's side: queries routed to each model in each period, their energy at
the option's price (``queries x energy_j``) plus the plan's idle energy of the
model's powered GPUs (``PlanResult.gpus_on``), its
GPUs powered and the query-weighted batch size of its chosen operating points.
The simulation's side (:func:`tpf.simulate.runner.model_hourly`): the queries
it served, their energy as the card prices them at the batch the arrivals
formed, the idle energy of the whole GPUs it powered, the batch formed, p99
latency and time to first token. An hour whose formed batch is below
:data:`FORMED_SHARE` of the planned batch is flagged: the planned operating
point did not form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpf.domain import J_PER_KWH

FORMED_SHARE = 0.7


def _plan_side(allocation: pd.DataFrame, options: pd.DataFrame | None, fleet: pd.DataFrame | None) -> pd.DataFrame:
    table = allocation[["class_name", "option_id", "model", "period", "queries"]].copy()
    if options is not None and {"option_id", "energy_j", "batch_size"} <= set(options.columns):
        priced = options.drop_duplicates(["class_name", "option_id"]).set_index(["class_name", "option_id"])
        keys = pd.MultiIndex.from_frame(table[["class_name", "option_id"]])
        table["energy_j"] = priced["energy_j"].reindex(keys).to_numpy(np.float64)
        table["batch_size"] = priced["batch_size"].reindex(keys).to_numpy(np.float64)
        if fleet is not None and len(fleet) and {"idle_power_w", "gpu_s"} <= set(priced.columns):
            # the plan charges a query its energy above the idle power its GPU-seconds already pay
            busy_idle_j = (priced["idle_power_w"] * priced["gpu_s"]).reindex(keys).to_numpy(np.float64)
            table["energy_j"] = np.maximum(table["energy_j"] - np.nan_to_num(busy_idle_j), 0.0)
    else:
        table["energy_j"], table["batch_size"] = np.nan, np.nan
    table["dynamic_j"] = table["queries"] * table["energy_j"]
    table["batch_queries"] = table["queries"] * table["batch_size"]
    plan = table.groupby(["model", "period"], as_index=False)[["queries", "dynamic_j", "batch_queries"]].sum()
    plan["planned_batch_size"] = plan["batch_queries"] / plan["queries"].where(plan["queries"] > 0)
    if fleet is not None and len(fleet) and {"model", "period", "gpus_on"} <= set(fleet.columns):
        per_model = fleet.rename(columns={"gpus_on": "plan_gpus_on"})
        keep = ["model", "period", "plan_gpus_on"] + (["idle_energy_kwh"] if "idle_energy_kwh" in fleet else [])
        plan = plan.merge(per_model[keep], on=["model", "period"], how="left")
    if "idle_energy_kwh" not in plan:
        plan["idle_energy_kwh"] = 0.0
    if "plan_gpus_on" not in plan:
        plan["plan_gpus_on"] = np.nan
    plan["plan_it_kwh"] = plan["dynamic_j"] / J_PER_KWH + plan["idle_energy_kwh"].fillna(0.0)
    return plan.rename(columns={"period": "hour", "queries": "plan_queries"})[
        ["model", "hour", "plan_queries", "plan_it_kwh", "plan_gpus_on", "planned_batch_size"]]


def plan_vs_simulation(allocation: pd.DataFrame, options: pd.DataFrame | None, fleet: pd.DataFrame | None,
                       simulated: pd.DataFrame) -> pd.DataFrame:
    """One row per model and hour: plan, simulation, difference, and whether the planned batch formed.

    ``fleet`` is the plan's per model and period table (``PlanResult.gpus_on``:
    ``model, period, gpus_on, idle_energy_kwh``), None where it models no GPUs.
    """
    plan = _plan_side(allocation, options, fleet)
    sim = simulated.assign(sim_it_kwh=(simulated["query_energy_j"] + simulated["idle_energy_j"]) / J_PER_KWH)
    sim = sim.rename(columns={"served_queries": "sim_queries", "powered_gpus": "sim_powered_gpus",
                              "latency_p99_s": "sim_latency_p99_s", "ttft_p99_s": "sim_ttft_p99_s"})
    table = plan.merge(sim[["model", "hour", "sim_queries", "sim_it_kwh", "sim_powered_gpus", "formed_batch_size",
                            "sim_latency_p99_s", "sim_ttft_p99_s"]], on=["model", "hour"], how="outer")
    table["it_energy_diff_pct"] = 100.0 * (table["sim_it_kwh"] / table["plan_it_kwh"].where(table["plan_it_kwh"] > 0)
                                           - 1.0)
    table["batch_formed"] = ~(table["formed_batch_size"] < FORMED_SHARE * table["planned_batch_size"])
    return table.sort_values(["model", "hour"]).reset_index(drop=True)


def fidelity_markdown(table: pd.DataFrame, max_rows: int = 12) -> str:
    """The report's paragraph: totals per model and the hours whose planned batch did not form."""
    if table is None or not len(table):
        return ""
    per_model = table.groupby("model")[["plan_it_kwh", "sim_it_kwh"]].sum()
    lines = ["### Plan and simulation per model and hour", "",
             "The simulator takes only the plan's routing and GPUs powered; it prices every request "
             "from the cards at the batch its arrivals form (`model_hourly.csv` has every model and hour).", "",
             "| model | plan IT kWh | simulated IT kWh | difference |", "| --- | --- | --- | --- |"]
    for model, row in per_model.iterrows():
        diff = 100.0 * (row["sim_it_kwh"] / row["plan_it_kwh"] - 1.0) if row["plan_it_kwh"] else float("nan")
        lines.append(f"| {model} | {row['plan_it_kwh']:.4g} | {row['sim_it_kwh']:.4g} | {diff:+.1f}% |")
    missed = table[~table["batch_formed"]]
    lines.append("")
    if not len(missed):
        lines.append(f"Every planned operating point formed (formed batch >= {FORMED_SHARE:g} x planned).")
        return "\n".join(lines) + "\n"
    lines += [f"**{len(missed)} model-hours where the planned operating point did not form** (formed batch "
              f"< {FORMED_SHARE:g} x planned):", "",
              "| model | hour | planned batch | formed batch | plan IT kWh | simulated IT kWh |",
              "| --- | --- | --- | --- | --- | --- |"]
    for row in missed.head(max_rows).itertuples(index=False):
        lines.append(f"| {row.model} | {int(row.hour)} | {row.planned_batch_size:.3g} | {row.formed_batch_size:.3g} "
                     f"| {row.plan_it_kwh:.4g} | {row.sim_it_kwh:.4g} |")
    if len(missed) > max_rows:
        lines.append(f"\n... and {len(missed) - max_rows} more in `model_hourly.csv`.")
    return "\n".join(lines) + "\n"
