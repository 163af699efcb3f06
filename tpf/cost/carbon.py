"""The one carbon formula: facility energy (IT energy x PUE) times grid intensity.

``carbon_kg = it_energy_kwh * PUE * CI_g_per_kwh / 1000``. Works on scalars
and numpy arrays alike (element-wise).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

G_PER_KG = 1000.0

Number = TypeVar("Number", float, np.ndarray)


def carbon_factor_kg_per_kwh(pue: Number, carbon_g_per_kwh: Number) -> Number:
    """kgCO2 per kWh of IT energy: ``CI * PUE / 1000``."""
    return carbon_g_per_kwh * pue / G_PER_KG


def facility_kwh(it_energy_kwh: Number, pue: Number) -> Number:
    """Facility energy (kWh) of an IT energy at a PUE."""
    return it_energy_kwh * pue


def carbon_kg(it_energy_kwh: Number, pue: Number, carbon_g_per_kwh: Number) -> Number:
    """kgCO2 of an IT energy (kWh) at a PUE and a grid intensity (g/kWh)."""
    return it_energy_kwh * carbon_factor_kg_per_kwh(pue, carbon_g_per_kwh)


def facility_carbon_kg(facility_energy_kwh: Number, carbon_g_per_kwh: Number) -> Number:
    """kgCO2 of a facility energy (kWh, PUE already applied) at a grid intensity (g/kWh)."""
    return facility_energy_kwh * carbon_g_per_kwh / G_PER_KG
