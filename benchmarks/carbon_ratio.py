"""Same workload and week, two grids: simulated CO2 ratio LGEE/CISO vs intensity ratios.

For each Azure trace (conv, code): one hour of real requests tiled over a
week (168 h, synthetic diurnal profile in UTC hours), routed to one pool with a
hand-made illustrative card (not a measurement), simulated with the fluid
engine under the US-MIDW-LGEE and US-CAL-CISO 2023 hourly series (direct
column) of the same week. Printed per trace:

* the simulated CO2 ratio LGEE/CISO;
* the ratio of energy-weighted mean intensities,
  ``sum_h E_h CI_LGEE(h) / sum_h E_h CI_CISO(h)`` with ``E_h`` the simulated
  facility kWh per hour (must match within 2%);
* the ratio of plain mean intensities over the week, for contrast.

    python benchmarks/carbon_ratio.py ../shared/data [--start 2023-07-03] [--column direct]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from tpf.simulate import AllocationRouter, Pool, simulate
from tpf.simulate.carbon import read_electricitymaps_csv, window
from tpf.simulate.demo_cards import demo_card
from tpf.simulate.workload import diurnal_profile, read_azure_trace, tile_trace

ZONES = ("US-MIDW-LGEE", "US-CAL-CISO")
HOURS = 168


def weekly_run(trace_path: Path, carbon: dict[str, list[float]]) -> dict[str, float]:
    week = tile_trace(read_azure_trace(trace_path), diurnal_profile(HOURS))
    allocation = pd.DataFrame({"class_name": ["all"], "period": [0], "option_id": ["zs"], "model": ["demo-8b"],
                               "strategy": ["zero_shot"], "budget_tokens": [0], "votes": [1], "share": [1.0]})
    classes = pd.DataFrame({"class_name": ["all"], "category": ["default"], "n_in_tokens": [1000.0]})
    router, pools = AllocationRouter(allocation, classes), [Pool(demo_card("demo-8b"), gpus=(8,))]
    results = {zone: simulate(week, router, pools, carbon_g_per_kwh=carbon[zone], pue=1.2, n_hours=HOURS)
               for zone in ZONES}
    lgee, ciso = (results[zone] for zone in ZONES)
    energy = lgee.hourly["facility_energy_kwh"]
    weighted = {z: float((energy * results[z].hourly["carbon_g_per_kwh"]).sum() / energy.sum()) for z in ZONES}
    plain = {z: float(results[z].hourly["carbon_g_per_kwh"].mean()) for z in ZONES}
    return {
        "requests": float(len(week)), "facility_kwh": float(energy.sum()),
        "co2_kg_lgee": lgee.totals["carbon_kg"], "co2_kg_ciso": ciso.totals["carbon_kg"],
        "simulated_ratio": lgee.totals["carbon_kg"] / ciso.totals["carbon_kg"],
        "energy_weighted_ratio": weighted[ZONES[0]] / weighted[ZONES[1]],
        "plain_mean_ratio": plain[ZONES[0]] / plain[ZONES[1]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="the reference data folder (../shared/data)")
    parser.add_argument("--start", default="2023-07-03", help="first UTC hour of the week")
    parser.add_argument("--column", default="direct", choices=("direct", "lca"))
    args = parser.parse_args()
    carbon = {
        zone: window(read_electricitymaps_csv(
            args.data_dir / "carbon" / "electricitymaps_2023" / f"{zone}_2023_hourly.csv", args.column), args.start, HOURS)
        for zone in ZONES
    }
    failed = False
    for name in ("conv", "code"):
        row = weekly_run(args.data_dir / "traces" / "azure_llm_2023" / f"AzureLLMInferenceTrace_{name}.csv", carbon)
        gap = abs(row["simulated_ratio"] / row["energy_weighted_ratio"] - 1)
        failed |= gap > 0.02
        print(f"{name}: {row['requests']:,.0f} requests, {row['facility_kwh']:.1f} facility kWh; "
              f"CO2 LGEE {row['co2_kg_lgee']:.2f} kg, CISO {row['co2_kg_ciso']:.2f} kg; "
              f"simulated ratio {row['simulated_ratio']:.4f}, energy-weighted intensity ratio "
              f"{row['energy_weighted_ratio']:.4f} (gap {gap:.2e}), plain mean intensity ratio {row['plain_mean_ratio']:.4f}")
    print("within 2%: " + ("no" if failed else "yes"))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
