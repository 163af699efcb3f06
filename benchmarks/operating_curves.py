"""Leave-one-batch-out error of operating curves fitted to ML.ENERGY v2 (vLLM; A100-40GB and H100).

    python benchmarks/operating_curves.py ../shared/data/energy/mlenergy_v2/mlenergy_v2_llm_configs.csv [--min-levels 4]

For every (model, GPU, TP x PP, task) group with at least ``--min-levels``
batch levels, the curve of :mod:`tpf.operating` (power ``p0 + p1 ln B``
clipped to idle..TDP, step time ``t0 + t1 B``) is fitted to all levels but one
and predicts the one left out; the table prints, per group, the mean and max
absolute percentage error of J/token (= J/request at the group's output
length), of power and of throughput, then the medians per GPU and over all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.fit.operating_fit import mlenergy_v2_curves  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--min-levels", type=int, default=4, help="batch levels a group needs (default: %(default)s)")
    args = parser.parse_args()
    rows = []
    for measured in mlenergy_v2_curves(args.csv, min_levels=args.min_levels):
        held = measured.curve.heldout
        rows.append({"model": measured.model.split("/")[-1][:30], "gpu": measured.hardware, "gpus": measured.gpus,
                     "task": measured.task, "levels": int(held["n_levels"]),
                     "batch": f"{measured.batch_size.min():.0f}..{measured.batch_size.max():.0f}",
                     "J/token MAPE %": 100 * held["j_per_token_mape"],
                     "J/token max %": 100 * held["j_per_token_max_ape"],
                     "power MAPE %": 100 * held["power_mape"], "tput MAPE %": 100 * held["throughput_mape"]})
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.round(1).to_string(index=False))
    numeric = ["J/token MAPE %", "J/token max %", "power MAPE %", "tput MAPE %"]
    print("\nmedian over groups, per GPU:")
    print(table.groupby("gpu")[numeric].median().round(1).to_string())
    print(f"\nall {len(table)} groups: median J/token MAPE {table['J/token MAPE %'].median():.1f}%, "
          f"mean {table['J/token MAPE %'].mean():.1f}%, worst group {table['J/token MAPE %'].max():.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
