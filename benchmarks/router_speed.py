"""Router speed: decisions per second in one Python process, and import time of tpf.policy.

Targets: over 200,000 decisions/s; ``import tpf.policy`` under 100 ms.

The policy routes 14 MMLU-Pro categories x 3 input-length buckets (42 classes),
each with 4 weighted decisions, a day/night hourly schedule and 3 carbon bands.
Requests come from a real trace when one is given (input tokens and hour of day
of each request of the Azure LLM inference trace; categories assigned in turn),
else from a synthetic mix.

    python -m benchmarks.router_speed [--trace ../shared/data/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tpf.policy import (  # noqa: E402
    CarbonBand,
    Choice,
    Decision,
    HourEntry,
    Policy,
    PolicyClass,
    Provenance,
    Router,
)

CATEGORIES = ("biology", "business", "chemistry", "computer science", "economics", "engineering", "health",
              "history", "law", "math", "other", "philosophy", "physics", "psychology")
BUCKETS = ((0, 512), (512, 2048), (2048, None))
MODELS = ("llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b")


def _split(shift: int) -> tuple[Choice, ...]:
    weights = (0.4, 0.3, 0.2, 0.1)
    strategies = (("zero_shot", 1, 1), ("cot", 512, 1), ("cot", 2048, 1), ("mv", 256, 5))
    return tuple(
        Choice(weights[i], Decision(MODELS[(i + shift) % 4], *strategies[(i + shift) % 4]))
        for i in range(4)
    )


def benchmark_policy() -> Policy:
    classes = []
    for c, category in enumerate(CATEGORIES):
        for b, (low, high) in enumerate(BUCKETS):
            classes.append(PolicyClass(
                name=f"{category}/{b}", category=category, choices=_split(c + b),
                n_in_min_tokens=low, n_in_max_tokens=high,
                by_hour=(HourEntry(tuple(range(7, 20)), _split(c + b + 1)),
                         HourEntry((*range(0, 7), *range(20, 24)), _split(c + b + 2))),
                by_carbon=(CarbonBand(0.0, 200.0, _split(c + b + 2)), CarbonBand(200.0, 400.0, _split(c + b)),
                           CarbonBand(400.0, None, _split(c + b + 1))),
            ))
    return Policy(models=MODELS, default_category="other", classes=tuple(classes),
                  provenance=Provenance(tpf_version="bench", created_utc="2026-01-01T00:00:00Z"),
                  name="router-speed")


def trace_requests(path: Path) -> list[tuple[str, str, int, int]]:
    requests = []
    with open(path, newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            stamp = row["TIMESTAMP"]
            requests.append((f"{stamp}#{i}", CATEGORIES[i % len(CATEGORIES)], int(row["ContextTokens"]),
                             int(stamp[11:13])))
    return requests


def synthetic_requests(n: int) -> list[tuple[str, str, int, int]]:
    lengths = (40, 300, 700, 1500, 3000, 9000)
    return [(f"req-{i}", CATEGORIES[i % 14], lengths[i % 6], (i // 1000) % 24) for i in range(n)]


def decisions_per_s(router: Router, requests: list, repeat: int, carbon: bool) -> tuple[float, float]:
    """Best rate over ``repeat`` passes, per wall-clock second and per CPU second of this process
    (the second is less sensitive to other processes sharing the cores)."""
    best_wall, best_cpu = float("inf"), float("inf")
    decide = router.decide
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        if carbon:
            for rid, category, n_in, hour in requests:
                decide(rid, category, n_in, hour, 150.0 + hour * 15.0)
        else:
            for rid, category, n_in, hour in requests:
                decide(rid, category, n_in, hour)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return len(requests) / best_wall, len(requests) / best_cpu


def import_times_s(runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of ``import tpf.policy`` in fresh interpreters (startup excluded)."""
    code = ("import time; w, c = time.perf_counter(), time.process_time(); import tpf.policy; "
            "print(time.perf_counter() - w, time.process_time() - c)")
    out = []
    for _ in range(runs):
        text = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True,
                              capture_output=True, text=True).stdout.split()
        out.append((float(text[0]), float(text[1])))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trace", type=Path, help="Azure LLM inference trace CSV (TIMESTAMP, ContextTokens, ...)")
    parser.add_argument("--n", type=int, default=200_000, help="synthetic requests when no trace is given")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best is reported")
    parser.add_argument("--import-runs", type=int, default=7)
    args = parser.parse_args(argv)
    requests = trace_requests(args.trace) if args.trace else synthetic_requests(args.n)
    start = time.perf_counter()
    router = Router(benchmark_policy())
    load_ms = (time.perf_counter() - start) * 1e3
    source = f"trace {args.trace.name}" if args.trace else "synthetic mix"
    print(f"policy: {len(router.policy.classes)} classes; requests: {len(requests)} from {source}")
    print(f"router build (incl. schema check): {load_ms:.1f} ms")
    print(f"load average before timing: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for label, carbon in (("hour schedule", False), ("carbon band", True)):
        wall, cpu = decisions_per_s(router, requests, args.repeat, carbon)
        print(f"decisions per second ({label}): {wall:,.0f} per wall second, {cpu:,.0f} per CPU second  "
              "(target > 200,000)")
    times = import_times_s(args.import_runs)
    wall, cpu = [t[0] for t in times], [t[1] for t in times]
    print(f"import tpf.policy: median {statistics.median(wall) * 1e3:.1f} ms wall (min {min(wall) * 1e3:.1f}), "
          f"median {statistics.median(cpu) * 1e3:.1f} ms CPU, over {len(times)} fresh processes  (target < 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
