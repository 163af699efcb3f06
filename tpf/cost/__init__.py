"""One cost model: what a query costs (energy, GPU time, tokens) and what energy emits.

* :mod:`tpf.cost.pricing`: the shared-prefill formula (``voted``), tokens per
  vote, per-query curves affine in the batch size (the simulator's pools);
* :mod:`tpf.cost.query`: one query of one option priced over the card's
  length distribution, published anchors and operating curves (the option table);
* :mod:`tpf.cost.carbon`: ``carbon_kg = kWh x PUE x CI / 1000`` (planner,
  simulator, policy expectations, run reports).
"""

from tpf.cost.carbon import carbon_factor_kg_per_kwh, carbon_kg, facility_carbon_kg, facility_kwh

__all__ = ["carbon_factor_kg_per_kwh", "carbon_kg", "facility_carbon_kg", "facility_kwh"]
