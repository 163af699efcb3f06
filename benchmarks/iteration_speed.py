"""Requests simulated per second of wall time: iteration-level vs request-level event engine.

The real Azure LLM conversation trace (one hour, its own input and output
tokens) is served by ``--gpus`` L40S GPUs of Llama-3.1-8B (the shipped
published card, anchors applied per request shape), every request zero-shot,
by the event engine with request-level continuous batching and with
iteration-level batching (:mod:`tpf.simulate.iteration`), and by the fluid
engine for reference. Each engine runs ``--repeats`` times; the best wall time
is reported with the energy, p99 latency and mean batch it measured.

    python benchmarks/iteration_speed.py ../shared/data
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tpf.cards import load_card
from tpf.published_energy import PUBLISHED_CARDS_DIR
from tpf.simulate import Pool, simulate
from tpf.simulate.workload import read_azure_trace

TRACES = Path("traces") / "azure_llm_2023"


class ZeroShot8B:
    def decide(self, request_id, category, n_in_tokens, hour):
        return ("llama-3.1-8b", "zero_shot", 0, 1)


def run(requests, pool: Pool, engine: str, batching: str, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = simulate(requests, ZeroShot8B(), [pool], engine=engine, batching=batching,
                          idle_mode="unbusy", keep_records=True)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="the shared data folder (holds traces/azure_llm_2023)")
    parser.add_argument("--trace", default="conv", choices=("conv", "code"))
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    requests = read_azure_trace(args.data_dir / TRACES / f"AzureLLMInferenceTrace_{args.trace}.csv")
    pool = Pool(load_card(PUBLISHED_CARDS_DIR / "llama-3.1-8b@l40s.yaml"), gpus=(args.gpus,))
    print(f"Azure {args.trace}: {len(requests)} requests over {requests.arrival_s[-1] / 3600:.2f} h, "
          f"{args.gpus} x L40S, Llama-3.1-8B zero-shot")
    print(f"{'engine':<28}{'wall s':>9}{'requests/s':>13}{'IT kWh':>10}{'p99 s':>9}{'mean batch':>12}")
    for engine, batching in (("event", "iteration"), ("event", "continuous"), ("fluid", "continuous")):
        wall_s, result = run(requests, pool, engine, batching, args.repeats)
        label = f"{engine} ({batching})" if engine == "event" else engine
        batch = result.records["batch_size"].mean()
        print(f"{label:<28}{wall_s:>9.2f}{len(requests) / wall_s:>13,.0f}{result.totals['it_energy_kwh']:>10.3f}"
              f"{result.totals['latency_p99_s']:>9.2f}{batch:>12.2f}")


if __name__ == "__main__":
    main()
