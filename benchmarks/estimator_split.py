"""Write a seeded, category-stratified split of a question file (for estimator benchmarks).

    python benchmarks/estimator_split.py ../shared/data/accuracy/mmlu_pro_questions/train.jsonl.gz \\
        --test-share 0.2 --seed 0 --out /tmp/mmlu_split

writes ``train.jsonl.gz`` and ``test.jsonl.gz`` under ``--out`` (outside the
repository: the data is not shipped). Per category (sorted), row indices are
permuted with ``numpy.random.default_rng(seed)`` and ``round(share * n)`` go to test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.estimator.data import stratified_split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with gzip.open(args.data, "rt", encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    categories = [json.loads(line)["category"] for line in lines]
    train, test = stratified_split(categories, args.test_share, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("test", test)):
        with gzip.open(out / f"{name}.jsonl.gz", "wt", encoding="utf-8") as handle:
            handle.writelines(lines[i] for i in rows)
        print(f"{name}: {len(rows)} rows -> {out / f'{name}.jsonl.gz'}")


if __name__ == "__main__":
    main()
