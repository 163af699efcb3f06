"""ML.ENERGY leaderboard v3 (vLLM 0.11, H100 and B200): read, check and import its configuration rows.

Each row of ``mlenergy_v3_llm_configs*.csv`` is one server configuration of one
model on one GPU type for one task: the batch cap (``max_num_seqs``), the
average running batch, the average output length, the average power of the
whole replica (``avg_power_watts``, all ``num_gpus`` GPUs together: it equals
``energy_per_token_joules * output_throughput_tokens_per_sec``), the energy per
request and per output token, the output throughput and ITL percentiles. No
input lengths are recorded (each task has its own prompt set).

:func:`read_mlenergy_v3` returns the rows with their file line, the catalog
hardware key and the power per GPU, after checking every row: numbers finite
and positive (a zero throughput is refused, naming the line and column), the
GPU known to the catalog and the power per GPU at most its TDP.
:func:`import_mlenergy_v3` turns them into a measurement table (``tpf import
mlenergy-v3``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from tpf.errors import ConfigError, DataError
from tpf.schema import read_csv_text, validate_measurements
from tpf.specs import hardware_spec

#: The serving engine and version the v3 rows were measured with (its README and leaderboard).
ENGINE, ENGINE_VERSION = "vllm", "0.11"

V3_NUMBERS = (
    "avg_batch_size", "avg_output_len", "avg_power_watts", "energy_per_request_joules",
    "energy_per_token_joules", "output_throughput_tokens_per_sec", "num_gpus", "max_num_seqs",
)
V3_COLUMNS = ("task", "model_id", "gpu_model", "architecture", "weight_precision", *V3_NUMBERS)


def _row_problems(table: pd.DataFrame, file: Path) -> list[str]:
    problems = []
    for column in V3_NUMBERS:
        bad = table[~(np.isfinite(table[column]) & (table[column] > 0))]
        problems += [f"{file}: line {line}: {column}: must be a finite number > 0, got {raw!r}"
                     for line, raw in zip(bad["line"], bad[f"_raw_{column}"], strict=True)]
    return problems


def _hardware_keys(table: pd.DataFrame, file: Path) -> tuple[pd.Series, list[str]]:
    keys, problems = {}, []
    for gpu in sorted(set(table["gpu_model"])):
        try:
            keys[gpu] = hardware_spec(str(gpu)).key
        except ConfigError:
            lines = ", ".join(map(str, table.loc[table["gpu_model"] == gpu, "line"].head(5)))
            problems.append(f"{file}: line(s) {lines}: gpu_model: {gpu!r} is not in the hardware catalog "
                            "(tpf/data/hardware.yaml)")
    return table["gpu_model"].map(keys), problems


def _tdp_problems(table: pd.DataFrame, file: Path) -> list[str]:
    problems = []
    for row in table[table["hardware"].notna()].to_dict("records"):
        tdp = hardware_spec(row["hardware"]).tdp_w
        if row["power_w"] > tdp:
            problems.append(
                f"{file}: line {row['line']}: avg_power_watts: {row['avg_power_watts']:g} W over num_gpus="
                f"{row['num_gpus']:g} is {row['power_w']:g} W per GPU, above the {row['hardware']} TDP of "
                f"{tdp:g} W (allowed: 0 < power per GPU <= TDP)")
    return problems


def read_mlenergy_v3(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The checked configuration rows, with ``line``, ``hardware`` (catalog key) and ``power_w`` per GPU."""
    file = Path(path)
    raw = read_csv_text(file)
    missing = [c for c in V3_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"{file}: not an ML.ENERGY v3 configuration file: missing column(s) "
                        f"{', '.join(missing)}")
    table = raw.assign(**{f"_raw_{c}": raw[c] for c in V3_NUMBERS})
    table = table.assign(**{c: pd.to_numeric(raw[c], errors="coerce") for c in V3_NUMBERS})
    table["line"] = np.arange(len(table)) + 2
    problems = _row_problems(table, file)
    table["hardware"], unknown = _hardware_keys(table, file)
    if problems or unknown:
        raise DataError("\n".join(problems + unknown))
    table["power_w"] = table["avg_power_watts"] / table["num_gpus"]
    problems = _tdp_problems(table, file)
    if problems:
        raise DataError("\n".join(problems))
    return table.drop(columns=[f"_raw_{c}" for c in V3_NUMBERS]).reset_index(drop=True)


def import_mlenergy_v3(path: str | os.PathLike[str], n_in_tokens: float | Mapping[str, float],
                       tasks: Iterable[str] | None = None) -> pd.DataFrame:
    """ML.ENERGY v3 configurations -> a measurement table (one row per configuration).

    ``batch_size`` is the average running batch, ``energy_j`` the window energy
    (energy per request x batch), ``n_out_tokens`` the average output length,
    ``duration_s`` the time a request decodes (batch x output length over the
    output throughput), ``gpu_count = num_gpus``. ``n_in_tokens``: one number or
    one per task (the file has none); ``source`` names the engine version and
    says the input length is assumed; ``source_line`` is the file line used.
    """
    file = Path(path)
    rows = read_mlenergy_v3(file)
    from tpf.fit.importers import rows_of_tasks

    rows, lengths = rows_of_tasks(rows, tasks, n_in_tokens, file)
    batch, n_out = rows["avg_batch_size"], rows["avg_output_len"]
    table = pd.DataFrame({
        "model": rows["model_id"], "hardware": rows["hardware"], "n_in_tokens": rows["task"].map(lengths),
        "n_out_tokens": n_out, "batch_size": batch,
        "energy_j": rows["energy_per_request_joules"] * batch,
        "duration_s": batch * n_out / rows["output_throughput_tokens_per_sec"],
        "phase": "total", "gpu_count": rows["num_gpus"],
        "source": (f"mlenergy_v3:{ENGINE} {ENGINE_VERSION}:" + rows["task"]
                   + " (n_in_tokens assumed: not in the data)"),
        "task": rows["task"], "max_num_seqs": rows["max_num_seqs"], "source_line": rows["line"],
    })
    return validate_measurements(table.reset_index(drop=True), str(file))
