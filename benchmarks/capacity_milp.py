"""Capacity MILP benchmark: whole replicas per model, operating point and hour, a p99 TTFT SLO.

A synthetic instance of 24 hours x 50 classes x 4 models x 5 operating points
(batch 1, 4, 16, 32, 64) x 3 strategies per model: the least facility energy
that reaches a query-weighted accuracy target, with whole replicas per model,
operating point and hour (``replicas="integer"``, the default: each replica's
load forms at least 0.7 of its batch) and integer powered GPUs per model and
hour (each paying its idle power), GPU capacity, a facility power cap
and the tail-latency rows (Erlang C per replica). Per operating point ``B`` a
query's window is ``a + b*B`` seconds (GPU time ``window / B``) and its energy
``e_dyn + e_static / B``: a larger batch saves energy and GPUs and costs latency.

    python benchmarks/capacity_milp.py                 # 1% gap, 60 s limit
    python benchmarks/capacity_milp.py --gap 0.001 --time-limit 120

It prints the model size, build and solve times (wall clock, and the process's
CPU time: on a shared machine the wall clock counts other jobs' time), the
status, the gap reached and the load average of the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.domain import Facility, Fleet, FleetEntry, Grid, QueryClass, Workload  # noqa: E402
from tpf.plan import PlannerSettings, build_model, solve  # noqa: E402
from tpf.plan.queueing import max_utilization  # noqa: E402

BATCHES = (1, 4, 16, 32, 64)
MODELS = 4
STRATEGIES = 3
HOURS = 24
CLASSES = 50
DIURNAL = 1 + 0.6 * np.sin(2 * np.pi * (np.arange(HOURS) - 8) / 24)


def options(rng: np.random.Generator, ttft_slo_s: float, n_classes: int) -> pd.DataFrame:
    rows = []
    for c in range(n_classes):
        difficulty = rng.uniform(0.0, 0.3)
        for m in range(MODELS):
            base_acc = 0.40 + 0.10 * m - difficulty
            step_s = 0.012 * 1.7 ** m                     # per-token step time at batch 1
            for s in range(STRATEGIES):
                tokens = 8 + 120 * s
                accuracy = float(np.clip(base_acc + 0.08 * (1 - np.exp(-s)), 0.01, 0.99))
                for batch in BATCHES:
                    window_s = tokens * step_s * (1 + 0.02 * batch)
                    energy_j = tokens * (0.6 * 1.8 ** m) * (0.25 + 0.75 / batch ** 0.7)
                    rows.append({"class_name": f"c{c}", "category": f"c{c}", "option_id": f"m{m}/s{s}/b{batch}",
                                 "model": f"m{m}", "hardware": "gpu", "strategy": "cot" if s else "zero_shot",
                                 "budget_tokens": 120 * s, "votes": 1, "accuracy": accuracy,
                                 "energy_j": energy_j, "gpu_s": window_s / batch, "latency_s": window_s,
                                 "n_in_tokens": 500.0, "n_out_tokens": float(tokens), "batch_size": float(batch),
                                 "idle_power_w": 60.0 + 20.0 * m,
                                 "prefill_s": 0.05 * 1.5 ** m * (1 + 0.02 * batch)})
    table = pd.DataFrame(rows)
    table["ttft_max_utilization"] = max_utilization(table["batch_size"], table["latency_s"], table["prefill_s"],
                                                    ttft_slo_s)
    return table[table["ttft_max_utilization"] > 0].reset_index(drop=True)


def instance(seed: int, total_rate_per_s: float, ttft_slo_s: float, n_classes: int = CLASSES):
    rng = np.random.default_rng(seed)
    table = options(rng, ttft_slo_s, n_classes)
    weights = rng.dirichlet(np.ones(n_classes))
    classes = tuple(QueryClass(f"c{c}", f"c{c}", 500.0, tuple((total_rate_per_s * weights[c] * DIURNAL).tolist()))
                    for c in range(n_classes))
    workload = Workload(classes, n_periods=HOURS, period_s=3600.0)
    fleet = Fleet(tuple(FleetEntry(f"m{m}", "gpu", 200, 0.8) for m in range(MODELS)))
    grid = Grid(tuple((300 + 100 * np.cos(2 * np.pi * (np.arange(HOURS) - 13) / 24)).tolist()))
    facility = Facility((1.3,), power_cap_w=200_000.0)
    settings = PlannerSettings(objective="min_facility_energy", accuracy_target=0.55, integer_gpus=True)
    return table, workload, facility, grid, fleet, settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gap", type=float, default=0.01, help="relative MIP gap (default 1%%)")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=400.0, help="mean queries/s over all classes")
    parser.add_argument("--ttft-slo-s", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", type=int, default=CLASSES)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    inputs = instance(args.seed, args.rate, args.ttft_slo_s, args.classes)
    cpu_start = time.process_time()
    start = time.perf_counter()
    plan_model = build_model(*inputs)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    result = solve(plan_model, mip_gap=args.gap, time_limit_s=args.time_limit, baselines=False)
    solve_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    info = plan_model.describe()
    gpus = result.gpus_on
    print(f"capacity MILP {HOURS}h x {args.classes} classes x {MODELS} models x {len(BATCHES)} operating points "
          f"x {STRATEGIES} strategies: options={len(inputs[0])} share columns={info['columns_total']} "
          f"(in model {info['columns_in_model']}) integer GPUs={MODELS * HOURS}")
    print(f"build={build_s:.2f}s solve={solve_s:.2f}s total={build_s + solve_s:.2f}s (CPU {cpu_s:.2f}s) "
          f"status={result.status} "
          f"objective={result.objective:.4f} kWh mip_gap={result.solver_info.get('mip_gap', float('nan')):.4%} "
          f"(asked {args.gap:.2%}) duals_from={result.solver_info.get('duals_from')}")
    print(f"GPU-hours powered per model: {gpus.groupby('model')['gpus_on'].sum().to_dict()}; "
          f"query-weighted operating point: {result.allocation.eval('queries * batch_size').sum() / result.allocation['queries'].sum():.1f}")
    points = result.replicas
    lowest = points["batch_size"] <= points.groupby("model")["batch_size"].transform("min")
    formed = points["batch_formed"] >= 0.7 * points["batch_size"] * (1 - 1e-6)
    print(f"integer replicas={MODELS * HOURS * len(BATCHES)}; powered (model, point, hour)s={len(points)}, "
          f"replicas whole: {bool((points['replicas'] == points['replicas'].round()).all())}, "
          f"batch formed (load x window >= 0.7 B) above the lowest point: {bool(formed[~lowest].all())}, "
          f"worst p99 TTFT {points['ttft_p99_s'].max():.3f} s")
    print(f"load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
