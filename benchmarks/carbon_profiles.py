"""Compute the shipped 24-hour carbon profiles (tpf/data/carbon_profiles.csv).

Hourly means per UTC hour of day over July 2023 of Electricity Maps series:
US-CAL-CISO (solar-heavy), US-MIDW-LGEE (coal), NO (hydro).

    python benchmarks/carbon_profiles.py ../shared/data --out tpf/data/carbon_profiles.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from tpf.atomic import write_text_atomic
from tpf.simulate.carbon import hour_of_day_means, read_electricitymaps_csv

ZONES = ("US-CAL-CISO", "US-MIDW-LGEE", "NO")
START, END = "2023-07-01", "2023-08-01"
SOURCE = ("Electricity Maps 2023 hourly data (free dataset, via umassos/decarbonization-potential or "
          "jasonm-jones/grid-carbon-intensity); "
          "mean per UTC hour of day, July 2023")


def profiles(data_dir: Path) -> pd.DataFrame:
    frames = []
    for zone in ZONES:
        path = data_dir / "carbon" / "electricitymaps_2023" / f"{zone}_2023_hourly.csv"
        direct = hour_of_day_means(read_electricitymaps_csv(path, "direct"), START, END)
        lca = hour_of_day_means(read_electricitymaps_csv(path, "lca"), START, END)
        frames.append(pd.DataFrame({
            "zone": zone, "hour_utc": direct.index, "carbon_g_per_kwh_direct": direct.round(2).to_numpy(),
            "carbon_g_per_kwh_lca": lca.round(2).to_numpy(), "window": f"{START}..{END}", "source": SOURCE,
        }))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="the reference data folder (../shared/data)")
    parser.add_argument("--out", type=Path, default=Path("tpf/data/carbon_profiles.csv"))
    args = parser.parse_args()
    table = profiles(args.data_dir)
    write_text_atomic(args.out, table.to_csv(index=False))
    print(table.groupby("zone")["carbon_g_per_kwh_direct"].agg(["min", "mean", "max"]).round(1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
