"""``SimResult``: what a simulation returns (hourly table, totals, optional per-query records)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tpf.atomic import write_text_atomic

HOURLY_COLUMNS = (
    "hour", "served_queries", "output_tokens", "output_tokens_per_s",
    "latency_p50_s", "latency_p95_s", "latency_p99_s",
    "query_energy_j", "idle_energy_j", "it_energy_j", "it_energy_kwh", "pue",
    "facility_energy_kwh", "carbon_g_per_kwh", "carbon_kg",
    "avg_facility_kw", "peak_facility_kw", "busy_gpu_s", "powered_gpus", "expected_accuracy",
)
RECORD_COLUMNS = (
    "request_id", "arrival_s", "hour", "category", "model", "strategy", "budget_tokens", "votes",
    "n_in_tokens", "n_out_tokens", "batch_size", "wait_s", "latency_s", "ttft_s", "energy_j", "accuracy",
)


@dataclass
class SimResult:
    """A simulation's outcome.

    ``hourly``: one row per simulated hour (columns :data:`HOURLY_COLUMNS`).
    Accounting identities, exact up to float rounding:
    ``it_energy_j = query_energy_j + idle_energy_j``,
    ``facility_energy_kwh = it_energy_j / 3.6e6 * pue``,
    ``carbon_kg = facility_energy_kwh * carbon_g_per_kwh / 1000``.
    ``totals``: sums over hours (energy, carbon, queries, tokens), the overall
    latency percentiles, average and peak facility kW, expected accuracy.
    ``records``: one row per query (columns :data:`RECORD_COLUMNS`) when asked for.
    ``engine`` names the engine; ``notes`` carries its assumptions.
    ``model_hourly`` (:func:`tpf.simulate.runner.model_hourly`): per model and
    hour the queries served, their energy, the batch they formed, p99 latency
    and time to first token, and the whole GPUs powered.
    """

    hourly: pd.DataFrame
    totals: dict[str, float]
    records: pd.DataFrame | None = None
    engine: str = ""
    notes: dict[str, Any] = field(default_factory=dict)
    model_hourly: pd.DataFrame | None = None  # per model and hour: served, energy, formed batch, p99s, GPUs

    def write(self, directory: str | Path) -> Path:
        """Write ``hourly.csv``, ``totals.csv`` and, if kept, ``records.csv`` to ``directory``.

        Each file is replaced only once its new content is complete (:mod:`tpf.atomic`).
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "hourly.csv", self.hourly.to_csv(index=False))
        write_text_atomic(out / "totals.csv", pd.Series(self.totals, name="value").rename_axis("quantity").to_csv())
        if self.records is not None:
            write_text_atomic(out / "records.csv", self.records.to_csv(index=False))
        return out
