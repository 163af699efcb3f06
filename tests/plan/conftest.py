"""Hand-made option tables for planner tests (no cards, no data files)."""

from __future__ import annotations

import pandas as pd
import pytest

from tpf.domain import Facility, Fleet, FleetEntry, Grid, QueryClass, Workload


def option_rows(spec: dict[str, list[tuple[str, str, float, float, float]]]) -> pd.DataFrame:
    """spec: class -> [(option_id, model, accuracy, energy_j, gpu_s)]."""
    rows = []
    for class_name, options in spec.items():
        for option_id, model, accuracy, energy_j, gpu_s in options:
            rows.append({"class_name": class_name, "category": class_name, "option_id": option_id,
                         "model": model, "hardware": "test-gpu", "strategy": "zero_shot",
                         "budget_tokens": 0, "votes": 1, "accuracy": accuracy, "energy_j": energy_j,
                         "gpu_s": gpu_s, "latency_s": gpu_s, "n_in_tokens": 100.0,
                         "n_out_tokens": 1.0})
    return pd.DataFrame(rows)


@pytest.fixture
def micro_options() -> pd.DataFrame:
    """Two classes, two options each (a cheap and a big model)."""
    return option_rows({
        "A": [("small", "small", 0.5, 100.0, 1.0), ("big", "big", 0.9, 300.0, 3.0)],
        "B": [("small", "small", 0.6, 100.0, 1.0), ("big", "big", 0.7, 300.0, 3.0)],
    })


@pytest.fixture
def micro_workload() -> Workload:
    """One hour, 3600 queries of each class."""
    return Workload((QueryClass("A", "A", 100.0, (1.0,)), QueryClass("B", "B", 100.0, (1.0,))),
                    n_periods=1, period_s=3600.0)


@pytest.fixture
def no_fleet() -> Fleet:
    return Fleet(())


@pytest.fixture
def grid_500() -> Grid:
    return Grid((500.0,))


@pytest.fixture
def facility_1() -> Facility:
    return Facility((1.0,))


def fleet_of(gpus: dict[str, int], utilization: float = 1.0) -> Fleet:
    return Fleet(tuple(FleetEntry(m, "test-gpu", n, utilization) for m, n in gpus.items()))
