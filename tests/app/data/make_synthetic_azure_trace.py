"""Writes synthetic_azure_trace.csv: a SYNTHETIC trace in the Azure LLM trace's format.

Not a measurement and not derived from any real trace: 300 Poisson arrivals
over one hour (seed 7), lognormal context tokens (median 600) and generated
tokens (median 150), in the columns ``TIMESTAMP, ContextTokens,
GeneratedTokens``. Regenerate with ``python tests/app/data/make_synthetic_azure_trace.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 300
SPAN_S = 3600.0


def synthetic_trace(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    gaps_s = rng.exponential(SPAN_S / rows, rows)
    arrival_s = np.cumsum(gaps_s) - gaps_s[0]
    arrival_s *= (SPAN_S - 1.0) / arrival_s[-1]  # the whole hour, first request at 0 s
    stamps = pd.Timestamp("2023-11-16 18:00:00") + pd.to_timedelta(np.round(arrival_s, 6), unit="s")
    return pd.DataFrame({
        "TIMESTAMP": stamps.strftime("%Y-%m-%d %H:%M:%S.%f") + "0",
        "ContextTokens": np.maximum(1, np.round(rng.lognormal(np.log(600), 0.8, rows))).astype(int),
        "GeneratedTokens": np.maximum(1, np.round(rng.lognormal(np.log(150), 0.7, rows))).astype(int),
    })


if __name__ == "__main__":
    out = Path(__file__).with_name("synthetic_azure_trace.csv")
    synthetic_trace().to_csv(out, index=False)
    print(f"wrote {out}")
