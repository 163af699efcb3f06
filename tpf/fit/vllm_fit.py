"""Fit a serving engine's roofline preset on ML.ENERGY v3 rows; its leave-one-model-out error.

The rows (:func:`v3_fit_rows`) are the configurations of the dense models of
the catalog (:data:`FIT_MODELS`: Qwen3-8B, -14B, -32B; Llama-like shapes: gated
MLP, grouped-query attention, bf16) on the GPUs of the catalog, one row per
(model, GPU, GPU count, task, batch cap). Each is priced by the roofline
(:func:`tpf.fit.roofline.roofline_point`) at its average batch and output
length, with an assumed input length per task (the data record none:
:data:`N_IN_TOKENS`), and compared on energy per output token.

:func:`fit_preset` fits :data:`FITTED` (step overhead and the power drawn
during it, the power shares of memory- and compute-bound passes, which set how
power rises from idle towards TDP with batch, and the achieved compute and
bandwidth shares) by least squares on log errors. :func:`leave_one_model_out`
fits on all models but one and prices the one left out, for each model in
turn: the error expected on an architecture the preset has not seen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from tpf.errors import ConfigError
from tpf.fit.mlenergy_v3 import read_mlenergy_v3
from tpf.fit.roofline import RooflineAssumptions, roofline_assumptions, roofline_point
from tpf.specs import ModelArch, hardware_spec, model_architecture

FIT_MODELS = ("qwen3-8b", "qwen3-14b", "qwen3-32b")
#: assumed input tokens per task (ML.ENERGY v3 records none): an assumption, stated on the card
N_IN_TOKENS = {"lm-arena-chat": 256.0, "gpqa": 256.0, "sourcegraph-fim": 1024.0}
FITTED = ("step_overhead_s", "overhead_power_share", "memory_power_share", "compute_power_share",
          "compute_efficiency", "bandwidth_efficiency")
_X0 = (0.005, 0.3, 0.3, 1.0, 0.4, 0.7)
_LOW = (0.0, 0.0, 0.0, 0.0, 0.02, 0.05)
_HIGH = (0.1, 1.0, 1.0, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class PresetFit:
    """Fitted values (:data:`FITTED`) and the rows they rest on."""

    values: dict[str, float]
    lines: tuple[int, ...]
    models: tuple[str, ...]


def _model_key(name: str, archs: Mapping[str, ModelArch]) -> str:
    for arch in archs.values():
        if name.lower() in (arch.name.lower(), *(a.lower() for a in arch.aliases)):
            return arch.name
    try:
        return model_architecture(name).name
    except ConfigError:
        return ""


def v3_fit_rows(path: str | os.PathLike[str], models: tuple[str, ...] = FIT_MODELS,
                tasks: tuple[str, ...] | None = None, archs: Mapping[str, ModelArch] | None = None) -> pd.DataFrame:
    """The checked v3 rows of ``models`` (catalog keys, or keys of ``archs``: architectures outside the
    catalog): line, model, hardware, gpus, task, batch, n_out, measured J per output token, power per GPU."""
    table = read_mlenergy_v3(path)
    keys = [_model_key(str(name), archs or {}) for name in table["model_id"]]
    table = table.assign(model=keys)
    table = table[table["model"].isin(models) & (table["weight_precision"] == "bfloat16")]
    if tasks is not None:
        table = table[table["task"].isin(tasks)]
    rows = pd.DataFrame({
        "line": table["line"], "model": table["model"], "hardware": table["hardware"],
        "gpus": table["num_gpus"].astype(int), "task": table["task"], "batch": table["avg_batch_size"],
        "max_num_seqs": table["max_num_seqs"],
        "n_out": table["avg_output_len"], "j_per_token": table["energy_per_token_joules"],
        "power_w": table["power_w"],
    })
    return rows.sort_values(["model", "hardware", "gpus", "task", "batch"]).reset_index(drop=True)


def predicted_j_per_token(rows: pd.DataFrame, a: RooflineAssumptions,
                          archs: Mapping[str, ModelArch] | None = None) -> np.ndarray:
    """The roofline's J per output token at each row (its batch, output length and assumed input)."""
    out = []
    for r in rows.to_dict("records"):
        n_in = N_IN_TOKENS.get(r["task"], 256.0)
        model = (archs or {}).get(r["model"], r["model"])
        point = roofline_point(model, r["hardware"], n_in, r["n_out"], max(r["batch"], 1.0), r["gpus"], a)
        out.append(point.energy_j / r["n_out"])
    return np.array(out)


def relative_errors(rows: pd.DataFrame, a: RooflineAssumptions,
                    archs: Mapping[str, ModelArch] | None = None) -> np.ndarray:
    return predicted_j_per_token(rows, a, archs) / rows["j_per_token"].to_numpy() - 1.0


def assumptions_of(values: dict[str, float] | np.ndarray) -> RooflineAssumptions:
    named = values if isinstance(values, dict) else dict(zip(FITTED, map(float, values), strict=True))
    return roofline_assumptions("none", **named)


def fit_preset(rows: pd.DataFrame) -> PresetFit:
    """Least squares on log(predicted / measured) J per output token over ``rows``."""
    fit = least_squares(lambda x: np.log1p(relative_errors(rows, assumptions_of(x))), x0=_X0,
                        bounds=(_LOW, _HIGH), x_scale=[0.005, 0.3, 0.3, 0.3, 0.3, 0.3])
    values = {name: float(v) for name, v in zip(FITTED, fit.x, strict=True)}
    return PresetFit(values, tuple(int(v) for v in rows["line"]), tuple(sorted(set(rows["model"]))))


def kv_context_at_saturation(rows: pd.DataFrame, saturated_below: float = 0.95) -> pd.DataFrame:
    """Rows whose average batch stayed under ``saturated_below`` x their batch cap (the KV cache, not
    the cap, bounded them), with the context per request that fills the KV budget at that batch:
    ``(memory_usable_fraction * gpus * memory - weights) / (batch * kv_bytes_per_token)`` (the
    defaults of :class:`~tpf.fit.roofline.RooflineAssumptions`)."""
    a = roofline_assumptions("none")
    full = rows[rows["batch"] < saturated_below * rows["max_num_seqs"]]
    tokens = []
    for r in full.to_dict("records"):
        arch, gpu_memory = model_architecture(r["model"]), hardware_spec(r["hardware"]).memory_bytes
        budget = a.memory_usable_fraction * r["gpus"] * gpu_memory - arch.weight_bytes(a.dtype_bytes)
        tokens.append(budget / (r["batch"] * arch.kv_cache_bytes_per_token(a.dtype_bytes)))
    return full.assign(kv_context_tokens=tokens)


def leave_one_model_out(rows: pd.DataFrame, fit_tasks: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Each model's rows (every task) priced by the preset fitted to the other models' rows of
    ``fit_tasks`` (all tasks when None); the ``error`` column is predicted / measured - 1."""
    parts = []
    fit_rows = rows if fit_tasks is None else rows[rows["task"].isin(fit_tasks)]
    for model in sorted(set(rows["model"])):
        held = rows[rows["model"] == model]
        fitted = fit_preset(fit_rows[fit_rows["model"] != model])
        parts.append(held.assign(error=relative_errors(held, assumptions_of(fitted.values))))
    return pd.concat(parts).sort_index()
