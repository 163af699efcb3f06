"""A 100-point carbon-intensity sweep of the carbon_whatif scenario, run locally.

Runs ``tpf sweep scenario=carbon_whatif grid.scale=<100 values>`` with the
joblib launcher (all local cores), then prints the wall time, the sweep
summary's location and how many points bound the carbon budget.

    python benchmarks/carbon_sweep.py                       # 100 points, scale 0.05..5
    python benchmarks/carbon_sweep.py --points 20 --out outputs/sweeps/bench
    python benchmarks/carbon_sweep.py --carbon-csv ../shared/data/carbon/electricitymaps_2023/US-CAL-CISO_2023_hourly.csv

With ``--carbon-csv`` the grid is that Electricity Maps series from
``--start-utc`` instead of the shipped 24-hour profile.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.app import main  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100, help="number of sweep points (default 100)")
    parser.add_argument("--min-scale", type=float, default=0.05)
    parser.add_argument("--max-scale", type=float, default=5.0)
    parser.add_argument("--launcher", default="joblib", help="Hydra launcher: joblib, basic, submitit_local")
    parser.add_argument("--out", type=Path, help="sweep folder; must not hold a sweep already "
                        "(default outputs/sweeps/carbon_sweep_benchmark_<time>)")
    parser.add_argument("--carbon-csv", type=Path, default=None, help="Electricity Maps hourly CSV")
    parser.add_argument("--start-utc", default="2023-06-01 00:00")
    return parser.parse_args(argv)


def main_benchmark(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = args.out or Path("outputs/sweeps") / time.strftime("carbon_sweep_benchmark_%Y-%m-%d_%H-%M-%S")
    scales = np.round(np.linspace(args.min_scale, args.max_scale, args.points), 4)
    overrides = [
        "scenario=carbon_whatif", "report=minimal", f"hydra/launcher={args.launcher}",
        f"hydra.sweep.dir={args.out}", "grid.scale=" + ",".join(f"{s:g}" for s in scales),
    ]
    if args.carbon_csv is not None:
        overrides += ["grid=electricitymaps", f"grid.csv_path={args.carbon_csv.resolve()}",
                      f"grid.start_utc='{args.start_utc}'"]
    start = time.perf_counter()
    code = main(["sweep", *overrides])
    wall_s = time.perf_counter() - start
    summary_path = args.out / "sweep_summary.csv"
    if code != 0 or not summary_path.is_file():
        print(f"sweep failed (exit {code}) after {wall_s:.1f} s", file=sys.stderr)
        return 1
    table = pd.read_csv(summary_path)
    bound = table["binding_constraints"].fillna("").str.contains("carbon_budget").sum()
    print(f"carbon sweep: {len(table)} points ({args.launcher} launcher), wall time {wall_s:.1f} s "
          f"({wall_s / len(table):.2f} s per point)")
    print(f"statuses: {table['status'].value_counts().to_dict()}; carbon budget binding at {bound} points")
    print(f"summary: {summary_path}  plot: {args.out / 'sweep.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main_benchmark())
