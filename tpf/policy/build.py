"""Build a routing policy from a plan, and turn a policy back into a table of shares.

:func:`policy_from_plan` reads the planner's allocation (one row per class,
period and option: ``class_name, period, option_id, model, hardware, strategy,
budget_tokens, votes, share, queries``) and writes, per class, the all-day
split (query-weighted over periods), the hourly schedule where the plan varies
by hour, and carbon-intensity bands where a per-period intensity is given.
:func:`policy_to_allocation` goes the other way for tools that want a table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from tpf.cost.carbon import G_PER_KG, carbon_kg
from tpf.domain import J_PER_KWH
from tpf.errors import PolicyError
from tpf.policy import format as fmt
from tpf.policy.router import Router
from tpf.policy.validate import load_policy

ALLOCATION_COLUMNS = ("class_name", "period", "model", "strategy", "budget_tokens", "votes", "share", "queries")
# the planner's allocation layout, as policy_to_allocation writes it
ALLOCATION_LAYOUT = ("class_name", "period", "option_id", "model", "hardware", "strategy",
                     "budget_tokens", "votes", "share", "queries")
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0

DecisionKey = tuple[str, str | None, str, int, int, str | None]
Mix = dict[DecisionKey, float]


@dataclass(frozen=True)
class ClassSpec:
    """A plan class as the router sees it: category and input-length bucket [min, max) tokens."""

    name: str
    category: str
    n_in_min_tokens: int = 0
    n_in_max_tokens: int | None = None


def class_specs_from_workload(classes: Iterable[Any]) -> list[ClassSpec]:
    """Length buckets for workload classes (``name, category, n_in_tokens``).

    Within a category, classes are sorted by their representative input length
    and the bucket edges are the midpoints between neighbours; the first bucket
    starts at 0 and the last is open-ended.
    """
    by_category: dict[str, list[Any]] = {}
    for cls in classes:
        by_category.setdefault(cls.category, []).append(cls)
    specs = []
    for category, members in by_category.items():
        members.sort(key=lambda c: float(c.n_in_tokens))
        edges = [math.ceil((float(a.n_in_tokens) + float(b.n_in_tokens)) / 2)
                 for a, b in zip(members, members[1:], strict=False)]
        lows = [0, *edges]
        highs: list[int | None] = [*edges, None]
        specs += [ClassSpec(c.name, category, low, high) for c, low, high in zip(members, lows, highs, strict=True)]
    return specs


def hours_of_period(period: int, period_s: float = SECONDS_PER_HOUR) -> list[int]:
    """Hours of the day (0-23) a period covers, periods starting at midnight of day 0."""
    start_s = (period * period_s) % SECONDS_PER_DAY
    hours = {int(start_s // SECONDS_PER_HOUR)}
    hours.update(h for h in range(fmt.HOURS_PER_DAY)
                 if start_s <= h * SECONDS_PER_HOUR < start_s + period_s)
    return sorted(hours)


# --- reading the allocation -----------------------------------------------------------------


def _check_allocation(allocation: pd.DataFrame, specs: Mapping[str, ClassSpec]) -> None:
    problems = [f"allocation: missing column {c!r}" for c in ALLOCATION_COLUMNS if c not in allocation.columns]
    if problems:
        raise PolicyError("; ".join(problems) + f" (has {list(allocation.columns)})")
    planned = set(allocation["class_name"])
    problems += [f"allocation: class {n!r} has no class metadata (category, length bucket)"
                 for n in sorted(planned - set(specs))]
    problems += [f"allocation: class {n!r} has no allocation rows" for n in sorted(set(specs) - planned)]
    for column in ("share", "queries"):
        bad = allocation.index[~(pd.to_numeric(allocation[column], errors="coerce") >= 0)]
        problems += [f"allocation row {i}, column {column}: must be a number >= 0, got "
                     f"{allocation.at[i, column]!r}" for i in bad[:10]]
    if problems:
        raise PolicyError("cannot build a policy:\n" + "\n".join(f"  - {p}" for p in problems))


def _decision_key(row: Any, zero_shot_max_new_tokens: int) -> DecisionKey:
    """(model, hardware, strategy, max_new_tokens, votes, option_id) of an allocation row."""
    budget = row.budget_tokens
    budget = 0.0 if budget is None or pd.isna(budget) else float(budget)
    if budget <= 0:  # a short answer: zero-shot, or votes over zero-shot answers
        if row.strategy == "cot":
            raise PolicyError(f"allocation class {row.class_name!r} option {row.option_id!r}: "
                              f"strategy cot needs budget_tokens > 0, got {row.budget_tokens!r}")
        budget = zero_shot_max_new_tokens
    votes = 1 if pd.isna(row.votes) else int(row.votes)
    hardware = None if pd.isna(row.hardware) else str(row.hardware)
    option = None if pd.isna(row.option_id) else str(row.option_id)
    return (str(row.model), hardware, str(row.strategy), int(round(budget)), votes, option)


def _mix(rows: pd.DataFrame, keys: pd.Series) -> Mix:
    """Weights of each decision: by queries where the rows carry any, else by share."""
    queries = rows["queries"].astype(float)
    weights = queries if queries.sum() > 0 else rows["share"].astype(float)
    mix: Mix = {}
    for key, weight in zip(keys.loc[rows.index], weights, strict=True):
        mix[key] = mix.get(key, 0.0) + float(weight)
    return mix


def _choices(mix: Mix, min_weight: float, where: str) -> tuple[fmt.Choice, ...]:
    total = math.fsum(mix.values())
    if not total > 0:
        raise PolicyError(f"{where}: every share is zero; no decision to route to")
    kept = {k: w / total for k, w in mix.items() if w / total >= min_weight}
    kept_total = math.fsum(kept.values())
    ordered = sorted(kept.items(), key=lambda item: (-item[1], item[0][0], item[0][2], item[0][3]))
    return tuple(
        fmt.Choice(weight / kept_total, fmt.Decision(model, strategy, budget, votes, hardware, option))
        for (model, hardware, strategy, budget, votes, option), weight in ordered
    )


#: Two hours' splits are one when they name the same decisions in the same order and each weight
#: differs by at most this (the solver's tolerance, far below any router's precision).
SAME_SPLIT_TOLERANCE = 1e-6


def same_split(a: tuple[fmt.Choice, ...], b: tuple[fmt.Choice, ...], tol: float = SAME_SPLIT_TOLERANCE) -> bool:
    return len(a) == len(b) and all(x.decision == y.decision and abs(x.weight - y.weight) <= tol
                                    for x, y in zip(a, b, strict=True))


def _hour_entries(per_hour: dict[int, tuple[fmt.Choice, ...]]) -> tuple[fmt.HourEntry, ...]:
    """Hours grouped by split (:func:`same_split`); a group keeps its first hour's split."""
    groups: dict[tuple[fmt.Choice, ...], list[int]] = {}
    for hour in range(fmt.HOURS_PER_DAY):
        match = next((key for key in groups if same_split(key, per_hour[hour])), per_hour[hour])
        groups.setdefault(match, []).append(hour)
    if len(groups) == 1:
        return ()
    return tuple(fmt.HourEntry(tuple(hours), choices) for choices, hours in groups.items())


def _carbon_bands(per_intensity: dict[float, tuple[fmt.Choice, ...]]) -> tuple[fmt.CarbonBand, ...]:
    """Bands around each planned intensity; edges at midpoints between neighbours."""
    if len(set(per_intensity.values())) <= 1:
        return ()
    levels = sorted(per_intensity)
    edges = [(a + b) / 2 for a, b in zip(levels, levels[1:], strict=False)]
    lows, highs = [0.0, *edges], [*edges, None]
    bands: list[fmt.CarbonBand] = []
    for level, low, high in zip(levels, lows, highs, strict=True):
        if bands and bands[-1].choices == per_intensity[level]:  # merge equal neighbours
            bands[-1] = fmt.CarbonBand(bands[-1].min_g_per_kwh, high, bands[-1].choices)
        else:
            bands.append(fmt.CarbonBand(low, high, per_intensity[level]))
    return tuple(bands)


Schedule = tuple[tuple[fmt.Choice, ...], tuple[fmt.HourEntry, ...], tuple[fmt.CarbonBand, ...]]


def _class_schedule(rows: pd.DataFrame, keys: pd.Series, where: str, period_s: float,
                    carbon: Sequence[float] | None, min_weight: float) -> Schedule:
    """All-day split, hourly entries (where the plan varies by hour) and carbon bands of one class."""
    all_day = _choices(_mix(rows, keys), min_weight, f"{where} (all day)")
    hour_rows: dict[int, list[Any]] = {}
    intensity_rows: dict[float, list[Any]] = {}
    for period_value, group in rows.groupby("period", sort=True):
        period = int(period_value)  # type: ignore[arg-type]
        for hour in hours_of_period(period, period_s):
            hour_rows.setdefault(hour, []).append(group.index)
        level = _per_period(carbon, period)
        if level is not None:
            intensity_rows.setdefault(level, []).append(group.index)
    by_hour: tuple[fmt.HourEntry, ...] = ()
    if rows["period"].nunique() > 1:  # hours the plan does not cover use the all-day split
        per_hour = {h: _choices(_mix(rows.loc[_union(hour_rows[h])], keys), min_weight, f"{where} hour {h}")
                    if h in hour_rows else all_day for h in range(fmt.HOURS_PER_DAY)}
        by_hour = _hour_entries(per_hour)
    by_carbon = _carbon_bands({
        level: _choices(_mix(rows.loc[_union(ix)], keys), min_weight, f"{where} at {level} g/kWh")
        for level, ix in intensity_rows.items()
    })
    return all_day, by_hour, by_carbon


def _union(indexes: list[Any]) -> list[Any]:
    return [i for index in indexes for i in index]


# --- expectations ---------------------------------------------------------------------------


def _per_period(value: float | Sequence[float] | None, period: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return float(value[0] if len(value) == 1 else value[period])


def expectations_from_plan(
    allocation: pd.DataFrame,
    options: pd.DataFrame | None = None,
    pue: float | Sequence[float] = 1.0,
    carbon_g_per_kwh: float | Sequence[float] | None = None,
) -> dict[str, fmt.Expected]:
    """Per class: query-weighted accuracy, IT J per query and gCO2 per query (facility energy x CI).

    ``accuracy`` and ``energy_j`` come from the allocation if it has them, else
    from ``options`` joined on ``class_name, option_id``.
    """
    table = allocation
    if not {"accuracy", "energy_j"} <= set(table.columns):
        if options is None:
            return {}
        table = table.merge(options[["class_name", "option_id", "accuracy", "energy_j"]],
                            on=["class_name", "option_id"], how="left")
    out = {}
    for name, rows in table.groupby("class_name", sort=False):
        queries = rows["queries"].astype(float)
        total = float(queries.sum())
        if not total > 0:
            out[str(name)] = fmt.Expected(queries=0.0)
            continue
        carbon = [_per_period(carbon_g_per_kwh, int(p)) for p in rows["period"]]
        pue_t = [_per_period(pue, int(p)) or 1.0 for p in rows["period"]]
        energy = rows["energy_j"].astype(float)
        grams = None if carbon_g_per_kwh is None else float(sum(
            carbon_kg(q * e / J_PER_KWH, f, c or 0.0) * G_PER_KG
            for q, e, f, c in zip(queries, energy, pue_t, carbon, strict=True)
        )) / total
        out[str(name)] = fmt.Expected(
            accuracy=float((queries * rows["accuracy"].astype(float)).sum()) / total,
            energy_j_per_query=float((queries * energy).sum()) / total,
            carbon_g_per_query=grams,
            queries=total,
        )
    return out


# --- plan -> policy -------------------------------------------------------------------------


def default_provenance(
    scenario: str | None = None,
    cards: Iterable[fmt.CardRef] = (),
    plan_status: str | None = None,
    plan_objective: float | None = None,
    plan_objective_unit: str | None = None,
) -> fmt.Provenance:
    from tpf import __version__

    return fmt.Provenance(
        tpf_version=__version__,
        created_utc=datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        scenario=scenario,
        cards=tuple(cards),
        plan_status=plan_status,
        plan_objective=plan_objective,
        plan_objective_unit=plan_objective_unit,
    )


def policy_from_plan(
    allocation: pd.DataFrame,
    classes: Iterable[ClassSpec],
    *,
    provenance: fmt.Provenance | None = None,
    expected: Mapping[str, fmt.Expected] | None = None,
    carbon_g_per_kwh: Sequence[float] | None = None,
    period_s: float = SECONDS_PER_HOUR,
    default_category: str | None = None,
    models: Iterable[str] | None = None,
    name: str = "",
    salt: str = "",
    zero_shot_max_new_tokens: int = 1,
    min_weight: float = 1e-9,
) -> fmt.Policy:
    """A checked policy reproducing the plan's per-class, per-hour shares.

    ``carbon_g_per_kwh`` (one value per period) adds carbon bands; ``expected``
    (e.g. from :func:`expectations_from_plan`) fills each class's expectations;
    ``default_category`` defaults to the category with the most planned queries.
    """
    specs = {spec.name: spec for spec in classes}
    _check_allocation(allocation, specs)
    table = allocation.reset_index(drop=True)
    for column in ("hardware", "option_id"):
        if column not in table.columns:
            table[column] = None
    keys = pd.Series([_decision_key(row, zero_shot_max_new_tokens) for row in table.itertuples()],
                     index=table.index)
    built = []
    for spec in specs.values():
        rows = table[table["class_name"] == spec.name]
        all_day, by_hour, by_carbon = _class_schedule(
            rows, keys, f"class {spec.name!r}", period_s, carbon_g_per_kwh, min_weight)
        built.append(fmt.PolicyClass(
            name=spec.name, category=spec.category, choices=all_day,
            n_in_min_tokens=spec.n_in_min_tokens, n_in_max_tokens=spec.n_in_max_tokens,
            by_hour=by_hour, by_carbon=by_carbon,
            expected=(expected or {}).get(spec.name),
        ))
    used = sorted({c.decision.model for cls in built for c in _all_choices(cls)})
    policy = fmt.Policy(
        models=tuple(dict.fromkeys(models)) if models is not None else tuple(used),
        default_category=default_category or _busiest_category(table, specs),
        classes=tuple(built),
        provenance=provenance or default_provenance(),
        name=name,
        salt=salt,
    )
    return load_policy(policy)


def policy_from_plan_result(result: Any, classes: Iterable[ClassSpec], **kwargs: Any) -> fmt.Policy:
    """:func:`policy_from_plan` for a planner result (``allocation``, ``status``, ``objective``)."""
    if kwargs.get("provenance") is None:
        kwargs["provenance"] = default_provenance(
            scenario=kwargs.pop("scenario", None), cards=kwargs.pop("cards", ()),
            plan_status=str(getattr(result, "status", None)),
            plan_objective=getattr(result, "objective", None),
            plan_objective_unit=getattr(result, "objective_unit", None),
        )
    return policy_from_plan(result.allocation, classes, **kwargs)


def _all_choices(cls: fmt.PolicyClass) -> list[fmt.Choice]:
    return [*cls.choices, *(c for e in cls.by_hour for c in e.choices),
            *(c for b in cls.by_carbon for c in b.choices)]


def _busiest_category(table: pd.DataFrame, specs: Mapping[str, ClassSpec]) -> str:
    per_category: dict[str, float] = {}
    for name, queries in table.groupby("class_name")["queries"].sum().items():
        category = specs[str(name)].category
        per_category[category] = per_category.get(category, 0.0) + float(queries)
    return max(sorted(per_category), key=lambda c: per_category[c])


# --- policy -> allocation -------------------------------------------------------------------


def policy_to_allocation(
    policy: fmt.Policy | Router,
    classes: Iterable[Any],
    n_periods: int = fmt.HOURS_PER_DAY,
    period_s: float = SECONDS_PER_HOUR,
    carbon_g_per_kwh: Sequence[float] | None = None,
) -> pd.DataFrame:
    """The policy's shares for workload classes, in the planner's allocation layout.

    ``classes`` are objects with ``name, category, n_in_tokens`` and optionally
    ``rate_at(period)`` (queries/s) to fill ``queries``; period ``t`` uses the
    hour its start falls in, or the carbon band of ``carbon_g_per_kwh[t]``.
    """
    router = policy if isinstance(policy, Router) else Router(policy)
    rows = []
    for cls in classes:
        for period in range(n_periods):
            hour = hours_of_period(period, period_s)[0]
            carbon = None if carbon_g_per_kwh is None else _per_period(carbon_g_per_kwh, period)
            demand = cls.rate_at(period) * period_s if hasattr(cls, "rate_at") else math.nan
            for choice in router.split(cls.category, cls.n_in_tokens, hour, carbon):
                d = choice.decision
                rows.append((cls.name, period, d.option_id, d.model, d.hardware, d.strategy,
                             d.max_new_tokens, d.votes, choice.weight, choice.weight * demand))
    return pd.DataFrame(rows, columns=list(ALLOCATION_LAYOUT))
