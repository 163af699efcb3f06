"""CPU seconds per estimate of one query text (what a per-query decision costs), per estimator folder.

    OMP_NUM_THREADS=1 python benchmarks/estimator_route_time.py --data /tmp/mmlu_split/test.jsonl.gz \\
        --estimator /tmp/est_hashed --estimator /tmp/est_embed --n 100

Each text is estimated one at a time (``TextEstimator.estimate``, no cache: the
embedding estimator encodes every text); printed: CPU seconds per text
(``time.process_time``, which counts every thread of the process) and the
size of the estimator folder on disk.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.estimator.data import read_questions  # noqa: E402
from tpf.estimator.model import load_estimator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--estimator", action="append", required=True)
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    texts = read_questions(args.data).texts[: args.n]
    for folder in args.estimator:
        estimator = load_estimator(folder)
        estimator.estimate(texts[0])  # loads the encoder where there is one
        started = time.process_time()
        for text in texts:
            estimator.estimate(text)
        per_text = (time.process_time() - started) / len(texts)
        size = sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())
        print(f"{folder}: {per_text * 1e3:.2f} ms CPU per text over {len(texts)} texts; folder {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
