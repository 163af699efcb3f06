"""Plan check: does the simulator reproduce the plan on the plan's own assumptions, and where does reality break it?

Step 1 (assumptions): queries of each class arrive as a Poisson process at the
plan's rate (``queries / period_s`` per period, repeated ``n_repeats`` times),
with the class's mean tokens, routed by the plan's shares, served at the
planning batch size. Expected query (IT, dynamic) energy
``sum(queries * energy_j)`` and expected accuracy ``sum(queries * accuracy) /
sum(queries)`` from the option table must match the simulation within
``tolerance`` (1% by default).

Step 2 (reality): the same plan under bursty arrivals (a gamma-modulated
Poisson process, ``burst_cv``) or a given trace, with batch sizes from the load
and queueing; hours whose peak facility power exceeds the power cap, or whose
latency quantile exceeds the SLO, are listed as violations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from tpf.domain import QueryClass, Workload
from tpf.errors import ConfigError
from tpf.simulate.pools import Pool
from tpf.simulate.result import SimResult
from tpf.simulate.routing import AllocationRouter
from tpf.simulate.runner import simulate
from tpf.simulate.workload import RequestBatch, synthetic_requests


@dataclass
class PlanCheck:
    """Expected vs simulated on the plan's assumptions, and the violations under reality."""

    expected: dict[str, float]
    simulated: dict[str, float]
    relative_error: dict[str, float]
    agrees: bool
    violations: pd.DataFrame
    assumptions: SimResult
    reality: SimResult | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def _workload(allocation: pd.DataFrame, classes: pd.DataFrame, period_s: float, n_repeats: int) -> Workload:
    n_periods = int(allocation["period"].max()) + 1
    demand = allocation.groupby(["class_name", "period"])["queries"].sum().to_dict()
    query_classes = []
    for name, category, n_in, n_answer in classes[["class_name", "category", "n_in_tokens", "n_answer_tokens"]].to_numpy():
        per_period = [float(demand.get((name, p), 0.0)) / period_s for p in range(n_periods)]
        query_classes.append(QueryClass(str(name), str(category), float(n_in), tuple(per_period * n_repeats), float(n_answer)))
    return Workload(tuple(query_classes), n_periods=n_periods * n_repeats, period_s=period_s).validate()


def _class_table(options: pd.DataFrame, allocation: pd.DataFrame) -> pd.DataFrame:
    """class_name, category, n_in_tokens, n_answer_tokens (zero-shot output length, else 1)."""
    missing = [c for c in ("class_name", "category", "n_in_tokens", "energy_j") if c not in options.columns]
    if missing:
        raise ConfigError(f"options: missing column(s) {', '.join(missing)}")
    table = options.drop_duplicates("class_name")[["class_name", "category", "n_in_tokens"]].copy()
    answers = pd.Series(1.0, index=table["class_name"])
    if {"strategy", "n_out_tokens"} <= set(options.columns):
        zero_shot = options[options["strategy"] == "zero_shot"].groupby("class_name")["n_out_tokens"].first()
        answers.update(zero_shot)
    table["n_answer_tokens"] = answers.reindex(table["class_name"]).to_numpy(np.float64)
    return table[table["class_name"].isin(allocation["class_name"])].reset_index(drop=True)


def _expected(allocation: pd.DataFrame, options: pd.DataFrame, n_repeats: int) -> dict[str, float]:
    keyed = options.drop_duplicates(["class_name", "option_id"]).set_index(["class_name", "option_id"])
    keys = pd.MultiIndex.from_frame(allocation[["class_name", "option_id"]])
    queries = allocation["queries"].to_numpy(np.float64) * n_repeats
    energy = keyed["energy_j"].reindex(keys).to_numpy(np.float64)
    if np.isnan(energy).any():
        raise ConfigError("allocation: some (class_name, option_id) pairs are not in the option table")
    out = {"queries": float(queries.sum()), "query_energy_j": float((queries * energy).sum())}
    if "accuracy" in keyed.columns:
        accuracy = keyed["accuracy"].reindex(keys).to_numpy(np.float64)
        out["expected_accuracy"] = float((queries * accuracy).sum() / queries.sum())
    return out


def violations(result: SimResult, power_cap_w: float | None, latency_slo_s: float | None,
               slo_column: str = "latency_p95_s") -> pd.DataFrame:
    """Hours where the peak facility power exceeds the cap or the latency quantile the SLO."""
    rows = []
    hourly = result.hourly
    if power_cap_w is not None:
        over = hourly[hourly["peak_facility_kw"] * 1000.0 > power_cap_w]
        rows += [("power_cap", int(h), float(v) * 1000.0, power_cap_w) for h, v in zip(over["hour"], over["peak_facility_kw"], strict=True)]
    if latency_slo_s is not None:
        over = hourly[hourly[slo_column] > latency_slo_s]
        rows += [(f"latency_slo ({slo_column})", int(h), float(v), latency_slo_s) for h, v in zip(over["hour"], over[slo_column], strict=True)]
    return pd.DataFrame(rows, columns=["constraint", "hour", "value", "limit"])


def check_plan(
    plan_result: Any,
    options: pd.DataFrame,
    pools: Mapping[str, Pool] | Sequence[Pool],
    *,
    period_s: float = 3600.0,
    planning_batch_size: float = 1.0,
    n_repeats: int = 7,
    tolerance: float = 0.01,
    reality: RequestBatch | None = None,
    burst_cv: float = 0.5,
    power_cap_w: float | None = None,
    latency_slo_s: float | None = None,
    carbon_g_per_kwh: ArrayLike = 400.0,
    pue: ArrayLike = 1.3,
    engine: str = "event",
    seed: int = 0,
) -> PlanCheck:
    """Check a plan (a PlanResult or its allocation DataFrame) against the simulator."""
    allocation = getattr(plan_result, "allocation", plan_result)
    if "queries" not in allocation.columns or "option_id" not in allocation.columns:
        raise ConfigError("allocation: check_plan needs the columns queries and option_id")
    classes = _class_table(options, allocation)
    router = AllocationRouter(allocation, classes, options, seed=seed, period_s=period_s)
    workload = _workload(allocation, classes, period_s, n_repeats)
    steady = synthetic_requests(workload, seed=seed)
    assumed = simulate(steady, router, pools, fixed_batch_size=planning_batch_size,
                       n_hours=int(np.ceil(workload.n_periods * period_s / 3600.0)),
                       carbon_g_per_kwh=carbon_g_per_kwh, pue=pue)
    expected = _expected(allocation, options, n_repeats)
    simulated = {k: assumed.totals["served_queries" if k == "queries" else k] for k in expected}
    errors = {k: abs(simulated[k] - v) / abs(v) if v else 0.0 for k, v in expected.items()}
    agrees = all(errors[k] <= tolerance for k in errors if k != "queries")
    if reality is None:
        one_pass = Workload(workload.classes, workload.n_periods, workload.period_s)
        reality = synthetic_requests(one_pass, seed=seed + 1, burst_cv=burst_cv)
    real = simulate(reality, router, pools, engine=engine, carbon_g_per_kwh=carbon_g_per_kwh, pue=pue)
    return PlanCheck(expected, simulated, errors, agrees,
                     violations(real, power_cap_w, latency_slo_s), assumed, real,
                     {"tolerance": tolerance, "n_repeats": n_repeats, "burst_cv": burst_cv})
