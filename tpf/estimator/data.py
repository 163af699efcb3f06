"""Reading question files: one JSON object per line, optionally gzip-compressed.

Each row needs ``question`` (text), ``options`` (list of strings, may be empty)
and ``category``; for every model tag ``T`` the estimator learns (default
``8b`` and ``70b``) the row also needs ``correct_T`` (0 or 1) and
``cot_words_T`` (words of the model's chain of thought, >= 0). This is the
layout of MMLU-Pro question files with per-question model outcomes. A bad row
raises :class:`~tpf.errors.EstimatorError` naming file, line and field.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tpf.errors import EstimatorError

DEFAULT_MODEL_TAGS = ("8b", "70b")


@dataclass
class QuestionTable:
    """Question texts with per-model outcomes (arrays aligned with ``texts``)."""

    texts: list[str]
    categories: list[str]
    correct: dict[str, np.ndarray]   # tag -> 0/1 per row
    cot_words: dict[str, np.ndarray]  # tag -> words per row
    question_ids: list[Any]
    n_options: np.ndarray | None = None  # answer options per row (chance = 1 / n_options)

    def subset(self, rows: np.ndarray) -> QuestionTable:
        return QuestionTable(
            texts=[self.texts[i] for i in rows],
            categories=[self.categories[i] for i in rows],
            correct={tag: values[rows] for tag, values in self.correct.items()},
            cot_words={tag: values[rows] for tag, values in self.cot_words.items()},
            question_ids=[self.question_ids[i] for i in rows],
            n_options=None if self.n_options is None else self.n_options[rows],
        )

    def __len__(self) -> int:
        return len(self.texts)


def query_text(question: str, options: list[str]) -> str:
    """The text a router sees for a multiple-choice question: the question, then one option per line."""
    return "\n".join([question, *options])


def _field(row: dict[str, Any], name: str, where: str) -> Any:
    if name not in row:
        raise EstimatorError(f"{where}: missing field {name!r} (has {sorted(row)})")
    return row[name]


def _number(row: dict[str, Any], name: str, where: str, allowed: str, low: float, high: float) -> float:
    value = _field(row, name, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise EstimatorError(f"{where}: field {name!r} must be {allowed}, got {value!r}")
    return float(value)


def _parse_row(row: Any, where: str, tags: tuple[str, ...]) -> tuple[str, str, list[float], list[float], Any, int]:
    if not isinstance(row, dict):
        raise EstimatorError(f"{where}: expected a JSON object, got {type(row).__name__}")
    question, options, category = (_field(row, k, where) for k in ("question", "options", "category"))
    if not isinstance(question, str) or not isinstance(category, str) or not category:
        raise EstimatorError(f"{where}: 'question' and 'category' must be strings (category non-empty)")
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise EstimatorError(f"{where}: field 'options' must be a list of strings, got {options!r:.80}")
    correct = [_number(row, f"correct_{t}", where, "0 or 1", 0, 1) for t in tags]
    if any(c not in (0.0, 1.0) for c in correct):
        raise EstimatorError(f"{where}: fields correct_* must be 0 or 1, got {correct}")
    words = [_number(row, f"cot_words_{t}", where, "a number of words in [0, 1e6]", 0, 1e6) for t in tags]
    return query_text(question, options), category, correct, words, row.get("question_id"), len(options)


def read_questions(path: str | os.PathLike[str], tags: tuple[str, ...] = DEFAULT_MODEL_TAGS) -> QuestionTable:
    """Read a ``.jsonl`` or ``.jsonl.gz`` question file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise EstimatorError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    texts, categories, correct, words, ids, n_options = [], [], [], [], [], []
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path}, line {number}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise EstimatorError(f"{where}: not valid JSON ({exc.msg})") from exc
                except RecursionError as exc:
                    raise EstimatorError(f"{where}: JSON nested too deeply to read (a question row is "
                                         "one flat object)") from exc
                text, category, row_correct, row_words, question_id, n_opts = _parse_row(row, where, tags)
                texts.append(text)
                categories.append(category)
                correct.append(row_correct)
                words.append(row_words)
                ids.append(question_id)
                n_options.append(n_opts)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise EstimatorError(f"{path}: cannot read ({exc})") from exc
    if len(texts) < 2:
        raise EstimatorError(f"{path}: needs at least 2 question rows, found {len(texts)}")
    correct_a, words_a = np.asarray(correct), np.asarray(words)
    return QuestionTable(
        texts=texts, categories=categories,
        correct={t: correct_a[:, i] for i, t in enumerate(tags)},
        cot_words={t: words_a[:, i] for i, t in enumerate(tags)},
        question_ids=ids, n_options=np.asarray(n_options),
    )


def stratified_split(categories: list[str], test_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)``: per category (sorted), a seeded permutation, ``round(test_share * n)`` to test."""
    if not 0.0 < test_share < 1.0:
        raise EstimatorError(f"test_share must be in (0, 1), got {test_share}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(categories)
    train, test = [], []
    for category in sorted(set(categories)):
        rows = rng.permutation(np.flatnonzero(labels == category))
        n_test = int(np.floor(test_share * len(rows) + 0.5))
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
