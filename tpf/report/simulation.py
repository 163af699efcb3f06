"""What a simulation saw against the plan: the warnings at the top of a simulate report.

:func:`simulation_warnings` checks three things and says so in plain words:

* latency: the simulated p99 end-to-end latency against ``planner.latency_slo_s``
  (else :data:`DEFAULT_LATENCY_P99_S`), and the p99 time to first token against
  ``planner.ttft_p99_slo_s`` where both are known;
* power: the simulated peak facility power (per minute) against the plan's peak
  (an hourly mean; warned above :data:`PEAK_TOLERANCE` over it) and the cap;
* operating points: the batch the simulation formed per model and hour against
  the plan's (``batch_size_<model>`` of ``hourly_plan.csv``); a planned batch
  the simulation reached less than :data:`BATCH_FORMED_SHARE` of did not form.
  Without per-request records or planned batches the check says "not checked".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpf.cards import EnergyCard
from tpf.errors import CardError
from tpf.report.fidelity import FORMED_SHARE
from tpf.report.record import RunRecord

#: p99 end-to-end latency (s) a simulate report checks against when the planner sets no SLO.
DEFAULT_LATENCY_P99_S = 30.0
#: The simulated peak facility power may exceed the plan's hourly-mean peak by this share unflagged.
PEAK_TOLERANCE = 0.10
#: A planned batch counts as formed where the simulation's mean batch reaches this share of it
#: (the one rule, shared with the plan-vs-simulation table of :mod:`tpf.report.fidelity`).
BATCH_FORMED_SHARE = FORMED_SHARE


def with_ttft(records: pd.DataFrame | None, cards: dict[str, EnergyCard]) -> pd.DataFrame | None:
    """Records with ``ttft_s``: the wait plus the card's prefill duration at the request's
    input length and batch (``duration_s(n_in, 0, batch)``), at most the request's end-to-end
    latency; unchanged where a card has no duration curve."""
    if records is None or not len(records):
        return records
    ttft = np.full(len(records), np.nan)
    for model, rows in records.groupby("model").indices.items():
        card = cards.get(str(model))
        if card is None:
            continue
        part = records.iloc[rows]
        try:
            prefill_s = card.duration_s(part["n_in_tokens"].to_numpy(float), np.zeros(len(rows)),
                                        part["batch_size"].to_numpy(float))
        except CardError:
            continue
        ttft[rows] = np.minimum(part["wait_s"].to_numpy(float) + np.asarray(prefill_s, float),
                                part["latency_s"].to_numpy(float))
    return records.assign(ttft_s=ttft) if np.isfinite(ttft).any() else records


def formed_batches(record: RunRecord) -> pd.DataFrame | None:
    """Per model and hour: ``planned`` batch (plan) and ``formed`` mean batch (simulation,
    request-weighted); None where either side is missing."""
    records, plan = record.simulation_records, record.hourly_plan
    planned_columns = [c for c in plan.columns if c.startswith("batch_size_")]
    if records is None or not len(records) or "batch_size" not in records or not planned_columns:
        return _formed_from_model_hourly(record.simulation_model_hourly)
    formed = records.groupby(["model", "hour"])["batch_size"].mean().rename("formed").reset_index()
    planned = plan[["period", *planned_columns]].melt(id_vars="period", var_name="model", value_name="planned")
    planned["model"] = planned["model"].str.removeprefix("batch_size_")
    planned = planned.rename(columns={"period": "hour"}).dropna(subset=["planned"])
    planned = planned[planned["planned"] > 0]
    return planned.merge(formed, on=["model", "hour"], how="left")


def _formed_from_model_hourly(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The same table from the simulation's per model and hour figures (engines that keep no
    per-request records: the fluid stream), None where they carry no batches."""
    wanted = {"model", "hour", "planned_batch_size", "formed_batch_size"}
    if table is None or not len(table) or not wanted <= set(table.columns):
        return None
    out = table[["model", "hour", "planned_batch_size", "formed_batch_size"]].rename(
        columns={"planned_batch_size": "planned", "formed_batch_size": "formed"})
    out = out.dropna(subset=["planned"])
    return out[out["planned"] > 0].reset_index(drop=True)


def _latency_warnings(record: RunRecord) -> list[str]:
    totals, out = record.simulation_totals, []
    p99 = totals.get("latency_p99_s")
    limit = record.latency_slo_s
    source = "planner.latency_slo_s" if limit is not None else "the report's default, no SLO set"
    limit = DEFAULT_LATENCY_P99_S if limit is None else limit
    if p99 is not None and p99 > limit:
        out.append(f"p99 latency {p99:.3g} s exceeds {limit:g} s ({source})")
    records = record.simulation_records
    if record.ttft_p99_slo_s is not None and records is not None and "ttft_s" in records:
        ttft = float(np.nanquantile(records["ttft_s"].to_numpy(float), 0.99))
        if ttft > record.ttft_p99_slo_s:
            out.append(f"p99 time to first token {ttft:.3g} s exceeds planner.ttft_p99_slo_s "
                       f"{record.ttft_p99_slo_s:g} s")
    return out


def _power_warnings(record: RunRecord) -> list[str]:
    peak, out = record.simulation_totals.get("peak_facility_kw"), []
    planned = record.totals.get("peak_facility_kw")
    if peak is None:
        return out
    if planned and peak > planned * (1 + PEAK_TOLERANCE):
        out.append(f"peak facility power {peak:.4g} kW (per minute) is {100 * (peak / planned - 1):.0f}% above "
                   f"the plan's {planned:.4g} kW (hourly mean)")
    if record.power_cap_kw is not None and peak > record.power_cap_kw:
        out.append(f"peak facility power {peak:.4g} kW exceeds the cap of {record.power_cap_kw:g} kW")
    return out


def operating_point_status(record: RunRecord) -> tuple[list[str], str]:
    """Warnings for planned batches that did not form, and one line on what was checked."""
    table = formed_batches(record)
    if table is None:
        return [], ("operating points: not checked (no per-request records of the simulation"
                    " or no planned batch per model and hour)")
    missed = table[~(table["formed"] >= BATCH_FORMED_SHARE * table["planned"])]
    checked = f"operating points: {len(table) - len(missed)} of {len(table)} planned (model, hour) batches formed"
    if not len(missed):
        return [], checked
    worst = missed.assign(ratio=missed["formed"].fillna(0.0) / missed["planned"]).sort_values("ratio").head(3)
    examples = "; ".join(f"{m} hour {int(h)}: planned {p:g}, formed {0.0 if np.isnan(f) else f:.2g}"
                         for m, h, p, f in zip(worst["model"], worst["hour"], worst["planned"], worst["formed"],
                                               strict=True))
    return [f"{len(missed)} of {len(table)} planned operating points did not form (mean batch below "
            f"{BATCH_FORMED_SHARE:.0%} of the plan's), e.g. {examples}"], checked


def simulation_warnings(record: RunRecord) -> list[str]:
    """Every warning of a simulated run (empty when nothing is flagged)."""
    if not record.simulation_totals:
        return []
    batches, _ = operating_point_status(record)
    return _latency_warnings(record) + _power_warnings(record) + batches
