"""A small synthetic question file: categories, correctness and lengths that depend on words."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from tpf.estimator.data import read_questions
from tpf.estimator.fit import FitSettings, fit_estimator
from tpf.estimator.model import TextEstimator

VOCAB = {
    "algebra": ["integral", "matrix", "prime", "equation", "derivative", "polynomial"],
    "history": ["empire", "treaty", "dynasty", "revolution", "colonial", "monarch"],
    "biology": ["cell", "protein", "enzyme", "species", "gene", "membrane"],
}
FILLER = ["the", "which", "of", "following", "is", "a", "what", "best", "describes"]


def synthetic_rows(n_rows: int, seed: int) -> list[dict]:
    """Rows whose category shows in its words; 'hard' makes 8B wrong and long, 'easy' right and short."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_rows):
        category = sorted(VOCAB)[i % 3]
        words = list(rng.choice(VOCAB[category], 4)) + list(rng.choice(FILLER, 5))
        hard = rng.random() < 0.4
        words.append("hard" if hard else "easy")
        runaway = hard and rng.random() < 0.5
        rows.append({
            "question_id": i, "category": category, "question": " ".join(rng.permutation(words)),
            "options": ["yes", "no", "maybe", "none"],
            "correct_8b": int(not hard if rng.random() < 0.9 else hard),
            "correct_70b": int(rng.random() < (0.6 if hard else 0.95)),
            "cot_words_8b": int(1000 if runaway else (200 if hard else 40) * rng.uniform(0.8, 1.25)),
            "cot_words_70b": int((120 if hard else 30) * rng.uniform(0.8, 1.25)),
        })
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return path


@pytest.fixture(scope="session")
def question_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("questions")
    return (write_rows(folder / "train.jsonl.gz", synthetic_rows(240, 1)),
            write_rows(folder / "test.jsonl.gz", synthetic_rows(120, 2)))


@pytest.fixture(scope="session")
def estimator(question_files: tuple[Path, Path]) -> TextEstimator:
    return fit_estimator(read_questions(question_files[0]), settings=FitSettings(n_buckets=1 << 10))
