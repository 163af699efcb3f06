"""The carbon-aware time-and-place study: tables from `tpf replan` multirun folders.

Reads every point's summary.json and .hydra/overrides.yaml under the sweep
folders given, and prints one markdown row per (zone, deferrable share,
deadline, forecast): carbon saved against the carbon-agnostic policy
(operational and total with embodied), the oracle's saving and the regret
(forecast minus oracle, in percent of the agnostic carbon), deadline misses
and the point's wall time.

    python benchmarks/replan_study.py outputs/sweeps/<time> [more sweep folders]

The grid itself (five zones x deferrable share x deadline x forecast, one
zone-year of hourly re-plans per point; docs/replan.md):

    tpf replan --multirun grid=electricitymaps \\
      grid.csv_path=$(ls ../shared/data/carbon/electricitymaps_2023/*.csv | paste -sd,) \\
      'grid.start_utc="2023-01-01 00:00"' replan.days=365 \\
      replan.forecast=seasonal_naive,persistence,seasonal_naive_week \\
      workload.deferrable_share=0.25,0.5 workload.deadline_h=4,12,24 hydra.launcher.n_jobs=2
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

COLUMNS = ("zone", "deferrable_share", "deadline_h", "forecast", "operational_saved_vs_agnostic_pct",
           "oracle_operational_saved_vs_agnostic_pct", "saved_vs_agnostic_pct", "oracle_saved_vs_agnostic_pct",
           "regret_pct", "forecast_mape", "deadline_misses", "carbon_kg_agnostic", "embodied_kg", "wall_s_total")


def collect(folders: list[Path]) -> pd.DataFrame:
    rows = []
    for folder in folders:
        for summary_path in sorted(folder.glob("*/summary.json")):
            summary = json.loads(summary_path.read_text())
            if summary.get("status") != "ok":
                continue
            rows.append({key: summary.get(key) for key in COLUMNS})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table.sort_values(["zone", "deferrable_share", "deadline_h", "forecast"]).reset_index(drop=True)


def markdown(table: pd.DataFrame) -> str:
    header = ["zone", "share", "deadline h", "forecast", "op. saved %", "oracle op. saved %", "saved % (incl. embodied)",
              "oracle saved %", "regret %", "MAPE", "misses", "wall s"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in table.itertuples(index=False):
        cells = [row.zone, f"{row.deferrable_share:g}", f"{row.deadline_h:g}", row.forecast,
                 f"{row.operational_saved_vs_agnostic_pct:.2f}", f"{row.oracle_operational_saved_vs_agnostic_pct:.2f}",
                 f"{row.saved_vs_agnostic_pct:.2f}", f"{row.oracle_saved_vs_agnostic_pct:.2f}",
                 f"{row.regret_pct:.2f}", f"{row.forecast_mape:.3f}", f"{row.deadline_misses:.3g}",
                 f"{row.wall_s_total:.0f}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    table = collect([Path(a) for a in argv])
    if table.empty:
        print("no finished points (summary.json with status ok) under", ", ".join(argv))
        return 1
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
