"""Decisions per second of per-query routing by text on one core, and the runtime's import time.

    python benchmarks/per_query_speed.py --estimator /tmp/est --data /tmp/mmlu_split/test.jsonl.gz

Routes every text of the file (MMLU-Pro questions with their options) through
a :class:`~tpf.policy.per_query.TextRouter` of 10 options (two models, five
budgets): one call per text (``route_text``) and in batches of ``--batch``
(``route_texts``). Rates are per CPU second of this process
(``time.process_time``, one thread: ``OMP_NUM_THREADS=1`` etc. are set before
numpy loads), the best of ``--repeats`` passes; wall-clock rates are printed
beside them. Import times are the median of 5 fresh interpreters.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tpf.cards import load_card  # noqa: E402
from tpf.estimator.data import read_questions  # noqa: E402
from tpf.estimator.energy import EnergySurface  # noqa: E402
from tpf.estimator.model import load_estimator  # noqa: E402
from tpf.policy.format import Decision, Prices  # noqa: E402
from tpf.policy.per_query import TextRouter, text_options  # noqa: E402

CARD_8B = ROOT / "tpf" / "data" / "cards" / "llama-3.1-8b@l40s.yaml"
IMPORT_SNIPPET = ("import sys, time; t = time.perf_counter(); import {module}; "
                  "print(time.perf_counter() - t, 'numpy' in sys.modules)")


def import_seconds(module: str) -> tuple[float, bool]:
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", IMPORT_SNIPPET.format(module=module)], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
        runs.append((float(out[0]), out[1] == "True"))
    return statistics.median(r[0] for r in runs), runs[0][1]


def rate(passes: int, work, n_items: int) -> tuple[float, float]:
    best_cpu, best_wall = float("inf"), float("inf")
    for _ in range(passes):
        cpu, wall = time.process_time(), time.perf_counter()
        work()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return n_items / best_cpu, n_items / best_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    estimator = load_estimator(args.estimator)
    texts = read_questions(args.data).texts
    surface = EnergySurface.from_card(load_card(CARD_8B), 16)
    decisions = [Decision(m, "cot", b) for m in ("llama-3.1-8b", "llama-3.1-70b") for b in (128, 256, 512, 1024, 2048)]
    options = text_options(decisions, estimator, {"llama-3.1-8b": surface, "llama-3.1-70b": surface},
                           lambda d, c: None, lambda d, c: None)
    router = TextRouter(estimator, options, Prices((1e-4,)))
    chars = sum(len(t) for t in texts) / len(texts)
    print(f"{len(texts)} texts, mean {chars:.0f} characters; {len(options)} options")

    def one_by_one() -> None:
        for i, text in enumerate(texts):
            router.route_text(text, hour=i % 24, carbon_g_per_kwh=300.0)

    def batched() -> None:
        for start in range(0, len(texts), args.batch):
            router.route_texts(texts[start:start + args.batch], hour=start % 24, carbon_g_per_kwh=300.0)

    def estimates_only() -> None:
        for text in texts:
            estimator.estimate(text)

    for name, work in (("route_text, one call per query", one_by_one),
                       (f"route_texts, batches of {args.batch}", batched),
                       ("estimate only, one call per query", estimates_only)):
        cpu_rate, wall_rate = rate(args.repeats, work, len(texts))
        print(f"{name:>36}: {cpu_rate:8.0f} decisions per CPU second ({wall_rate:8.0f} per wall second)")
    for module in ("tpf.policy", "tpf.policy.per_query"):
        seconds, numpy_loaded = import_seconds(module)
        print(f"import {module}: {1000 * seconds:.0f} ms (median of 5), numpy loaded: {numpy_loaded}")


if __name__ == "__main__":
    main()
