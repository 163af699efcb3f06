"""Fit an energy card from an engine sweep table (:mod:`calibration.engine_sweep`).

Rows with energy (a GPU with NVML) are fitted by ``tpf.fit.energy.fit_energy``
as any measurement table. Time-only rows (a CPU, no meter) give the card its
duration curve, fitted by the same cell medians, families and cross-validation;
its energy curve is then a labelled proxy, ``assumed_power_w`` times the
window's duration shared by its requests (default 1 W: the energy in J equals
the CPU-seconds per request), and the card says ``source: estimate`` with the
``method`` and ``notes`` naming what was measured and what was not. Either way the card names the serving engine and its
version (``provenance.engine``, ``provenance.engine_version`` and ``method``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calibration.store import metadata_path, read_metadata
from tpf.cards import CurveFit, EnergyCard, sha256_file
from tpf.errors import CalibrationError
from tpf.fit.energy import (
    Cleaned,
    FitOptions,
    _fit_provenance,
    _valid_range,
    cell_medians,
    choose,
    fit_candidate,
    fit_energy,
)
from tpf.schema import PHASES

DURATION_FAMILIES = ("bilinear+batch", "phase_quadratic+batch")


def read_engine_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The ``ok`` rows of an engine sweep table, typed; a clear error where it holds none."""
    table = pd.read_csv(path)
    missing = {"model", "hardware", "engine", "engine_version", "duration_s", "status"} - set(table.columns)
    if missing:
        raise CalibrationError(f"{path}: not an engine sweep table (missing columns {sorted(missing)})")
    table = table[table["status"] == "ok"].copy()
    if table.empty:
        raise CalibrationError(f"{path}: no rows with status ok")
    table["strategy"] = "zero_shot"
    table["warmup"] = table["warmup"].astype(str).str.lower().isin(("true", "1"))
    return table


def _engine_provenance(table: pd.DataFrame, path: Path) -> dict[str, Any]:
    meta = read_metadata(metadata_path(path))
    return {
        "engine": str(table["engine"].iloc[0]), "engine_version": str(table["engine_version"].iloc[0]),
        "engine_info": meta.get("engine_info", {}), "energy": meta.get("energy", ""),
        "machine_load_1min": [float(np.nanmin(table["machine_load_1min"])), float(np.nanmax(table["machine_load_1min"]))]
        if "machine_load_1min" in table else None,
        "data_file": str(path),
    }


def _time_only_card(table: pd.DataFrame, options: FitOptions, provenance: dict[str, Any],
                    assumed_power_w: float) -> EnergyCard:
    rows = table[~table["warmup"] & (table["phase"] == "total")]
    cleaned = Cleaned(rows, {"warmup_rows": int(table["warmup"].sum()), "partial_phase_rows": 0})
    cells = cell_medians(rows, "duration_s", options.outlier_mad)
    candidates = [fit_candidate(name, cells, options) for name in options.families or DURATION_FAMILIES]
    chosen = choose(candidates)
    if chosen is None:
        raise CalibrationError(f"{provenance['data_file']}: no duration family could be fitted "
                               f"({len(cells.cells)} cells): measure more levels")
    # window energy = P x window duration, shared by its B requests: the "+batch" energy family with the
    # duration coefficients times P (static share base/B, dynamic share base)
    proxy = CurveFit(chosen.family, tuple(assumed_power_w * c for c in chosen.coefficients), "energy_j")
    engine = f"{provenance['engine']} {provenance['engine_version']}"
    first = rows.iloc[0]
    return EnergyCard(
        model=str(first["model"]), hardware=str(first["hardware"]), energy=proxy,
        duration=CurveFit(chosen.family, chosen.coefficients, "duration_s"),
        valid_range=_valid_range(cells.cells), idle_power_w=0.0, gpus_per_replica=int(first["gpu_count"]),
        max_batch_size=int(cells.cells["batch_size"].max()), source="estimate",
        method=f"engine sweep on {engine}: durations measured; energy a proxy of {assumed_power_w:g} W x duration "
               "(no energy meter)",
        fit_quality={f"duration_s/{c.family}": {**c.quality(), "selected": float(c is chosen)} for c in candidates},
        provenance={**provenance, **_fit_provenance(rows, cleaned, (cells, cells), candidates, options)},
        notes=(f"served by {engine}; duration_s: {chosen.family}, held-out MAPE {100 * chosen.heldout_mape:.1f} %; "
               f"energy NOT measured (no meter on this device): energy_j = {assumed_power_w:g} W x the window's "
               "duration / batch size, a CPU-time proxy"),
    )


def fit_engine_card(path: str | os.PathLike[str], options: FitOptions | None = None,
                    assumed_power_w: float = 1.0) -> EnergyCard:
    """The card of one engine sweep table (one model on one device)."""
    options = options or FitOptions()
    path = Path(path)
    table = read_engine_table(path)
    if "phase" not in table:
        table["phase"] = "total"
    table = table[table["phase"].isin(PHASES)]
    provenance = _engine_provenance(table, path)
    energy = pd.to_numeric(table["energy_j"], errors="coerce")
    if energy.notna().all() and (energy > 0).all():
        card = fit_energy(table, options=options, where=str(path),
                          provenance=provenance)
        card.method = f"engine sweep on {provenance['engine']} {provenance['engine_version']}, energy metered"
        card.notes = f"served by {provenance['engine']} {provenance['engine_version']}; " + card.notes
    else:
        if not (np.isfinite(assumed_power_w) and assumed_power_w > 0):
            raise CalibrationError(f"assumed_power_w: must be a finite number > 0, got {assumed_power_w}")
        card = _time_only_card(table, options, provenance, assumed_power_w)
    card.data_sha256 = sha256_file(path)
    return card


LEVEL_COLUMNS = ("duration_s", "step_s", "ttft_mean_s", "ttft_max_s", "tpot_mean_s", "output_tokens_per_s",
                 "running_batch_mean", "machine_load_1min")


def level_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per level (n_in, n_out, batch): medians over the repetitions (warm-up rows dropped) and their count."""
    rows = table[~table["warmup"]]
    keys = ["n_in_tokens", "n_out_tokens", "batch_size"]
    medians = rows.groupby(keys)[list(LEVEL_COLUMNS)].median()
    medians["repetitions"] = rows.groupby(keys).size()
    return medians.reset_index()
