"""Write a demo policy from a small hand-made plan: ``python -m tpf.policy.demo OUT.json``.

Two categories; ``math`` has two input-length buckets and a split that changes
between day (07-19 h, 450 gCO2/kWh) and night (150 gCO2/kWh). The numbers are
illustrative, not measured.
"""

from __future__ import annotations

import sys

import pandas as pd

from tpf.policy.build import (
    ALLOCATION_LAYOUT,
    ClassSpec,
    default_provenance,
    expectations_from_plan,
    policy_from_plan,
)
from tpf.policy.validate import save_policy


def demo_allocation() -> pd.DataFrame:
    rows = []
    for period in range(24):
        day = 7 <= period < 20
        cot = 0.25 if day else 0.55
        rows += [
            ("math-short", period, "m8-cot512", "llama-8b", "L40S", "cot", 512, 1, cot, 1000 * cot),
            ("math-short", period, "m70-zs", "llama-70b", "L40S", "zero_shot", 0, 1, 0.85 - cot, 1000 * (0.85 - cot)),
            ("math-short", period, "m8-mv5", "llama-8b", "L40S", "mv", 128, 5, 0.15, 150.0),
            ("math-long", period, "m70-zs", "llama-70b", "L40S", "zero_shot", 0, 1, 1.0, 200.0),
            ("other", period, "m8-zs", "llama-8b", "L40S", "zero_shot", 0, 1, 1.0, 300.0),
        ]
    return pd.DataFrame(rows, columns=list(ALLOCATION_LAYOUT))


def demo_options() -> pd.DataFrame:
    return pd.DataFrame(
        [("math-short", "m8-cot512", 0.70, 300.0), ("math-short", "m70-zs", 0.80, 900.0),
         ("math-short", "m8-mv5", 0.65, 700.0), ("math-long", "m70-zs", 0.75, 1500.0),
         ("other", "m8-zs", 0.60, 200.0)],
        columns=["class_name", "option_id", "accuracy", "energy_j"],
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tpf.policy.demo OUT.json", file=sys.stderr)
        return 2
    carbon = [450.0 if 7 <= t < 20 else 150.0 for t in range(24)]
    allocation = demo_allocation()
    specs = [ClassSpec("math-short", "math", 0, 1024), ClassSpec("math-long", "math", 1024, None),
             ClassSpec("other", "other")]
    policy = policy_from_plan(
        allocation, specs, carbon_g_per_kwh=carbon, default_category="other", name="demo",
        expected=expectations_from_plan(allocation, demo_options(), pue=1.3, carbon_g_per_kwh=carbon),
        provenance=default_provenance(scenario="hand-made demo plan", plan_status="demo"),
    )
    print(f"wrote {save_policy(policy, args[0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
