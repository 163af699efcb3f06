"""The simulator against a serving engine: each recorded replay re-run by ``tpf.simulate`` with the fitted card.

    python benchmarks/engine_sim_compare.py \\
        --card calibration/data/cpu-amd-epyc/smollm2-135m-shape/card_vllm.yaml \\
        --replays calibration/data/cpu-amd-epyc/smollm2-135m-shape/replay [--plan-load poisson_half]

For every replay folder (``records.csv`` and ``summary.json`` of
``benchmarks/engine_replay.py``) the same requests (arrival times, input and
output tokens) go through ``tpf.simulate.simulate(engine="event")`` on one
replica of the card with the engine's batch limit. The simulator has no time to
first token; it is taken as the request's wait, plus its own prefill (the
card's window of a one-token request alone, ``duration_s(n_in, 1, 1)``), plus
one decode step at its batch size (``duration_s(n_in, 2, B) - duration_s(n_in,
1, B)``): in continuous batching a new prompt is prefilled beside the running
requests' decode step. Its running batch is the time-average of requests in service (sum of
service windows over the span). Printed per replay: TTFT and end-to-end p50 and
p99, mean running batch and throughput, engine vs simulator and the difference
in percent (simulator over engine, minus 1). Only ``tpf.simulate``'s public API
is used, so the script runs against any version of the simulator.

``--plan-load NAME``: the planner's price of that replay's query (its option
pricing, ``tpf.cost.query.price_query``, at the card's operating points and at
the replay's mean running batch): CPU-seconds (GPU-seconds) per query and
window, against the replay's engine busy seconds per query.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.replay import latency_summary, replay_summary
from tpf.cards import EnergyCard, load_card
from tpf.cost.query import TokenRule, price_query
from tpf.simulate import Pool, simulate
from tpf.simulate.workload import RequestBatch

METRICS = ("ttft_p50_s", "ttft_p99_s", "e2e_p50_s", "e2e_p99_s", "mean_running_batch", "throughput_tokens_per_s")


class OneModel:
    """Every request to the card's model, zero-shot (the replay's own output lengths)."""

    def __init__(self, model: str):
        self.model = model

    def decide(self, request_id: int, category: str, n_in_tokens: float, hour: int) -> tuple[str, str, int, int]:
        return self.model, "zero_shot", 0, 1


def simulate_replay(card: EnergyCard, records: pd.DataFrame, max_batch: int,
                    batching: str = "continuous") -> dict[str, float]:
    """The simulator's figures for the replayed requests."""
    order = records.sort_values("arrival_s", kind="stable").reset_index(drop=True)
    batch = RequestBatch(
        request_id=np.arange(len(order), dtype=np.int64), arrival_s=order["arrival_s"].to_numpy(float),
        n_in_tokens=order["n_in_tokens"].to_numpy(float), n_out_tokens=order["n_out_tokens"].to_numpy(float),
        category_code=np.zeros(len(order), dtype=np.int64))
    result = simulate(batch, OneModel(card.model), [Pool(card, gpus=(card.gpus_per_replica,), max_batch_size=max_batch)],
                      engine="event", keep_records=True, idle_mode="unbusy", batching=batching)
    sim = result.records.sort_values("request_id").reset_index(drop=True)
    n_in, size = sim["n_in_tokens"].to_numpy(float), sim["batch_size"].to_numpy(float)
    first_s = np.asarray(card.duration_s(n_in, 1.0, 1.0)) + np.asarray(card.duration_s(n_in, 2.0, size)
                                                                        - card.duration_s(n_in, 1.0, size))
    # the iteration-level engine times each request's first token itself; the request-level one
    # has no first token, estimated here as wait + own prefill at batch 1 + one decode step
    simulated_first = sim["ttft_s"].to_numpy(float) if batching == "iteration" else sim["wait_s"] + first_s
    frame = pd.DataFrame({"arrival_s": sim["arrival_s"], "n_out_tokens": order["n_out_tokens"],
                          "first_token_s": sim["arrival_s"] + simulated_first,
                          "finish_s": sim["arrival_s"] + sim["latency_s"]})
    summary = latency_summary(frame)
    service = (sim["latency_s"] - sim["wait_s"]).sum()
    summary["mean_running_batch"] = float(service / summary["span_s"])
    return summary


def engine_summary(folder: Path) -> dict[str, float]:
    """The replay's figures, recomputed from its records and iteration log."""
    meta = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    summary = replay_summary(pd.read_csv(folder / "records.csv"), pd.read_csv(folder / "iterations.csv"))
    return {**meta, **summary}


def compare(card: EnergyCard, folder: Path, max_batch: int, batching: str = "continuous") -> pd.DataFrame:
    records = pd.read_csv(folder / "records.csv")
    engine = engine_summary(folder)
    sim = simulate_replay(card, records, max_batch, batching)
    rows = [{"replay": folder.name, "metric": m, "engine": engine[m], "simulator": sim[m],
             "diff_pct": 100.0 * (sim[m] / engine[m] - 1.0) if engine[m] else float("nan")} for m in METRICS]
    return pd.DataFrame(rows)


def plan_check(card: EnergyCard, folder: Path) -> pd.DataFrame:
    """The planner's price of the replay's typical query at each operating point, against the replay."""
    records = pd.read_csv(folder / "records.csv")
    engine = engine_summary(folder)
    n_in, n_out = float(records["n_in_tokens"].mean()), float(records["n_out_tokens"].mean())
    levels = sorted({*np.linspace(card.valid_range.batch_size[0], card.valid_range.batch_size[1], 2),
                     8.0, round(engine["mean_running_batch"], 2)})
    rows = []
    for level in levels:
        cost = price_query(card, "default", "zero_shot", 0, 1, n_in, TokenRule(n_out, None, 1.0), float(level))
        rows.append({"operating_batch": level, "plan_cpu_s_per_query": cost.gpu_s, "plan_window_s": cost.latency_s,
                     "replay_busy_s_per_query": engine["engine_busy_s_per_query"],
                     "replay_mean_running_batch": engine["mean_running_batch"],
                     "diff_pct": 100.0 * (cost.gpu_s / engine["engine_busy_s_per_query"] - 1.0)})
    return pd.DataFrame(rows)


def step_check(card: EnergyCard, folder: Path) -> pd.DataFrame:
    """The engine's iteration time by running batch (its log) against the card's decode step at that batch.

    The card's step is ``duration(n_in, n_out + 1, B) - duration(n_in, n_out, B)`` at the replay's mean
    tokens: where the engine's steps are slower than the card's, the card (or the machine's load since
    the sweep) explains the latency difference, not the simulator's queueing.
    """
    records = pd.read_csv(folder / "records.csv")
    log = pd.read_csv(folder / "iterations.csv")
    gaps = np.diff(log["clock_s"].to_numpy(float))
    running = log["running"].to_numpy(float)[1:]
    keep = gaps < 2.0  # longer gaps: the engine was idle
    steps = pd.DataFrame({"gap_s": gaps[keep], "running": running[keep]})
    steps["batch_bin"] = pd.cut(steps["running"], [0, 1, 2, 4, 8, 16, 24, 32, 64, 256])
    table = steps.groupby("batch_bin", observed=True).agg(iterations=("gap_s", "size"), running=("running", "mean"),
                                                         engine_median_s=("gap_s", "median"),
                                                         engine_mean_s=("gap_s", "mean")).reset_index()
    n_in, n_out = float(records["n_in_tokens"].mean()), float(records["n_out_tokens"].mean())
    table["card_step_s"] = [float(card.duration_s(n_in, n_out + 1, b) - card.duration_s(n_in, n_out, b))
                            for b in table["running"]]
    table["mean_over_card"] = table["engine_mean_s"] / table["card_step_s"]
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--card", required=True)
    parser.add_argument("--replays", required=True, help="folder of replay folders (records.csv, summary.json)")
    parser.add_argument("--max-batch", type=int, default=None, help="batch limit (default: the card's max_batch_size)")
    parser.add_argument("--plan-load", default=None, help="replay folder name for the plan check")
    parser.add_argument("--out", default=None, help="write the comparison table here (CSV)")
    parser.add_argument("--batching", default="continuous", choices=("continuous", "iteration"),
                        help="the event engine's batching: request-level (continuous) or iteration-level")
    args = parser.parse_args(argv)
    card = load_card(args.card)
    max_batch = args.max_batch or card.max_batch_size
    folders = sorted(p.parent for p in Path(args.replays).glob("*/records.csv"))
    if not folders:
        raise SystemExit(f"{args.replays}: no replay folders (records.csv) found")
    table = pd.concat([compare(card, folder, max_batch, args.batching) for folder in folders],
                      ignore_index=True)
    pd.set_option("display.width", 160)
    print(f"card {card.model}@{card.hardware}: {card.method}; batch limit {max_batch}; {args.batching} batching")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        table.to_csv(args.out, index=False)
    for folder in folders:
        print(f"\nengine iteration time against the card's step, {folder.name}:")
        print(step_check(card, folder).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.plan_load:
        print(f"\nplan check on {args.plan_load}:")
        print(plan_check(card, Path(args.replays) / args.plan_load).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
