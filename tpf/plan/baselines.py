"""Baselines beside every plan, and the plan's savings against them.

* ``all <model> zero-shot`` (and ``cot@b``, ``mv<k>``): every query on one
  model with one strategy, for each variant that covers every class.
* ``best single model at equal accuracy``: for each model, the least IT
  energy any mix of that model's options needs to reach the plan's accuracy
  (a small LP without caps); the best such model.
* ``per-class greedy (accuracy per joule)``: each class on its option with the
  highest accuracy per joule.

* ``cheapest single configuration meeting the plan's accuracy``: of the
  ``all <model> <variant>`` baselines within the fleet's limits and at least
  as accurate as the plan, the one with the least IT energy.

Baselines are evaluated on the same accounting as the plan (idle power of the
GPUs a baseline needs included when GPUs are modelled) and checked against the
plan's constraints (``meets_constraints``). Savings count only where the plan
is at least as accurate (``plan_at_least_as_accurate``) and the baseline meets
the constraints: no saving is claimed against a baseline the fleet cannot run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tpf.plan import evaluate
from tpf.plan.data import PlanData, with_options
from tpf.plan.highs_direct import solve_lp
from tpf.plan.lp import build_lp, violations
from tpf.plan.options import variant_name

if TYPE_CHECKING:
    from tpf.plan.model import PlanModel
    from tpf.plan.result import PlanResult

ACCURACY_TOL = 1e-9


def _full_table(data: PlanData) -> pd.DataFrame:
    return pd.concat([data.options, data.pruned], ignore_index=True)


def _evaluate(name: str, data: PlanData, shares: np.ndarray) -> dict:
    gpus = evaluate.required_gpus(data, shares) if data.gpu_vars else None
    totals = evaluate.totals(data, shares, gpus)
    lp = build_lp(data)
    broken = violations(lp, evaluate.variable_values(data, shares, gpus))
    return {"baseline": name, **{k: totals[k] for k in (
        "accuracy", "it_energy_kwh", "facility_energy_kwh", "carbon_kg", "peak_facility_kw")},
        "meets_constraints": not broken, "violations": "; ".join(sorted(broken)[:5])}


MAX_VARIANT_BASELINES = 24


def _variant_label(model: str, strategy: str, budget: int, votes: int) -> str:
    name = variant_name(strategy, budget, votes)
    return f"all {model} {'zero-shot' if name == 'zero_shot' else name}"


def _single_model_rows(data: PlanData, table: pd.DataFrame) -> list[dict]:
    """Every query on one (model, strategy, budget, votes) that covers every class."""
    rows = []
    several_batches = "batch_size" in table and table["batch_size"].nunique() > 1
    keys = ["model", "strategy", "budget_tokens", "votes"] + (["batch_size"] if several_batches else [])
    groups = sorted(table.groupby(keys, sort=True).groups.items(),
                    key=lambda item: (item[0][1] != "zero_shot", item[0]))  # type: ignore[index]
    for key, index in groups[:MAX_VARIANT_BASELINES]:
        model, strategy, budget, votes = (str(key[0]), str(key[1]), int(key[2]), int(key[3]))  # type: ignore[index]
        variant = table.loc[index].drop_duplicates("class_name")
        if variant["class_name"].nunique() < len(data.class_names):
            continue
        sub = with_options(data, variant)
        label = _variant_label(model, strategy, budget, votes)
        if len(key) > 4:  # type: ignore[arg-type]
            label += f" at batch {float(key[4]):g}"  # type: ignore[index]
        rows.append(_evaluate(label, sub, np.ones(sub.n_columns)))
    return rows


def _greedy_row(data: PlanData, table: pd.DataFrame) -> dict:
    ratio = table["accuracy"] / table["energy_j"].where(table["energy_j"] > 0, np.nan)
    best = table.loc[ratio.fillna(np.inf).groupby(table["class_name"]).idxmax()]
    sub = with_options(data, best)
    return _evaluate("per-class greedy (accuracy per joule)", sub, np.ones(sub.n_columns))


def _equal_accuracy_rows(data: PlanData, table: pd.DataFrame, accuracy: float) -> list[dict]:
    rows = []
    settings = data.settings.without_caps().with_changes(
        objective="min_it_energy", accuracy_target=min(accuracy, 1.0), gpu_cost=0.0)
    for model in data.model_names:
        options = table[table["model"] == model]
        if options["class_name"].nunique() < len(data.class_names):
            continue
        sub = with_options(data, options, settings)
        sub.accuracy_floors = np.full(len(data.class_names), np.nan)
        sub.cap_facility_power_kw = None
        solution = solve_lp(build_lp(sub))
        if solution.status != "Optimal":
            continue
        shares = solution.values[: sub.n_columns]
        full = with_options(data, options)
        rows.append(_evaluate(f"{model} at equal accuracy", full, shares))
    if rows:
        best = min(rows, key=lambda r: r["it_energy_kwh"])
        rows.append({**best, "baseline": "best single model at equal accuracy "
                     f"({best['baseline'].removesuffix(' at equal accuracy')})"})
    return rows


CHEAPEST_SINGLE = "cheapest single configuration meeting the plan's accuracy"


def _cheapest_single(frame: pd.DataFrame, accuracy: float) -> pd.DataFrame:
    """The least-energy ``all <model> <variant>`` baseline as accurate as the plan within the
    fleet's limits (none when no single configuration is)."""
    single = frame[frame["baseline"].str.startswith("all ") & frame["meets_constraints"].astype(bool)
                   & (frame["accuracy"] >= accuracy - 1e-7)]
    if single.empty:
        return frame.iloc[:0]
    best = single.loc[[single["it_energy_kwh"].idxmin()]].copy()
    best["baseline"] = f"{CHEAPEST_SINGLE} ({best['baseline'].iloc[0].removeprefix('all ')})"
    return best


def compute_baselines(data: PlanData, plan_totals: dict[str, float]) -> pd.DataFrame:
    table = _full_table(data)
    rows = _single_model_rows(data, table) + [_greedy_row(data, table)]
    rows += _equal_accuracy_rows(data, table, plan_totals["accuracy"] - ACCURACY_TOL)
    frame = pd.DataFrame(rows)
    frame = pd.concat([frame, _cheapest_single(frame, plan_totals["accuracy"])], ignore_index=True)
    frame["plan_at_least_as_accurate"] = plan_totals["accuracy"] >= frame["accuracy"] - 1e-7
    frame["it_energy_saving_kwh"] = frame["it_energy_kwh"] - plan_totals["it_energy_kwh"]
    frame["it_energy_saving_pct"] = 100.0 * frame["it_energy_saving_kwh"] / frame["it_energy_kwh"]
    frame["carbon_saving_kg"] = frame["carbon_kg"] - plan_totals["carbon_kg"]
    return frame


def attach_baselines(result: PlanResult, plan_model: PlanModel) -> None:
    result.baselines = compute_baselines(plan_model.data, result.totals)
