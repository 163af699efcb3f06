"""Fitting a :class:`~tpf.estimator.model.TextEstimator` on a question table.

Penalties (``l2`` per row-averaged loss) are fixed defaults chosen on a
validation split of the training file, recorded on the card; the spread of
``log words`` of answers that did not run away (``sigma_log_words_ok``) is
measured on a seeded 15 % validation split of the training rows, then every
head is refitted on all training rows.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from tpf.errors import EstimatorError
from tpf.estimator.data import QuestionTable, stratified_split
from tpf.estimator.linear import fit_logistic, fit_ridge, fit_softmax
from tpf.estimator.model import RUNAWAY_WORDS, ModelStats, TextEstimator
from tpf.estimator.text import HashedTfidf

DEFAULT_MODELS = {"8b": "llama-3.1-8b", "70b": "llama-3.1-70b"}
VALIDATION_SHARE = 0.15


@dataclass(frozen=True)
class FitSettings:
    """Featurizer size and penalties of the heads."""

    n_buckets: int = 1 << 16
    ngram_max: int = 1
    l2_class: float = 1e-5
    l2_binary: float = 2.5e-4
    l2_length: float = 1e-4
    seed: int = 0


def log_words(words: np.ndarray) -> np.ndarray:
    """The length target: ``log(max(words, 1))``."""
    return np.log(np.maximum(words, 1.0))


def _model_columns(features: Any, table: QuestionTable, tag: str, settings: FitSettings) -> tuple[list[np.ndarray], float]:
    words = table.cot_words[tag]
    runaway = words > RUNAWAY_WORDS
    ok_rows = np.flatnonzero(~runaway)
    target = log_words(words)
    columns = [
        fit_logistic(features, table.correct[tag], settings.l2_binary),
        fit_logistic(features, runaway.astype(float), settings.l2_binary) if runaway.any() and not runaway.all()
        else np.r_[np.zeros(features.shape[1] - 1), -10.0 if not runaway.any() else 10.0],
        fit_ridge(features, target, settings.l2_length),
        fit_ridge(features[ok_rows], target[ok_rows], settings.l2_length),
    ]
    return columns, _validation_sigma(features[ok_rows], target[ok_rows], [table.categories[i] for i in ok_rows], settings)


def _validation_sigma(features: Any, target: np.ndarray, categories: list[str], settings: FitSettings) -> float:
    if len(target) < 20:
        return float(np.std(target)) if len(target) > 1 else 0.0
    fit_rows, val_rows = stratified_split(categories, VALIDATION_SHARE, settings.seed)
    weights = fit_ridge(features[fit_rows], target[fit_rows], settings.l2_length)
    return float(np.std(features[val_rows] @ weights - target[val_rows]))


def _stats(table: QuestionTable, tag: str, model: str, sigma: float) -> ModelStats:
    words = table.cot_words[tag]
    runaway = words > RUNAWAY_WORDS
    return ModelStats(
        tag=tag, model=model,
        runaway_median_words=float(np.median(words[runaway])) if runaway.any() else float(RUNAWAY_WORDS),
        runaway_accuracy=float(np.mean(table.correct[tag][runaway])) if runaway.any() else 0.1,
        sigma_log_words_ok=sigma,
    )


def _priors(table: QuestionTable, classes: tuple[str, ...], tags: list[str]) -> np.ndarray:
    counts = np.array([table.categories.count(c) for c in classes], float)
    out = list(np.log(counts / counts.sum()))
    for tag in tags:
        words = table.cot_words[tag]
        runaway = words > RUNAWAY_WORDS
        p_correct = np.clip(table.correct[tag].mean(), 1e-3, 1 - 1e-3)
        p_runaway = np.clip(runaway.mean(), 1e-3, 1 - 1e-3)
        ok = log_words(words[~runaway]) if (~runaway).any() else log_words(words)
        out += [np.log(p_correct / (1 - p_correct)), np.log(p_runaway / (1 - p_runaway)),
                float(log_words(words).mean()), float(ok.mean())]
    return np.asarray(out, float)


def fit_estimator(table: QuestionTable, models: dict[str, str] | None = None,
                  settings: FitSettings = FitSettings(), source: dict[str, Any] | None = None) -> TextEstimator:
    """Fit every head on ``table``; ``models`` maps data tags to tpf model ids."""
    models = dict(DEFAULT_MODELS if models is None else models)
    missing = [tag for tag in models if tag not in table.correct]
    if missing:
        raise EstimatorError(f"model tags {missing} have no correct_*/cot_words_* columns in the data")
    classes = tuple(sorted(set(table.categories)))
    if len(classes) < 2:
        raise EstimatorError(f"needs at least 2 categories to learn classes, found {list(classes)}")
    started = time.perf_counter()
    featurizer = HashedTfidf.fit(table.texts, settings.n_buckets, settings.ngram_max)
    features = featurizer.matrix(table.texts)
    labels = np.array([classes.index(c) for c in table.categories])
    columns = [fit_softmax(features, labels, len(classes), settings.l2_class)]
    stats = []
    for tag, model in models.items():
        model_columns, sigma = _model_columns(features, table, tag, settings)
        columns += [column[:, None] for column in model_columns]
        stats.append(_stats(table, tag, model, sigma))
    card = {"training": {
        **(source or {}), "n_rows": len(table), "settings": vars(settings).copy(),
        "texts_sha256": hashlib.sha256("\n\x00".join(table.texts).encode()).hexdigest(),
        "fit_seconds": round(time.perf_counter() - started, 2),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }, "held_out": {}}
    return TextEstimator(featurizer, classes, tuple(stats), np.hstack(columns),
                         _priors(table, classes, list(models)), card)
