"""Fixtures of the simulator tests: a small trace and carbon series shipped under data/."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tpf.cards import CurveFit, EnergyCard, ValidRange

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


def integer_card(model: str = "m", idle_power_w: float = 10.0, max_batch_size: int = 4, gpus_per_replica: int = 1) -> EnergyCard:
    """A batch-independent card whose energies are whole joules for whole token counts."""
    return EnergyCard(
        model=model, hardware="test",
        energy=CurveFit("bilinear", (1.0, 2.0, 0.0), "energy_j"),
        duration=CurveFit("bilinear", (0.001, 0.05, 0.0), "duration_s"),
        valid_range=ValidRange((0, 1e6), (0, 1e6), (1, 64)),
        idle_power_w=idle_power_w, max_batch_size=max_batch_size, gpus_per_replica=gpus_per_replica,
        source="estimate",
    )


def constant_window_card(model: str = "m", window_s: float = 5.0, max_batch_size: int = 1, per_member_s: float = 0.0) -> EnergyCard:
    """Every request's window is ``window_s + per_member_s * B`` s and costs 100 J."""
    return EnergyCard(
        model=model, hardware="test",
        energy=CurveFit("phase_quadratic", (100.0, 0.0, 0.0, 0.0, 0.0), "energy_j"),
        duration=CurveFit("phase_quadratic+batch", (window_s, 0, 0, 0, 0, per_member_s, 0, 0, 0, 0), "duration_s"),
        valid_range=ValidRange((0, 1e6), (0, 1e6), (1, 64)),
        idle_power_w=0.0, max_batch_size=max_batch_size, source="estimate",
    )


def one_class_allocation(shares: dict[str, float], category: str = "default") -> tuple[pd.DataFrame, pd.DataFrame]:
    """A one-period allocation of one class over models (zero-shot) and its class table."""
    allocation = pd.DataFrame({
        "class_name": "c", "period": 0, "option_id": list(shares), "model": list(shares),
        "strategy": "zero_shot", "budget_tokens": 0, "votes": 1, "share": list(shares.values()),
    })
    classes = pd.DataFrame({"class_name": ["c"], "category": [category], "n_in_tokens": [500.0]})
    return allocation, classes
