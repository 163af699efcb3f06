"""Time the infeasibility diagnosis of a plan of about 1e5 variables.

Uses ``benchmarks/plan_scale.py``'s instances. The carbon budget is cut to a
fraction of the instance's budget (and optionally the facility power cap), so the
plan is infeasible; prints the time of ``solve`` up to ``InfeasiblePlanError``
(``--what plan``) or of ``diagnose`` on the built model alone (``--what
diagnose``), peak memory and the first shortfalls.

    python benchmarks/plan_diagnose_scale.py --carbon-fraction 0.1
    python benchmarks/plan_diagnose_scale.py --carbon-fraction 1.0 --power-fraction 0.15
    python benchmarks/plan_diagnose_scale.py --what diagnose --engine pyomo
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from plan_scale import SIZES, instance  # noqa: E402

from tpf.domain import Facility  # noqa: E402
from tpf.errors import InfeasiblePlanError  # noqa: E402
from tpf.plan import build_model, diagnose, solve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="medium", choices=list(SIZES))
    parser.add_argument("--carbon-fraction", type=float, default=0.5)
    parser.add_argument("--power-fraction", type=float, default=1.0)
    parser.add_argument("--what", default="plan", choices=["plan", "diagnose"])
    parser.add_argument("--engine", default=None, help="diagnose engine: auto, direct, column_generation, pyomo")
    args = parser.parse_args()
    options, workload, facility, grid, fleet, settings = instance(*SIZES[args.size], None)
    settings = settings.with_changes(carbon_budget_kg=settings.carbon_budget_kg * args.carbon_fraction)
    facility = Facility(facility.pue, power_cap_w=facility.power_cap_w * args.power_fraction)
    start = time.perf_counter()
    model = build_model(options, workload, facility, grid, fleet, settings)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    if args.what == "plan":
        try:
            solve(model, baselines=False)
            raise SystemExit("expected an infeasible plan; lower --carbon-fraction")
        except InfeasiblePlanError as exc:
            shortfalls = exc.diagnosis
    else:
        shortfalls = diagnose(model, **({"engine": args.engine} if args.engine else {}))
    rest_s = time.perf_counter() - start
    print(json.dumps({
        "size": args.size, "columns": int(model.data.n_columns), "what": args.what,
        "engine": args.engine, "build_s": round(build_s, 2), "solve_or_diagnose_s": round(rest_s, 2),
        "total_s": round(build_s + rest_s, 2),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "shortfalls": [s.message for s in shortfalls[:4]], "n_shortfalls": len(shortfalls),
    }))


if __name__ == "__main__":
    main()
