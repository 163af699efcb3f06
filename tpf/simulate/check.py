"""Plan checks: the plan's own accounting (consistency) and the simulator against it.

**Consistency** (:func:`plan_consistency`, :func:`consistency_from_run`): the
plan's energy recomputed from its own rows (plan.csv priced by options.csv,
idle energy and PUE per period) must equal its totals, and a Poisson draw of
its demand must land within a tolerance derived from the number of queries.
The **fidelity** of a plan is the independent simulation's business
(``tpf simulate``, ``benchmarks/plan_fidelity.py``): it prices from the cards,
not from the plan. :func:`check_plan` below runs the simulator on synthetic
arrivals at a batch size the caller names and under bursts:

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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from tpf.domain import J_PER_KWH, QueryClass, Workload
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


# --- consistency: the plan's own accounting, recomputed from its files ---------------------

CONSISTENCY_SIGMAS = 4.0


@dataclass
class ConsistencyCheck:
    """The plan's totals recomputed from plan.csv and options.csv, and a Poisson draw of its demand.

    ``recomputed``: per quantity (``it_energy_kwh``, ``facility_energy_kwh``,
    ``queries``) the plan's figure and the one recomputed from its rows; they
    must agree to ``exact_rtol``. ``sampled``: the dynamic energy of one draw
    of every row's queries as Poisson counts (``N_k ~ Poisson(q_k)``), against
    its expectation ``sum q_k e_k``; the tolerance is ``sigmas`` standard
    deviations of that sum, ``sqrt(sum q_k e_k^2)`` (a compound Poisson sum), so
    it shrinks as ``1/sqrt(N)`` with the number of queries.
    """

    recomputed: dict[str, tuple[float, float]]
    sampled_j: float
    expected_j: float
    tolerance_j: float
    agrees: bool
    problems: list[str] = field(default_factory=list)


def plan_consistency(plan: pd.DataFrame, options: pd.DataFrame, hourly_plan: pd.DataFrame,
                     totals: Mapping[str, float], *, seed: int = 0, sigmas: float = CONSISTENCY_SIGMAS,
                     exact_rtol: float = 1e-6) -> ConsistencyCheck:
    """Recompute a plan's energy from its rows (module doc of :class:`ConsistencyCheck`).

    ``plan``: plan.csv (``class_name, option_id, period, queries``); ``options``:
    options.csv with ``class_name, option_id, energy_j_per_query``; ``hourly_plan``:
    hourly_plan.csv (``period, pue`` and ``idle_energy_kwh`` where GPUs are modelled);
    ``totals``: the plan section of summary.json.
    """
    missing = [c for c in ("class_name", "option_id", "energy_j_per_query") if c not in options.columns]
    if missing:
        raise ConfigError(f"options.csv: missing column(s) {', '.join(missing)}")
    priced = options.drop_duplicates(["class_name", "option_id"]).set_index(["class_name", "option_id"])
    keys = pd.MultiIndex.from_frame(plan[["class_name", "option_id"]].astype(str))
    energy_j = priced["energy_j_per_query"].reindex(keys).to_numpy(np.float64)
    if np.isnan(energy_j).any():
        raise ConfigError("plan.csv: some (class_name, option_id) rows have no price in options.csv")
    hourly = hourly_plan.set_index("period")
    idle_kwh = hourly["idle_energy_kwh"] if "idle_energy_kwh" in hourly else pd.Series(0.0, index=hourly.index)
    if "idle_energy_kwh" in hourly and {"idle_power_w", "gpu_s_per_query"} <= set(priced.columns):
        # GPUs modelled: each powered GPU pays idle power all hour, a query only its energy above idle
        busy_idle_j = (priced["idle_power_w"] * priced["gpu_s_per_query"]).reindex(keys).to_numpy(np.float64)
        energy_j = np.maximum(energy_j - np.nan_to_num(busy_idle_j), 0.0)
    queries = plan["queries"].to_numpy(np.float64)
    dynamic_kwh = pd.Series(queries * energy_j / J_PER_KWH).groupby(plan["period"].to_numpy()).sum()
    it_kwh = dynamic_kwh.reindex(hourly.index, fill_value=0.0) + idle_kwh
    recomputed = {"queries": (float(totals["queries"]), float(queries.sum())),
                  "it_energy_kwh": (float(totals["it_energy_kwh"]), float(it_kwh.sum())),
                  "facility_energy_kwh": (float(totals["facility_energy_kwh"]), float((it_kwh * hourly["pue"]).sum()))}
    problems = [f"{name}: plan {plan_value:.9g}, recomputed {mine:.9g}"
                for name, (plan_value, mine) in recomputed.items()
                if abs(mine - plan_value) > exact_rtol * max(abs(plan_value), 1e-12)]
    counts = np.random.default_rng(seed).poisson(np.maximum(queries, 0.0))
    expected_j, sampled_j = float((queries * energy_j).sum()), float((counts * energy_j).sum())
    tolerance_j = sigmas * float(np.sqrt((queries * energy_j**2).sum()))
    if abs(sampled_j - expected_j) > tolerance_j:
        problems.append(f"sampled dynamic energy {sampled_j:.6g} J is {abs(sampled_j - expected_j):.3g} J from "
                        f"its expectation {expected_j:.6g} J, beyond {sigmas:g} sigma ({tolerance_j:.3g} J)")
    return ConsistencyCheck(recomputed, sampled_j, expected_j, tolerance_j, not problems, problems)


def consistency_from_run(run_dir: str | Path, seed: int = 0) -> ConsistencyCheck:
    """:func:`plan_consistency` of a run folder (plan.csv, options.csv, hourly_plan.csv, summary.json)."""
    folder = Path(run_dir)
    summary = json.loads((folder / "summary.json").read_text())
    return plan_consistency(pd.read_csv(folder / "plan.csv"), pd.read_csv(folder / "options.csv"),
                            pd.read_csv(folder / "hourly_plan.csv"), summary["plan"], seed=seed)
