"""One cost model: what a query costs (energy, GPU time, tokens) and what energy emits.

Used by the planner's option table, the simulator's accounting and the
router policy's expectations alike.
"""

from tpf.cost.carbon import carbon_factor_kg_per_kwh, carbon_kg, facility_carbon_kg, facility_kwh

__all__ = ["carbon_factor_kg_per_kwh", "carbon_kg", "facility_carbon_kg", "facility_kwh"]
