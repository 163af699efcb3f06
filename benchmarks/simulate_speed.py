"""Simulated requests per second of wall time, per engine, and peak memory.

One day of the Azure LLM conversation trace (one hour of real requests) tiled
over 24 hours with a synthetic diurnal rate profile (mean 1, trough/peak 0.4),
routed 70/30 over two pools with hand-made illustrative cards (not
measurements). Then a trace of ``--stream-requests`` rows (default 10
million), written to a temporary CSV day by day, is streamed in chunks through
the fluid engine in a fresh process, whose peak resident memory is reported.

    python benchmarks/simulate_speed.py ../shared/data
    python benchmarks/simulate_speed.py ../shared/data --stream-requests 0   # skip the 10M stream
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tpf.simulate import AllocationRouter, Pool, simulate, simulate_stream
from tpf.simulate.demo_cards import demo_cards
from tpf.simulate.workload import (
    diurnal_profile,
    iter_trace_chunks,
    read_azure_trace,
    tile_trace,
)

TRACE = Path("traces") / "azure_llm_2023" / "AzureLLMInferenceTrace_conv.csv"


def setup() -> tuple[AllocationRouter, list[Pool]]:
    cards = demo_cards()
    allocation = pd.DataFrame({
        "class_name": "conv", "period": 0, "option_id": ["small", "large"], "model": ["demo-8b", "demo-70b"],
        "strategy": "zero_shot", "budget_tokens": 0, "votes": 1, "share": [0.7, 0.3],
    })
    classes = pd.DataFrame({"class_name": ["conv"], "category": ["default"], "n_in_tokens": [1000.0]})
    pools = [Pool(cards["demo-8b"], gpus=(8,)), Pool(cards["demo-70b"], gpus=(16,))]
    return AllocationRouter(allocation, classes), pools


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_engine(day, router, pools, engine: str) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    result = simulate(day, router, pools, engine=engine)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{engine:>6}: {len(day):,} requests in {wall:.2f} s wall ({cpu:.2f} s CPU): "
          f"{len(day) / wall:,.0f} req/s wall, {len(day) / cpu:,.0f} req/s CPU; "
          f"IT {result.totals['it_energy_kwh']:.2f} kWh, p99 {result.totals['latency_p99_s']:.1f} s; "
          f"peak RSS so far {peak_rss_mib():.0f} MiB")


def write_long_trace(base, path: Path, n_requests: int) -> int:
    """Append tiled days (shifted by 24 h each, fresh ids) until ``n_requests`` rows are written."""
    written, day_index = 0, 0
    with open(path, "w") as handle:
        while written < n_requests:
            day = tile_trace(base, diurnal_profile(24), seed=day_index)
            day = day.take(slice(0, n_requests - written))
            frame = pd.DataFrame({"arrival_s": day.arrival_s + day_index * 86400.0,
                                  "n_in_tokens": day.n_in_tokens.astype(np.int64),
                                  "n_out_tokens": day.n_out_tokens.astype(np.int64)})
            frame.to_csv(handle, index=False, header=(day_index == 0), float_format="%.6f")
            written += len(frame)
            day_index += 1
    return day_index


def stream_only(path: Path, n_hours: int, chunk_rows: int) -> None:
    router, pools = setup()
    wall, cpu = time.perf_counter(), time.process_time()
    result = simulate_stream(iter_trace_chunks(path, chunk_rows), router, pools, n_hours)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    served = result.totals["served_queries"]
    print(f"stream: {served:,.0f} requests in {wall:.1f} s wall ({cpu:.1f} s CPU, reading the CSV included): "
          f"{served / wall:,.0f} req/s wall; chunks of {chunk_rows:,} rows; peak RSS {peak_rss_mib():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, nargs="?", help="the reference data folder (../shared/data)")
    parser.add_argument("--stream-requests", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    parser.add_argument("--stream-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--hours", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stream_only:
        stream_only(args.stream_only, args.hours, args.chunk_rows)
        return
    base = read_azure_trace(args.data_dir / TRACE)
    day = tile_trace(base, diurnal_profile(24))
    print(f"Azure conv trace: {len(base):,} requests in one hour; tiled day: {len(day):,} requests")
    router, pools = setup()
    for engine in ("fluid", "event"):
        time_engine(day, router, pools, engine)
    if args.stream_requests > 0:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "long_trace.csv"
            started = time.perf_counter()
            days = write_long_trace(base, path, args.stream_requests)
            print(f"wrote {args.stream_requests:,} rows ({path.stat().st_size / 2**20:.0f} MiB, {days} days) "
                  f"in {time.perf_counter() - started:.1f} s")
            subprocess.run([sys.executable, __file__, "--stream-only", str(path), "--hours", str(24 * days),
                            "--chunk-rows", str(args.chunk_rows)], check=True)


if __name__ == "__main__":
    main()
