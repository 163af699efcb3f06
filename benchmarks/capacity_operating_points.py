"""Energy saved by choosing GPU counts and operating points (the capacity scenario).

Three plans of the capacity scenario (400 queries/s on average, diurnal, 64 +
64 L40S, roofline cards), all meeting the same demand:

* ``chosen``: the scenario as shipped: integer GPUs per model and hour, the
  operating point per option among batch 1, 4, 16, 32, 64, p99 TTFT <= 1 s;
* ``needed GPUs, fixed batch``: one operating point (``planner.batch_size``,
  default 8), only the GPUs it needs powered;
* ``whole fleet on, fixed batch``: the same with every GPU of the fleet powered
  (``planner.keep_fleet_on=true``); the 5 kW cap cannot carry the fleet's idle
  power, so this plan runs without the facility cap (stated in its line).

With ``--simulate`` each plan is also simulated (``--rate`` queries/s: a lower
rate keeps the simulation's memory bounded) and the simulated facility energy
printed beside the plan's.

    python benchmarks/capacity_operating_points.py
    python benchmarks/capacity_operating_points.py --simulate --rate 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.config.compose import compose  # noqa: E402
from tpf.run.scenario import run_scenario  # noqa: E402

FIXED = ["planner.operating_points=[]", "planner.ttft_p99_slo_s=null"]
PLANS = {
    "chosen GPUs and operating points": [],
    "needed GPUs, fixed batch": FIXED,
    "whole fleet on, fixed batch (no facility cap)": [*FIXED, "planner.keep_fleet_on=true",
                                                      "facility.power_cap_kw=null"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=8, help="the fixed operating point")
    parser.add_argument("--rate", type=float, default=None, help="mean queries/s (default: the scenario's 400)")
    parser.add_argument("--simulate", action="store_true")
    args = parser.parse_args()
    common = ["scenario=capacity", "report=minimal", f"planner.batch_size={args.batch_size}"]
    if args.rate:
        common.append(f"workload.total_rate_per_s={args.rate}")
    results = {}
    for name, overrides in PLANS.items():
        with tempfile.TemporaryDirectory() as run_dir:
            summary = run_scenario(compose([*common, *overrides]), "simulate" if args.simulate else "plan",
                                   "capacity", Path(run_dir))
        plan = summary["plan"]
        fleet = plan.get("fleet", {})
        idle = sum(v["idle_facility_kwh"] for v in fleet.values())
        dynamic = sum(v["dynamic_facility_kwh"] for v in fleet.values())
        gpu_h = sum(v["gpu_h_powered"] for v in fleet.values())
        results[name] = plan["facility_energy_kwh"]
        line = (f"{name}: facility {plan['facility_energy_kwh']:.2f} kWh (idle {idle:.2f}, dynamic {dynamic:.2f}), "
                f"{gpu_h:.0f} GPU-hours powered, accuracy {plan['accuracy']:.4f}")
        if args.simulate:
            line += (f"; simulated {summary['simulation']['facility_energy_kwh']:.2f} kWh "
                     f"({summary['simulation']['vs_plan_pct']['facility_energy_kwh']:+.2f}%)")
        print(line, flush=True)
    chosen = results["chosen GPUs and operating points"]
    for name, kwh in results.items():
        if kwh != chosen:
            print(f"saved vs {name}: {kwh - chosen:.2f} kWh ({100 * (1 - chosen / kwh):.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
