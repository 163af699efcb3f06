"""Operating curves from measured tables: ML.ENERGY leaderboard v2 and v3 (vLLM).

Each configuration row of ``mlenergy_v2_llm_configs.csv`` is one batch level of
one (model, GPU, tensor/pipeline parallelism, task): the average running batch
(``Avg BS (reqs)``), the energy per request, the output-token throughput and
the average output length. The power per GPU follows as
``Energy/req * Token tput / Avg Output Tokens / (TP * PP)``.
:func:`mlenergy_v2_curves` groups the rows and fits one
:class:`~tpf.operating.OperatingCurve` per group with at least ``min_levels``
levels (engine ``vllm``), naming the rows it used (``data_rows``: file and
line numbers) and carrying its leave-one-batch-out error; a group whose power per GPU
exceeds the GPU's TDP is refused, naming the lines. :func:`mlenergy_v3_curves` does
the same for the v3 rows (vLLM 0.11). :func:`attach_curve` puts a curve on a card,
extended from batch 1 to the card's KV-cache limit along the roofline's shape
(:func:`extend_to_card`) and widening the card's batch range to measured levels
beyond it.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tpf.cards import EnergyCard
from tpf.errors import CardError, ConfigError, DataError
from tpf.fit.importers import MLENERGY_V2_COLUMNS
from tpf.operating import OperatingCurve, fit_operating_curve
from tpf.schema import read_csv_text
from tpf.specs import hardware_spec, model_architecture

TPUT_COLUMN = "Token tput (tok/s)"


@dataclass(frozen=True)
class MeasuredCurve:
    """One group's measured levels and the curve fitted to them."""

    model: str
    hardware: str
    task: str
    gpus: int
    batch_size: np.ndarray
    power_w: np.ndarray
    throughput_tokens_per_s: np.ndarray
    j_per_request: np.ndarray
    n_out_tokens: float
    lines: tuple[int, ...]
    curve: OperatingCurve


def _model_id(name: str) -> str:
    try:
        return model_architecture(name).name
    except Exception:  # a model tpf has no architecture for keeps its published name
        return name


def read_mlenergy_v2(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The configuration rows with numbers parsed, per-GPU power and the file line of each row."""
    file = Path(path)
    raw = read_csv_text(file)
    missing = [c for c in (*MLENERGY_V2_COLUMNS, TPUT_COLUMN) if c not in raw.columns]
    if missing:
        raise DataError(f"{file}: missing ML.ENERGY v2 column(s) {missing}")
    numbers = ("TP", "PP", "Energy/req (J)", "Avg Output Tokens", "Avg BS (reqs)", TPUT_COLUMN)
    table = raw.assign(**{c: pd.to_numeric(raw[c], errors="coerce") for c in numbers})
    table["line"] = np.arange(len(table)) + 2
    bad = table[list(numbers)].isna().any(axis=1)
    if bad.any():
        raise DataError(f"{file}: line {int(table.loc[bad, 'line'].iloc[0])}: non-numeric value in {list(numbers)}")
    table["gpus"] = (table["TP"] * table["PP"]).astype(int)
    table["power_w"] = (table["Energy/req (J)"] * table[TPUT_COLUMN] / table["Avg Output Tokens"]
                        / table["gpus"])
    return table


def mlenergy_v2_curves(path: str | os.PathLike[str], min_levels: int = 3, models: list[str] | None = None,
                       clip_power_to_tdp: bool = False) -> list[MeasuredCurve]:
    """One fitted curve per (model, GPU, TP x PP, task) group with >= ``min_levels`` levels.

    A group whose power per GPU exceeds the GPU's TDP is refused (CardError naming the lines)
    unless ``clip_power_to_tdp``."""
    table = read_mlenergy_v2(path)
    out = []
    for (model, gpu, gpu_count, task), group in table.groupby(["Model", "GPU", "gpus", "task"], sort=True):
        if models is not None and _model_id(str(model)) not in models and model not in models:
            continue
        rows = group.sort_values("Avg BS (reqs)").drop_duplicates("Avg BS (reqs)")
        if len(rows) < min_levels:
            continue
        out.append(_group_curve(Path(path).name, str(model), str(gpu), int(str(gpu_count)), str(task), rows,
                                clip_power_to_tdp))
    return out


#: engine version of the rows of each measured table (tpf.operating.ENGINE_VERSIONS["vllm"])
TABLE_ENGINE_VERSION = {"mlenergy-v2": "mlenergy-v2", "mlenergy-v3": "0.11"}


def mlenergy_v3_curves(path: str | os.PathLike[str], min_levels: int = 3,
                       models: list[str] | None = None) -> list[MeasuredCurve]:
    """One fitted curve per (model, GPU, GPU count, task) group of ML.ENERGY v3 rows (vLLM 0.11).

    The rows are checked by :func:`tpf.fit.mlenergy_v3.read_mlenergy_v3` (power above TDP and zero
    throughput are refused there, naming the line); the power per GPU is ``avg_power_watts / num_gpus``."""
    from tpf.fit.mlenergy_v3 import read_mlenergy_v3

    table = read_mlenergy_v3(path).rename(columns={
        "avg_batch_size": "Avg BS (reqs)", "output_throughput_tokens_per_sec": TPUT_COLUMN,
        "avg_output_len": "Avg Output Tokens", "energy_per_request_joules": "Energy/req (J)"})
    out = []
    for (model, gpu, gpus, task), group in table.groupby(["model_id", "hardware", "num_gpus", "task"], sort=True):
        if models is not None and _model_id(str(model)) not in models and model not in models:
            continue
        rows = group[group["weight_precision"] == "bfloat16"].sort_values("Avg BS (reqs)")
        rows = rows.drop_duplicates("Avg BS (reqs)")
        if len(rows) >= min_levels:
            out.append(_group_curve(Path(path).name, str(model), str(gpu), int(gpus), str(task), rows))
    return out


def _tdp_check(file_name: str, gpu: str, rows: pd.DataFrame, tdp_w: float) -> None:
    """Refuse measured power per GPU above the GPU's TDP (a table that cannot be right), naming the lines."""
    over = rows[rows["power_w"] > tdp_w]
    if len(over):
        shown = "; ".join(f"line {int(r['line'])}: {r['power_w']:.4g} W ({r['power_w'] / tdp_w:.2g} x TDP)"
                          for r in over.to_dict("records"))
        raise CardError(f"{file_name}: power per GPU (Energy/req (J) x Token tput (tok/s) / Avg Output Tokens "
                        f"/ (TP x PP)) above the {gpu} TDP of {tdp_w:g} W: {shown}; allowed 0 < power <= "
                        "TDP (check the table; --clip-power-to-tdp clips it instead)")


def _group_curve(file_name: str, model: str, gpu: str, gpus: int, task: str, rows: pd.DataFrame,
                 clip_power_to_tdp: bool = False) -> MeasuredCurve:
    spec = hardware_spec(gpu)
    if not clip_power_to_tdp:
        _tdp_check(file_name, gpu, rows, spec.tdp_w)
    lines = tuple(int(v) for v in rows["line"])
    batch = rows["Avg BS (reqs)"].to_numpy(float)
    power, tput = rows["power_w"].to_numpy(float), rows[TPUT_COLUMN].to_numpy(float)
    n_out = float(rows["Avg Output Tokens"].mean())
    where = f"{file_name} lines {', '.join(map(str, lines))} ({model}, {gpu}, {gpus} GPU, {task})"
    curve = fit_operating_curve(list(batch), list(power), list(tput), n_out, engine="vllm", tdp_w=spec.tdp_w,
                                idle_power_w=spec.idle_power_w, gpus=gpus, data_rows=where)
    return MeasuredCurve(_model_id(model), spec.key, task, gpus, batch, power, tput,
                         rows["Energy/req (J)"].to_numpy(float), n_out, lines, curve)


def extend_to_card(card: EnergyCard, curve: OperatingCurve) -> OperatingCurve:
    """``curve`` extended from the card's smallest batch to its ``max_batch_size`` (the KV-cache limit)
    along the roofline of the card's model and GPU (:func:`tpf.fit.operating_roofline.extend_curve`),
    with the card's roofline assumptions where it has them, else the ``vllm`` preset's. A model
    outside the catalog keeps the measured levels only."""
    from tpf.fit.operating_roofline import extend_curve
    from tpf.fit.roofline import RooflineAssumptions, roofline_assumptions

    try:
        arch, hw = model_architecture(card.model), hardware_spec(card.hardware)
    except ConfigError:
        return curve
    stated = card.provenance.get("assumptions")
    a = RooflineAssumptions(**stated) if isinstance(stated, dict) else roofline_assumptions("vllm")
    hw = dataclasses.replace(hw, tdp_w=curve.tdp_w, idle_power_w=curve.idle_power_w)
    low = min(card.valid_range.batch_size[0], curve.batch_size[0])
    return extend_curve(curve, arch, hw, a, card.max_batch_size, low_batch=max(low, 1.0))


def attach_curve(card: EnergyCard, curve: OperatingCurve) -> tuple[EnergyCard, str]:
    """The card with ``curve`` replacing its curve of the same engine, and a note ('' if none).

    Measured levels beyond the card's batch range widen ``valid_range.batch_size`` and
    ``max_batch_size`` to them: a replica that ran that many requests at once shows they fit,
    where an estimated card's bound assumed longer requests (the roofline sizes it from the
    KV cache of ``reference_context_tokens`` per request). The card states the widening in
    ``provenance.batch_range`` and ``notes``; its energy and duration curves beyond their old
    range are extrapolations, corrected at each level by the measured curve when priced there.
    """
    others = [c for c in card.operating_curves if c.engine != curve.engine]
    curve = extend_to_card(card, curve)
    low, high = card.valid_range.batch_size
    first, last = curve.batch_size[0], curve.batch_size[-1]
    if low <= first and last <= high:
        return dataclasses.replace(card, operating_curves=[*others, curve]), ""
    new_low, new_high = min(low, first), max(high, last)
    note = (f"batch range widened from {low:g}..{high:g} to {new_low:g}..{new_high:g} (max_batch_size "
            f"{card.max_batch_size} -> {max(card.max_batch_size, math.ceil(last))}) by the measured "
            f"{curve.engine} levels of {curve.data_rows}; energy and duration curves beyond "
            f"{low:g}..{high:g} are extrapolated")
    widened = dataclasses.replace(
        card, valid_range=dataclasses.replace(card.valid_range, batch_size=(new_low, new_high)),
        max_batch_size=max(card.max_batch_size, math.ceil(last)), operating_curves=[*others, curve],
        provenance={**card.provenance, "batch_range": note},
        notes=f"{card.notes}\n{note}".strip())
    return widened, note
