"""Planner scale benchmark: build time, solve time and peak memory at about 1e4, 1e5, 1e6 variables.

For each size (classes x options x hours) it runs, each in its own process so
peak memory is its own:

* ``tpf``: ``build_model`` (validation, exact pruning of dominated options,
  column generation on the coupling rows when large, Pyomo build) then
  ``solve`` (HiGHS through Pyomo, duals, pricing check of every column,
  totals; baselines off);
* ``direct``: the same full LP (no pruning, no column generation) built as
  arrays and handed to HiGHS through highspy's own API.

It prints one line per run and whether both reach the same optimum (1e-6 relative).

    python benchmarks/plan_scale.py                       # all three sizes
    python benchmarks/plan_scale.py --sizes small medium  # skip the 1e6 case
    python benchmarks/plan_scale.py --carbon-csv ../shared/data/carbon/electricitymaps_2023/US-CAL-CISO_2023_hourly.csv
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.domain import Facility, Fleet, FleetEntry, Grid, QueryClass, Workload  # noqa: E402
from tpf.plan import PlannerSettings, build_model, solve  # noqa: E402
from tpf.plan.data import prepare  # noqa: E402
from tpf.plan.highs_direct import new_highs, pass_lp  # noqa: E402
from tpf.plan.lp import build_lp  # noqa: E402

SIZES = {"small": (50, 20, 10), "medium": (200, 20, 24), "large": (1000, 40, 24)}
MODELS = 4


def carbon_profile(path: str | None, n_hours: int, rng: np.random.Generator) -> tuple[float, ...]:
    if path:
        from tpf.carbon import read_carbon_series, window

        return tuple(window(read_carbon_series(path).hourly, None, n_hours).tolist())
    hours = np.arange(n_hours)
    return tuple((300 + 150 * np.cos(2 * np.pi * (hours - 13) / 24) + rng.normal(0, 10, n_hours)).tolist())


def instance(n_classes: int, n_options: int, n_hours: int, carbon_csv: str | None, seed: int = 0):
    """Random classes; per model an increasing accuracy-energy curve of strategies."""
    rng = np.random.default_rng(seed)
    per_model = n_options // MODELS
    rows = []
    for c in range(n_classes):
        difficulty = rng.uniform(0.0, 0.4)
        for m in range(MODELS):
            base_acc = 0.35 + 0.12 * m - difficulty + rng.normal(0, 0.03)
            base_j = 40.0 * (1.8 ** m) * rng.uniform(0.8, 1.2)
            for s in range(per_model):
                gain = (0.6 - base_acc) * (1 - np.exp(-s / 3.0)) * rng.uniform(0.8, 1.0)
                rows.append({"class_name": f"c{c}", "category": f"c{c}", "option_id": f"m{m}/s{s}",
                             "model": f"m{m}", "hardware": "gpu", "strategy": "cot" if s else "zero_shot",
                             "budget_tokens": 64 * s, "votes": 1,
                             "accuracy": float(np.clip(base_acc + gain, 0.01, 0.99)),
                             "energy_j": base_j * (1 + 2.5 * s * rng.uniform(0.8, 1.2)),
                             "gpu_s": 0.02 * (1.8 ** m) * (1 + 2.5 * s), "latency_s": 1.0,
                             "n_in_tokens": 500.0, "n_out_tokens": 1.0 + 64 * s, "idle_power_w": 60.0})
    options = pd.DataFrame(rows)
    classes = tuple(QueryClass(f"c{c}", f"c{c}", 500.0,
                               tuple((rng.uniform(0.05, 0.5) * (1 + 0.5 * np.sin(np.arange(n_hours) / 4))).tolist()))
                    for c in range(n_classes))
    workload = Workload(classes, n_periods=n_hours, period_s=3600.0)
    total_rate = sum(np.mean(c.rate_per_s) for c in classes)
    gpus = int(np.ceil(total_rate * 0.3 / 0.7)) + 2
    fleet = Fleet(tuple(FleetEntry(f"m{m}", "gpu", gpus, 0.7) for m in range(MODELS)))
    grid = Grid(carbon_profile(carbon_csv, n_hours, rng))
    mean_kw = total_rate * 150.0 / 1000.0
    # the LP: replicas relaxed to fractions (the labelled relaxation for very large studies)
    settings = PlannerSettings(it_energy_kwh_per_period=1.2 * mean_kw, carbon_budget_kg=mean_kw * n_hours * 0.3 * 1.3,
                               replicas="relaxed")
    facility = Facility((1.3,), power_cap_w=1000 * 1.3 * 1.3 * mean_kw)
    return options, workload, facility, grid, fleet, settings


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_tpf(inputs) -> dict:
    cpu_start = time.process_time()
    start = time.perf_counter()
    plan_model = build_model(*inputs)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    result = solve(plan_model, baselines=False)
    solve_s = time.perf_counter() - start
    info = plan_model.describe()
    return {"objective": result.objective, "build_s": build_s, "solve_s": solve_s,
            "cpu_s": time.process_time() - cpu_start, "columns_total": info["columns_total"], "columns_in_model": info["columns_in_model"],
            "options_pruned": info["options_pruned"], "binding": result.binding_constraints[:3],
            "timings": info["timings_s"]}


def run_direct(inputs, method: str, time_limit_s: float | None) -> dict:
    start = time.perf_counter()
    data = prepare(*inputs[:5], inputs[5].with_changes(prune_dominated=False))
    lp = build_lp(data)
    highs = new_highs(method=method, time_limit_s=time_limit_s)
    pass_lp(highs, lp)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    highs.run()
    solve_s = time.perf_counter() - start
    value = highs.getInfo().objective_function_value
    return {"objective": -value if lp.maximize else value, "build_s": build_s, "solve_s": solve_s,
            "columns_total": int(lp.matrix.shape[1]), "rows": int(lp.matrix.shape[0]),
            "status": highs.modelStatusToString(highs.getModelStatus())}


def child(args: argparse.Namespace) -> None:
    inputs = instance(*SIZES[args.child], args.carbon_csv)
    out = run_tpf(inputs) if args.engine == "tpf" else run_direct(inputs, args.direct_method, args.direct_time_limit)
    out["peak_mb"] = peak_mb()
    print(json.dumps(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--engines", nargs="+", choices=["tpf", "direct"], default=["tpf", "direct"])
    parser.add_argument("--direct-method", default="ipm", choices=["ipm", "simplex", "choose"])
    parser.add_argument("--direct-time-limit", type=float, default=None,
                        help="HiGHS time limit (s) of the direct run; its status then says so")
    parser.add_argument("--carbon-csv", default=None, help="Electricity Maps hourly CSV (first hours used)")
    parser.add_argument("--child", choices=list(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=["tpf", "direct"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    for size in args.sizes:
        shape = SIZES[size]
        objectives = {}
        for engine in args.engines:
            command = [sys.executable, __file__, "--child", size, "--engine", engine,
                       "--direct-method", args.direct_method]
            if args.direct_time_limit:
                command += ["--direct-time-limit", str(args.direct_time_limit)]
            if args.carbon_csv:
                command += ["--carbon-csv", args.carbon_csv]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{size} {engine}: failed\n{done.stderr[-2000:]}")
                continue
            out = json.loads(done.stdout.strip().splitlines()[-1])
            objectives[engine] = out["objective"]
            print(f"{size} {shape[0]}x{shape[1]}x{shape[2]} {engine:6s} vars={out['columns_total']:>8d} "
                  f"build={out['build_s']:7.2f}s solve={out['solve_s']:7.2f}s "
                  f"total={out['build_s'] + out['solve_s']:7.2f}s peak={out['peak_mb']:7.0f}MB "
                  f"objective={out['objective']:.9f} "
                  + json.dumps({k: v for k, v in out.items() if k in (
                      "columns_in_model", "options_pruned", "timings", "status", "binding", "cpu_s")}),
                  flush=True)
        if len(objectives) == 2:
            a, b = objectives["tpf"], objectives["direct"]
            print(f"{size}: relative objective difference {abs(a - b) / max(abs(b), 1e-12):.2e}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
