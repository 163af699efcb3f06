"""The plan's shadow prices in per-query units, for routing by text.

A max-accuracy plan maximizes ``100 * mean accuracy`` (accuracy points); the
dual ``lambda`` of an energy row is in points per unit of the row (kWh, kW,
kgCO2). One query of a plan serving ``D`` queries moves the objective by
``100 / D`` times its accuracy, so in per-query units (accuracy 0-1 per J of IT
energy) a row's price is ``lambda * weight_t * D / 100 / 3.6e6``, where
``weight_t`` turns one kWh of IT energy in period ``t`` into the row's unit
(1 for energy rows, ``PUE_t / period_h`` for facility power, ``CI_t * PUE_t /
1000`` for the carbon budget). The carbon budget's dual is kept apart
(``accuracy_per_g_co2 = lambda * D / 100 / 1000``) so that a request's own grid
intensity can be priced. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tpf.domain import J_PER_KWH
from tpf.errors import PolicyError
from tpf.policy.format import HOURS_PER_DAY, Prices

_ROW = re.compile(r"^(?P<block>[a-z_]+)(\[(?P<period>\d+)\])?$")
POINTS = 100.0  # the max-accuracy objective is in accuracy points


def _energy_weight(block: str, pue: float, period_h: float) -> float | None:
    """kWh of IT energy in one period -> the row's unit, for the rows that price energy."""
    return {"it_energy_period": 1.0, "it_energy_horizon": 1.0, "it_power": 1.0 / period_h,
            "facility_power_cap": pue / period_h}.get(block)


@dataclass(frozen=True)
class PlanPeriods:
    """What the prices need of a plan: its queries and, per period ``t``, hour of day, PUE, intensity."""

    total_queries: float
    period_hours: Sequence[int]
    pue: Sequence[float]
    carbon_g_per_kwh: Sequence[float]
    period_h: float = 1.0
    budget_it_j_per_query: float | None = None

    def prices(self, per_period_j: list[float], per_g: float, source: str) -> Prices:
        mean_pue = sum(self.pue) / len(self.pue) if self.pue else 1.0
        return Prices(tuple(_by_hour(per_period_j, self.period_hours)), per_g, max(mean_pue, 1.0),
                      tuple(_by_hour(list(self.carbon_g_per_kwh), self.period_hours)),
                      self.budget_it_j_per_query, source=source)


def prices_from_shadow_prices(shadow_prices: Mapping[str, float], plan: PlanPeriods) -> Prices:
    """Per-query :class:`Prices` from a max-accuracy plan's shadow prices.

    Hours of the day no period covers get the mean price of the periods that do.
    """
    total_queries, pue, period_h = plan.total_queries, plan.pue, plan.period_h
    if not total_queries > 0:
        raise PolicyError(f"total_queries must be > 0, got {total_queries}")
    n_periods = len(plan.period_hours)
    per_period = [0.0] * n_periods
    per_g = 0.0
    scale = total_queries / POINTS
    for name, value in shadow_prices.items():
        match = _ROW.match(name)
        if match is None or not value:
            continue
        block, period = match["block"], match["period"]
        if block == "carbon_budget":
            per_g += value * scale / 1000.0
            continue
        periods = range(n_periods) if period is None else [int(period)]
        for t in periods:
            weight = _energy_weight(block, pue[t], period_h) if t < n_periods else None
            if weight is not None:
                per_period[t] += value * weight * scale / J_PER_KWH
    return plan.prices(per_period, per_g, "max-accuracy plan duals (accuracy points) scaled to one query")


def prices_from_plan(objective_name: str, shadow_prices: Mapping[str, float], plan: PlanPeriods) -> Prices | None:
    """Per-query prices of any plan objective, or None where the plan prices nothing.

    A max-accuracy plan: :func:`prices_from_shadow_prices`. A plan minimizing
    energy or carbon under an accuracy target with dual ``mu`` (objective units
    per accuracy point) trades ``1 / mu`` points per objective unit: per J of IT
    energy (times ``PUE_t`` for facility energy) or per g of CO2.
    """
    if objective_name == "max_accuracy":
        return prices_from_shadow_prices(shadow_prices, plan)
    mu = float(shadow_prices.get("accuracy_target", 0.0))
    if not mu > 0 or not plan.total_queries > 0:
        return None
    per_unit = plan.total_queries / POINTS / mu
    n_periods = len(plan.period_hours)
    if objective_name == "min_carbon":
        per_period, per_g = [0.0] * n_periods, per_unit / 1000.0
    elif objective_name in ("min_it_energy", "min_facility_energy"):
        factors = plan.pue if objective_name == "min_facility_energy" else [1.0] * n_periods
        per_period, per_g = [per_unit * f / J_PER_KWH for f in factors], 0.0
    else:
        return None
    return plan.prices(per_period, per_g,
                       f"{objective_name} plan: inverse of the accuracy target's dual, scaled to one query")


def _by_hour(values: list[float], period_hours: Sequence[int]) -> list[float]:
    if not values:
        return [0.0]
    sums, counts = [0.0] * HOURS_PER_DAY, [0] * HOURS_PER_DAY
    for value, hour in zip(values, period_hours, strict=True):
        sums[hour % HOURS_PER_DAY] += value
        counts[hour % HOURS_PER_DAY] += 1
    mean = sum(values) / len(values)
    return [s / c if c else mean for s, c in zip(sums, counts, strict=True)]
