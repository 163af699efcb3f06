"""Synthetic measurement tables with known coefficients (no GPU, no reference data)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from tpf.families import get_family

N_IN = (16, 128, 512, 2048)
N_OUT = (8, 64, 256, 1024)


def grid(batches: tuple[int, ...] = (1,)) -> pd.DataFrame:
    points = list(itertools.product(N_IN, N_OUT, batches))
    return pd.DataFrame(points, columns=["n_in_tokens", "n_out_tokens", "batch_size"]).astype(float)


def table_from(
    family: str,
    coefficients: tuple[float, ...],
    batches: tuple[int, ...] = (1,),
    duration: tuple[str, tuple[float, ...]] | None = None,
    noise: float = 0.0,
    repeats: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Rows whose per-request energy follows ``family`` (window energy = per request x batch)."""
    cells = grid(batches)
    rows = cells.loc[cells.index.repeat(repeats)].reset_index(drop=True)
    args = (rows["n_in_tokens"], rows["n_out_tokens"], rows["batch_size"])
    energy = get_family(family).predict(coefficients, *args, target="energy_j")
    rng = np.random.default_rng(seed)
    energy = energy * (1.0 + noise * rng.standard_normal(len(rows)))
    rows["energy_j"] = energy * rows["batch_size"]
    if duration is None:
        rows["duration_s"] = ""
    else:
        rows["duration_s"] = get_family(duration[0]).predict(duration[1], *args, target="duration_s")
    rows.insert(0, "hardware", "gpu-x")
    rows.insert(0, "model", "model-a")
    rows["repetition"] = np.tile(np.arange(repeats), len(cells))
    return rows
