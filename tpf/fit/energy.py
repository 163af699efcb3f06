"""Fit energy and duration curves of one (model, hardware) into an :class:`EnergyCard`.

The procedure, for each target (``energy_j`` per request = window energy /
batch size; ``duration_s`` per window):

1. clean: drop warm-up rows (``warmup`` true, or optionally the first
   repetition of each cell) and rows of a phase other than ``total``;
2. per cell, a distinct ``(n_in_tokens, n_out_tokens, batch_size)`` point,
   drop outliers farther than ``outlier_mad`` scaled MADs from the cell median
   and keep the median of the rest with its count;
3. for each candidate family (:mod:`tpf.families`; batch families only when
   the batch size varies; a family needs one more cell than it has
   coefficients) fit non-negative least squares to the cell medians, every row
   divided by its target so that the fit minimises relative error, weighted
   by the cell's count;
4. cross-validate every candidate (leave-one-cell-out on small grids, k-fold
   otherwise) and keep the one with the lowest held-out MAPE.

``fit_quality`` on the card holds, for every candidate, the held-out MAPE
(a fraction: 0.05 is 5 %) and R^2 as well as the in-sample ones.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from tpf import __version__
from tpf.cards import CurveFit, EnergyCard, ValidRange, sha256_file
from tpf.errors import ConfigError, DataError, FitError
from tpf.families import FAMILIES, FloatArray, get_family
from tpf.schema import read_measurements, validate_measurements

TARGETS = ("energy_j", "duration_s")
CELL_KEYS = ["n_in_tokens", "n_out_tokens", "batch_size"]
CELL_WEIGHTS = ("count", "equal")
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class FitOptions:
    """How to fit. ``folds=None`` picks leave-one-cell-out up to ``loco_max_cells``
    cells and 10-fold above; an integer K >= 2 asks for K folds (K >= cells is
    leave-one-cell-out). ``outlier_mad=0`` keeps every point."""

    families: tuple[str, ...] | None = None
    folds: int | None = None
    loco_max_cells: int = 40
    outlier_mad: float = 5.0
    first_repetition_warmup: bool = False
    cell_weight: str = "count"
    nonnegative: bool = True
    seed: int = 0

    def validate(self) -> None:
        problems = []
        unknown = [name for name in self.families or () if name not in FAMILIES]
        if unknown:
            problems.append(f"families: unknown {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
        if self.families is not None and not self.families:
            problems.append("families: give at least one family")
        if self.folds is not None and self.folds < 2:
            problems.append(f"folds: must be an integer >= 2, got {self.folds}")
        if not (np.isfinite(self.outlier_mad) and self.outlier_mad >= 0):
            problems.append(f"outlier_mad (--outlier-mad): must be a finite number >= 0 (0 = keep all), "
                            f"got {self.outlier_mad}")
        if self.cell_weight not in CELL_WEIGHTS:
            problems.append(f"cell_weight: must be one of {CELL_WEIGHTS}, got {self.cell_weight!r}")
        if problems:
            raise ConfigError(problems)


@dataclass
class Candidate:
    """One family fitted to one target, with its held-out and in-sample errors."""

    family: str
    target: str
    n_coefficients: int
    n_cells: int
    coefficients: tuple[float, ...] = ()
    heldout_mape: float = float("nan")
    heldout_r2: float = float("nan")
    train_mape: float = float("nan")
    train_r2: float = float("nan")
    rank: int = 0
    skipped: str = ""

    def quality(self) -> dict[str, float]:
        keys = ("heldout_mape", "heldout_r2", "train_mape", "train_r2")
        values = {k: float(getattr(self, k)) for k in keys} if not self.skipped else {}
        return {
            **values,
            "n_coefficients": float(self.n_coefficients),
            "n_cells": float(self.n_cells),
            "rank": float(self.rank),
        }


@dataclass
class CellTable:
    """Per-cell medians of one target, their counts, and what cleaning removed."""

    target: str
    cells: pd.DataFrame  # CELL_KEYS + target + "count"
    outliers_dropped: int = 0


@dataclass
class Cleaned:
    rows: pd.DataFrame
    dropped: dict[str, int] = field(default_factory=dict)


# --- cleaning ----------------------------------------------------------------


def clean_rows(table: pd.DataFrame, options: FitOptions) -> Cleaned:
    """Drop warm-up rows and rows that do not measure the whole request (``phase != total``)."""
    warmup = table["warmup"].astype(bool)
    if options.first_repetition_warmup:
        first = table.groupby(CELL_KEYS)["repetition"].transform("min")
        warmup |= (table["repetition"] == first) & (table["repetition"] >= 0)
    partial = table["phase"] != "total"
    kept = table[~warmup & ~partial].copy()
    kept["energy_j"] = kept["energy_j"] / kept["batch_size"]
    return Cleaned(kept, {"warmup_rows": int(warmup.sum()), "partial_phase_rows": int((partial & ~warmup).sum())})


def _inlier_mask(values: FloatArray, outlier_mad: float) -> np.ndarray:
    """Points within ``outlier_mad`` scaled MADs of the median (all, for < 3 points or k = 0)."""
    if outlier_mad <= 0 or len(values) < 3:
        return np.ones(len(values), dtype=bool)
    median = np.median(values)
    spread = MAD_TO_SIGMA * np.median(np.abs(values - median))
    spread = max(spread, 1e-9 * abs(median))
    return np.abs(values - median) <= outlier_mad * spread


def cell_medians(rows: pd.DataFrame, target: str, outlier_mad: float) -> CellTable:
    """Median of ``target`` per cell after dropping outliers; ``count`` = points kept."""
    present = rows[np.isfinite(rows[target].to_numpy(dtype=float))]
    records, dropped = [], 0
    for key, group in present.groupby(CELL_KEYS, sort=True):
        values = group[target].to_numpy(dtype=float)
        keep = _inlier_mask(values, outlier_mad)
        dropped += int((~keep).sum())
        records.append((*key, float(np.median(values[keep])), int(keep.sum())))
    cells = pd.DataFrame(records, columns=[*CELL_KEYS, target, "count"])
    return CellTable(target, cells, dropped)


# --- fitting one family -------------------------------------------------------


def _design(family: str, cells: pd.DataFrame, target: str) -> FloatArray:
    return get_family(family).features(
        cells["n_in_tokens"].to_numpy(float),
        cells["n_out_tokens"].to_numpy(float),
        cells["batch_size"].to_numpy(float),
        target=target,
    )


def solve_relative(
    features: FloatArray, values: FloatArray, weights: FloatArray, nonnegative: bool = True
) -> FloatArray:
    """Coefficients minimising ``sum w_i ((features_i @ c - y_i) / y_i)^2``, ``c >= 0`` if asked.

    Rows are divided by their target (relative error) and scaled by sqrt(w);
    columns are scaled to unit norm for conditioning, then unscaled.
    """
    root_w = np.sqrt(weights)
    matrix = features * (root_w / values)[:, None]
    scale = np.linalg.norm(matrix, axis=0)
    scale[scale == 0] = 1.0
    if nonnegative:
        solution, _ = nnls(matrix / scale, root_w, maxiter=50 * matrix.shape[1])
    else:
        solution = np.linalg.lstsq(matrix / scale, root_w, rcond=None)[0]
    return np.asarray(solution / scale, dtype=np.float64)


def _weights(cells: pd.DataFrame, cell_weight: str) -> FloatArray:
    if cell_weight == "equal":
        return np.ones(len(cells))
    return cells["count"].to_numpy(float)


def _fold_ids(n_cells: int, n_coefficients: int, options: FitOptions) -> np.ndarray:
    """Fold of each cell: leave-one-cell-out or a seeded k-fold split."""
    folds = options.folds
    if folds is None:
        folds = n_cells if n_cells <= options.loco_max_cells else 10
    folds = min(folds, n_cells)
    smallest_train = n_cells - int(np.ceil(n_cells / folds))
    if folds == n_cells or smallest_train < n_coefficients:
        return np.arange(n_cells)
    order = np.random.default_rng(options.seed).permutation(n_cells)
    fold_of = np.empty(n_cells, dtype=int)
    for fold, members in enumerate(np.array_split(order, folds)):
        fold_of[members] = fold
    return fold_of


def _mape(predicted: FloatArray, actual: FloatArray) -> float:
    return float(np.mean(np.abs(predicted - actual) / actual))


def _r2(predicted: FloatArray, actual: FloatArray) -> float:
    total = float(np.sum((actual - actual.mean()) ** 2))
    if total == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((predicted - actual) ** 2)) / total


def fit_candidate(family: str, table: CellTable, options: FitOptions) -> Candidate:
    """Fit one family to one target's cells and cross-validate it."""
    cells, target = table.cells, table.target
    n_coefficients = get_family(family).n_coefficients
    candidate = Candidate(family, target, n_coefficients, len(cells))
    if len(cells) < n_coefficients + 1:
        candidate.skipped = (
            f"{len(cells)} cells, needs {n_coefficients + 1} "
            f"({n_coefficients} coefficients + 1 held out)"
        )
        return candidate
    features, values = _design(family, cells, target), cells[target].to_numpy(float)
    weights = _weights(cells, options.cell_weight)
    coefficients = solve_relative(features, values, weights, options.nonnegative)
    heldout = np.empty(len(cells))
    fold_of = _fold_ids(len(cells), n_coefficients, options)
    for fold in np.unique(fold_of):
        test = fold_of == fold
        fold_coefficients = solve_relative(
            features[~test], values[~test], weights[~test], options.nonnegative
        )
        heldout[test] = features[test] @ fold_coefficients
    fitted = features @ coefficients
    candidate.coefficients = tuple(float(c) for c in coefficients)
    candidate.heldout_mape, candidate.heldout_r2 = _mape(heldout, values), _r2(heldout, values)
    candidate.train_mape, candidate.train_r2 = _mape(fitted, values), _r2(fitted, values)
    candidate.rank = int(np.linalg.matrix_rank(features / values[:, None]))
    return candidate


def candidate_families(cells: pd.DataFrame, options: FitOptions) -> list[str]:
    """Families to try: the requested ones (all by default); batch families only when batch varies."""
    names = list(options.families or FAMILIES)
    batch_varies = cells["batch_size"].nunique() > 1
    return [name for name in names if batch_varies or not get_family(name).batch_aware]


def choose(candidates: Sequence[Candidate]) -> Candidate | None:
    """Lowest held-out MAPE; ties go to the family with fewer coefficients."""
    fitted = [c for c in candidates if not c.skipped and np.isfinite(c.heldout_mape)]
    if not fitted:
        return None
    return min(fitted, key=lambda c: (round(c.heldout_mape, 12), c.n_coefficients))


# --- a whole card -------------------------------------------------------------


def select_rows(
    table: pd.DataFrame, model: str | None, hardware: str | None, gpu_count: int | None, where: str
) -> pd.DataFrame:
    """Rows of the requested model/hardware/gpu_count (``None`` = any); DataError if none."""
    selected = table
    for column, wanted in (("model", model), ("hardware", hardware), ("gpu_count", gpu_count)):
        if wanted is not None:
            selected = selected[selected[column] == wanted]
    if selected.empty:
        raise DataError(
            f"{where}: no rows for model={model!r}, hardware={hardware!r}, gpu_count={gpu_count!r}; "
            f"the table has (model, hardware, gpu_count) groups {measurement_groups(table)}"
        )
    return selected


def _select_group(
    table: pd.DataFrame, model: str | None, hardware: str | None, gpu_count: int | None, where: str
) -> pd.DataFrame:
    selected = select_rows(table, model, hardware, gpu_count, where)
    groups = measurement_groups(selected)
    if len(groups) > 1:
        raise DataError(
            f"{where}: {len(groups)} (model, hardware, gpu_count) groups {groups}; choose one "
            "(tpf fit energy --model/--hardware/--gpu-count) or fit the file with fit_energy_file"
        )
    return selected


def _fit_target(
    cleaned: Cleaned, target: str, options: FitOptions
) -> tuple[CellTable, list[Candidate], Candidate | None]:
    table = cell_medians(cleaned.rows, target, options.outlier_mad)
    if table.cells.empty:
        return table, [], None
    names = candidate_families(table.cells, options)
    candidates = [fit_candidate(name, table, options) for name in names]
    return table, candidates, choose(candidates)


def _no_fit_error(where: str, group: str, table: CellTable, candidates: list[Candidate], cleaned: Cleaned) -> FitError:
    needs = ", ".join(f"{c.family} needs {c.n_coefficients + 1}" for c in candidates) or "no candidate family"
    return FitError(
        f"{where}: {group}: cannot fit {table.target}: {len(table.cells)} cells (distinct "
        f"n_in_tokens, n_out_tokens, batch_size points) after dropping "
        f"{cleaned.dropped['warmup_rows']} warm-up rows and {table.outliers_dropped} outliers; "
        f"{needs}"
    )


def _valid_range(cells: pd.DataFrame) -> ValidRange:
    def span(column: str) -> tuple[float, float]:
        return float(cells[column].min()), float(cells[column].max())

    return ValidRange(span("n_in_tokens"), span("n_out_tokens"), span("batch_size"))


def fit_energy(
    table: pd.DataFrame,
    model: str | None = None,
    hardware: str | None = None,
    options: FitOptions | None = None,
    where: str = "<table>",
    provenance: dict[str, Any] | None = None,
    gpu_count: int | None = None,
) -> EnergyCard:
    """Fit one (model, hardware) of a measurement table into an energy card.

    ``table`` is a measurement table (validated here); ``model``/``hardware``
    select the group when the table holds several. ``where`` names the data in
    messages. Raises :class:`FitError` when no family can be fitted.
    """
    options = options or FitOptions()
    options.validate()
    group_rows = _select_group(validate_measurements(table, where), model, hardware, gpu_count, where)
    first = group_rows.iloc[0]
    group = f"model {first['model']} on {first['hardware']} x{int(first['gpu_count'])}"
    cleaned = clean_rows(group_rows, options)
    if cleaned.rows.empty:
        raise FitError(f"{where}: {group}: no rows left after dropping warm-up and partial-phase rows")
    energy_cells, energy_candidates, energy_choice = _fit_target(cleaned, "energy_j", options)
    if energy_choice is None:
        raise _no_fit_error(where, group, energy_cells, energy_candidates, cleaned)
    duration_cells, duration_candidates, duration_choice = _fit_target(cleaned, "duration_s", options)
    candidates = energy_candidates + duration_candidates
    chosen = [energy_choice] + ([duration_choice] if duration_choice else [])
    return EnergyCard(
        model=str(first["model"]),
        hardware=str(first["hardware"]),
        energy=CurveFit(energy_choice.family, energy_choice.coefficients, "energy_j"),
        duration=CurveFit(duration_choice.family, duration_choice.coefficients, "duration_s")
        if duration_choice else None,
        valid_range=_valid_range(energy_cells.cells),
        idle_power_w=_idle_power_w(group_rows),
        gpus_per_replica=int(first["gpu_count"]),
        max_batch_size=max(1, int(np.floor(energy_cells.cells["batch_size"].max()))),
        source="measured",
        method="fit",
        fit_quality=_fit_quality(candidates, chosen),
        provenance={
            **(provenance or {}),
            **_fit_provenance(group_rows, cleaned, (energy_cells, duration_cells), candidates, options),
        },
        notes=_notes(energy_choice, duration_choice, duration_cells),
        **_engine_of_rows(group_rows),
    )


#: ``source`` prefixes of imported rows -> the serving engine and version they were measured with
_SOURCE_ENGINES = {"mlenergy_v3:vllm 0.11:": ("vllm", "0.11"), "mlenergy_v2:": ("vllm", "mlenergy-v2")}


def _engine_of_rows(rows: pd.DataFrame) -> dict[str, str]:
    """The card's ``engine`` and ``engine_version`` where every row's ``source`` names the same one."""
    sources = rows["source"].astype(str)
    for prefix, (engine, version) in _SOURCE_ENGINES.items():
        if len(sources) and sources.str.startswith(prefix).all():
            return {"engine": engine, "engine_version": version}
    return {}


def _idle_power_w(rows: pd.DataFrame) -> float:
    idle = rows["idle_power_w"].to_numpy(float)
    idle = idle[np.isfinite(idle)]
    return float(np.median(idle)) if idle.size else 0.0


def _fit_quality(candidates: list[Candidate], chosen: list[Candidate]) -> dict[str, dict[str, float]]:
    quality = {}
    for candidate in candidates:
        entry = candidate.quality()
        entry["selected"] = 1.0 if any(candidate is c for c in chosen) else 0.0
        quality[f"{candidate.target}/{candidate.family}"] = entry
    return quality


def _cv_scheme(n_cells: int, options: FitOptions) -> str:
    folds = options.folds if options.folds is not None else (
        n_cells if n_cells <= options.loco_max_cells else 10
    )
    if folds >= n_cells:
        return f"leave-one-cell-out over {n_cells} cells"
    return f"{folds}-fold over {n_cells} cells (seed {options.seed}; leave-one-cell-out where a fold leaves too few)"


def _fit_provenance(
    rows: pd.DataFrame,
    cleaned: Cleaned,
    tables: tuple[CellTable, CellTable],
    candidates: list[Candidate],
    options: FitOptions,
) -> dict[str, Any]:
    sources = sorted({s for s in rows["source"] if s})
    return {
        "tpf_version": __version__,
        "model": str(rows["model"].iloc[0]),
        "hardware": str(rows["hardware"].iloc[0]),
        "sources": sources[:50],
        "strategies": sorted(set(rows["strategy"])),
        "rows": int(len(rows)),
        "rows_used": int(len(cleaned.rows)),
        "warmup_rows_dropped": cleaned.dropped["warmup_rows"],
        "partial_phase_rows_dropped": cleaned.dropped["partial_phase_rows"],
        "outliers_dropped": {t.target: t.outliers_dropped for t in tables},
        "outlier_rule": f"> {options.outlier_mad:g} scaled MAD (1.4826*MAD) from the cell median"
        if options.outlier_mad > 0 else "none",
        "cells": {t.target: int(len(t.cells)) for t in tables},
        "cross_validation": _cv_scheme(len(tables[0].cells), options),
        "fit_method": "least squares on per-cell medians, rows divided by the target (relative error)"
        + (", coefficients >= 0 (NNLS)" if options.nonnegative else ""),
        "cell_weight": options.cell_weight,
        "skipped_families": {f"{c.target}/{c.family}": c.skipped for c in candidates if c.skipped},
    }


def _notes(energy: Candidate, duration: Candidate | None, duration_cells: CellTable) -> str:
    text = f"energy_j: {energy.family}, held-out MAPE {100 * energy.heldout_mape:.1f} %"
    if duration is not None:
        return text + f"; duration_s: {duration.family}, held-out MAPE {100 * duration.heldout_mape:.1f} %"
    if duration_cells.cells.empty:
        return text + "; no duration_s in the data"
    return text + "; duration_s could not be fitted (too few cells)"


def measurement_groups(table: pd.DataFrame) -> list[tuple[str, str, int]]:
    """The distinct (model, hardware, gpu_count) groups of a validated measurement table."""
    triples = zip(table["model"], table["hardware"], table["gpu_count"], strict=True)
    return sorted({(str(m), str(h), int(g)) for m, h, g in triples})


def fit_energy_file(
    path: str | os.PathLike[str],
    model: str | None = None,
    hardware: str | None = None,
    options: FitOptions | None = None,
    command: str = "",
    gpu_count: int | None = None,
) -> list[EnergyCard]:
    """Fit every (model, hardware, gpu_count) group of a measurement CSV, or the selected
    ones; all or nothing (the first group that cannot be fitted raises)."""
    table = select_rows(read_measurements(path), model, hardware, gpu_count, str(path))
    provenance = {"data_file": str(path), "command": command}
    digest = sha256_file(path)
    cards = []
    for group_model, group_hardware, group_gpus in measurement_groups(table):
        card = fit_energy(
            table, group_model, group_hardware, options, str(path), provenance, group_gpus
        )
        card.data_sha256 = digest
        cards.append(card)
    return cards
