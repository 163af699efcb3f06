"""Replay traces against a running serving engine (vLLM), optionally after a calibration sweep in the same engine.

    PYTHONPATH=. taskset -c 0,1 /work/venvs/vllm/bin/python benchmarks/engine_replay.py \\
        --out calibration/data/{hardware}/smollm2-135m-shape/replay \\
        --sweep-out 'calibration/data/{hardware}' --sweep-n-in 32,128,256 --sweep-n-out 16,64 --sweep-batch 1,8,32 \\
        --poisson light:0.15,half:0.5,near:0.9 --poisson-n-in 128 --poisson-n-out 32 --duration-s 120 \\
        --azure ../shared/data/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv --azure-load 0.5

One engine serves everything (vLLM's start on a CPU takes minutes): the
calibration sweep (``calibration.engine_sweep``, the table the card is fitted
from) runs first, then each replay in turn. Loads are fractions of the
saturation rate: the sweep's output tokens/s at its largest batch for the
Poisson lengths (``--saturation-tokens-per-s`` gives it without a sweep).

* ``--poisson NAME:FRACTION,...``: Poisson arrivals for ``--duration-s`` at
  ``FRACTION x saturation / n_out`` requests/s, every request
  ``--poisson-n-in`` in and ``--poisson-n-out`` out.
* ``--azure PATH``: the Azure LLM conversation trace from its first row,
  lengths scaled by ``--azure-length-scale`` (clipped to ``--azure-max-in`` /
  ``--azure-max-out``) and arrival times stretched so that the offered output
  tokens/s are ``--azure-load x saturation``; requests arriving within
  ``--duration-s`` of the stretched trace are sent.

Per replay, in ``--out/NAME/``: ``records.csv`` (request id, scheduled arrival,
submit, first token, finish, tokens; s from the replay start),
``iterations.csv`` (the engine's running and waiting requests and KV-cache use
per iteration), ``summary.json`` (TTFT and end-to-end p50/p99, throughput, mean
running batch, the scaling applied, machine load before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.engine import EngineSettings, ServingEngine, build_engine
from calibration.engine_sweep import (
    EngineSweepSettings,
    cpu_label,
    machine_load_1min,
    run_engine_sweep_async,
)
from calibration.pipeline import MeterSettings
from calibration.replay import ReplayRequest, replay, replay_summary
from calibration.run import int_list
from calibration.sweep import SweepGrid


def poisson_requests(rate_per_s: float, duration_s: float, n_in: int, n_out: int, seed: int) -> list[ReplayRequest]:
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / rate_per_s, size=int(rate_per_s * duration_s * 2) + 10)
    arrivals = np.cumsum(gaps)
    arrivals = arrivals[arrivals < duration_s]
    return [ReplayRequest(i, float(a), n_in, n_out) for i, a in enumerate(arrivals)]


def azure_requests(path: str, saturation_tokens_per_s: float, load: float, duration_s: float, length_scale: float,
                   max_in: int, max_out: int) -> tuple[list[ReplayRequest], dict]:
    trace = pd.read_csv(path, nrows=20000)
    seconds = (pd.to_datetime(trace["TIMESTAMP"]) - pd.to_datetime(trace["TIMESTAMP"].iloc[0])).dt.total_seconds()
    n_in = np.clip(np.round(trace["ContextTokens"] * length_scale), 1, max_in).astype(int)
    n_out = np.clip(np.round(trace["GeneratedTokens"] * length_scale), 2, max_out).astype(int)
    trace_rate = len(trace) / float(seconds.iloc[-1])
    target_rate = load * saturation_tokens_per_s / float(n_out.mean())
    stretch = trace_rate / target_rate
    arrivals = seconds.to_numpy() * stretch
    keep = arrivals < duration_s
    requests = [ReplayRequest(i, float(a), int(i_), int(o)) for i, (a, i_, o) in
                enumerate(zip(arrivals[keep], n_in[keep], n_out[keep], strict=True))]
    scaling = {"trace": path, "length_scale": length_scale, "max_in": max_in, "max_out": max_out,
               "trace_rate_per_s": trace_rate, "target_rate_per_s": target_rate, "time_stretch": stretch,
               "offered_load_fraction": load, "requests": len(requests)}
    return requests, scaling


def saturation_from_sweep(table: Path, n_in: int, n_out: int) -> float:
    """Output tokens/s at the sweep's largest batch for the cell nearest (n_in, n_out)."""
    rows = pd.read_csv(table)
    rows = rows[(rows["status"] == "ok") & ~rows["warmup"].astype(str).str.lower().eq("true")]
    cell_in = rows["n_in_tokens"].iloc[(rows["n_in_tokens"] - n_in).abs().argmin()]
    cell_out = rows["n_out_tokens"].iloc[(rows["n_out_tokens"] - n_out).abs().argmin()]
    cell = rows[(rows["n_in_tokens"] == cell_in) & (rows["n_out_tokens"] == cell_out)]
    top = cell[cell["batch_size"] == cell["batch_size"].max()]
    return float(top["output_tokens_per_s"].median())


def write_replay(out: Path, name: str, records: pd.DataFrame, log: pd.DataFrame, meta: dict) -> dict:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    records.to_csv(folder / "records.csv", index=False)
    log.to_csv(folder / "iterations.csv", index=False)
    summary = {**replay_summary(records, log), **meta}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in summary.items() if isinstance(v, float)), flush=True)
    return summary


async def run_replays(engine: ServingEngine, args: argparse.Namespace, saturation: float, out: Path) -> None:
    jobs: list[tuple[str, list[ReplayRequest], dict]] = []
    for index, item in enumerate(filter(None, args.poisson.split(","))):
        name, fraction = item.split(":")
        rate = float(fraction) * saturation / args.poisson_n_out
        requests = poisson_requests(rate, args.duration_s, args.poisson_n_in, args.poisson_n_out, args.seed + index)
        jobs.append((f"poisson_{name}", requests, {"kind": "poisson", "load_fraction": float(fraction),
                                                   "rate_per_s": rate, "n_in": args.poisson_n_in,
                                                   "n_out": args.poisson_n_out, "duration_s": args.duration_s}))
    if args.azure:
        requests, scaling = azure_requests(args.azure, saturation, args.azure_load, args.duration_s,
                                           args.azure_length_scale, args.azure_max_in, args.azure_max_out)
        jobs.append(("azure_conv", requests, {"kind": "azure_conv", **scaling}))
    for name, requests, meta in jobs:
        load_before = machine_load_1min()
        records, log = await replay(engine, requests, seed=args.seed)
        write_replay(out, name, records, log, {**meta, "saturation_tokens_per_s": saturation,
                                              "machine_load_1min_before": load_before,
                                              "machine_load_1min_after": machine_load_1min(),
                                              "engine": engine.describe()})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder of the replays ({hardware}: the device label)")
    parser.add_argument("--engine", default="vllm", choices=("vllm", "fake"))
    parser.add_argument("--model", default="smollm2-135m-shape")
    parser.add_argument("--model-dir", default="outputs/engine-model")
    parser.add_argument("--max-num-seqs", type=int, default=32)
    parser.add_argument("--kv-cache-gib", type=float, default=2.0)
    parser.add_argument("--hardware", default="auto")
    parser.add_argument("--sweep-out", default=None, help="run the calibration sweep first, into this folder")
    parser.add_argument("--sweep-n-in", type=int_list, default=(32, 128, 256))
    parser.add_argument("--sweep-n-out", type=int_list, default=(16, 64))
    parser.add_argument("--sweep-batch", type=int_list, default=(1, 8, 32))
    parser.add_argument("--sweep-repetitions", type=int, default=2)
    parser.add_argument("--sweep-mode", default="batch", choices=("batch", "steady"))
    parser.add_argument("--saturation-tokens-per-s", type=float, default=None)
    parser.add_argument("--poisson", default="light:0.15,half:0.5,near:0.9")
    parser.add_argument("--poisson-n-in", type=int, default=128)
    parser.add_argument("--poisson-n-out", type=int, default=32)
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--azure", default=None, help="AzureLLMInferenceTrace_conv.csv")
    parser.add_argument("--azure-load", type=float, default=0.5)
    parser.add_argument("--azure-length-scale", type=float, default=0.125)
    parser.add_argument("--azure-max-in", type=int, default=1024)
    parser.add_argument("--azure-max-out", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    return parser


async def session(engine: ServingEngine, settings: EngineSettings, args: argparse.Namespace, hardware: str) -> None:
    """The sweep (if asked) and the replays, in one event loop (the engine is bound to it)."""
    saturation = args.saturation_tokens_per_s
    if args.sweep_out:
        grid = SweepGrid(tuple(args.sweep_n_in), tuple(args.sweep_n_out), tuple(args.sweep_batch),
                         args.sweep_repetitions, 0)
        sweep = EngineSweepSettings(settings, args.sweep_out, grid, MeterSettings(kind="none"), hardware,
                                    mode=args.sweep_mode)
        table = await run_engine_sweep_async(sweep, engine)
        saturation = saturation or saturation_from_sweep(table, args.poisson_n_in, args.poisson_n_out)
    if saturation is None:
        raise SystemExit("give --sweep-out or --saturation-tokens-per-s")
    print(f"saturation: {saturation:.1f} output tokens/s", flush=True)
    await run_replays(engine, args, saturation, Path(args.out.replace("{hardware}", hardware)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = EngineSettings(args.engine, args.model, args.model_dir, max_num_seqs=args.max_num_seqs,
                              kv_cache_gib=args.kv_cache_gib, seed=args.seed)
    hardware = cpu_label() if args.hardware == "auto" else args.hardware
    engine = build_engine(settings)
    try:
        asyncio.run(session(engine, settings, args, hardware))
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
