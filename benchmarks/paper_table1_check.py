"""Compare a paper_l40s run's options.csv and plan.csv with EuroMLSys'25 Table 1.

    PYTHONPATH=$PWD tpf plan            # writes outputs/plan/<time>/
    python benchmarks/paper_table1_check.py outputs/plan/<time>

Per category: the 1B zero-shot energy per query (against the documented reading,
printed J per category / 1,755 assumed items), the 8B/1B, MV-16/1B and CoT-512/1B
energy ratios of the option table against the printed ratios, and the share of the
category's queries the plan sends to each (model, strategy).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.published import ASSUMED_ITEMS_PER_CATEGORY, table1_energy_ratios  # noqa: E402

VARIANTS = (("8B/1B", "llama-3.1-8b", "zero_shot", 0, 1, "Llama-3.1-8B"),
            ("MV16/1B", "llama-3.2-1b", "mv", 0, 16, "Llama-3.2-1B"),
            ("CoT512/1B", "llama-3.2-1b", "cot", 512, 1, "Llama-3.2-1B"))


def energy(options: pd.DataFrame, category: str, model: str, strategy: str, budget: int, votes: int) -> float:
    row = options[(options["class_name"] == category) & (options["model"] == model)
                  & (options["strategy"] == strategy) & (options["budget_tokens"] == budget)
                  & (options["votes"] == votes)]
    return float(row["energy_j_per_query"].iloc[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    options = pd.read_csv(args.run_dir / "options.csv")
    plan = pd.read_csv(args.run_dir / "plan.csv")
    table = table1_energy_ratios()
    worst = 0.0
    for category, printed in table.groupby("category"):
        base = energy(options, category, "llama-3.2-1b", "zero_shot", 0, 1)
        reading = float(printed.iloc[0]["energy_j_per_category"]) / ASSUMED_ITEMS_PER_CATEGORY
        cells = [f"{category:17s} 1B {base:6.2f} J (reading {reading:6.2f})"]
        for label, model, strategy, budget, votes, paper_model in VARIANTS:
            ratio = energy(options, category, model, strategy, budget, votes) / base
            paper = float(printed[(printed["model"] == paper_model) & (printed["strategy"] == strategy)]["energy_ratio"].iloc[0])
            worst = max(worst, abs(ratio / paper - 1))
            cells.append(f"{label} {ratio:7.2f} (Table 1 {paper:7.2f})")
        mine = plan[plan["class_name"] == category]
        shares = mine.groupby(["model", "strategy"])["queries"].sum() / mine["queries"].sum()
        cells.append("plan: " + ", ".join(f"{m}/{s} {v:.0%}" for (m, s), v in shares.items() if v > 0.005))
        print("  ".join(cells))
    print(f"largest relative difference from Table 1's ratios: {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
