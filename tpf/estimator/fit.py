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


def _model_columns(features: Any, table: QuestionTable, tag: str,
                   settings: FitSettings) -> tuple[list[np.ndarray], float, dict[str, float]]:
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
    extras = _validation_extras(features, table, tag, settings)
    columns[0] = extras["platt_a"] * columns[0]
    columns[0][-1] += extras["platt_b"]  # Platt scaling folded into the head (bias last)
    sigma = _validation_sigma(features[ok_rows], target[ok_rows], [table.categories[i] for i in ok_rows], settings)
    return columns, sigma, extras


def _validation_extras(features: Any, table: QuestionTable, tag: str, settings: FitSettings) -> dict[str, float]:
    """Platt scaling of P(correct) and quantiles of the log-words residual, on the validation split.

    The heads are fitted on the other rows; ``platt_a, platt_b`` map the head's
    logit ``z`` to ``sigmoid(a z + b)`` (a logistic fit on the validation
    rows); ``log_words_q50/q90`` are the 0.5 / 0.9 quantiles of
    ``log(words) - predicted`` there (length quantiles as offsets).
    """
    if len(table) < 40:
        return {"platt_a": 1.0, "platt_b": 0.0, "log_words_q50": 0.0, "log_words_q90": 0.0}
    fit_rows, val_rows = stratified_split(table.categories, VALIDATION_SHARE, settings.seed)
    correct, target = table.correct[tag], log_words(table.cot_words[tag])
    logits = features[val_rows] @ fit_logistic(features[fit_rows], correct[fit_rows], settings.l2_binary)
    platt = fit_logistic(np.column_stack([logits, np.ones(len(val_rows))]), correct[val_rows], 0.0)
    residual = target[val_rows] - features[val_rows] @ fit_ridge(features[fit_rows], target[fit_rows],
                                                                 settings.l2_length)
    return {"platt_a": float(platt[0]), "platt_b": float(platt[1]),
            "log_words_q50": float(np.quantile(residual, 0.5)), "log_words_q90": float(np.quantile(residual, 0.9))}


def _validation_sigma(features: Any, target: np.ndarray, categories: list[str], settings: FitSettings) -> float:
    if len(target) < 20:
        return float(np.std(target)) if len(target) > 1 else 0.0
    fit_rows, val_rows = stratified_split(categories, VALIDATION_SHARE, settings.seed)
    weights = fit_ridge(features[fit_rows], target[fit_rows], settings.l2_length)
    return float(np.std(features[val_rows] @ weights - target[val_rows]))


def _stats(table: QuestionTable, tag: str, model: str, sigma: float, extras: dict[str, float]) -> ModelStats:
    words = table.cot_words[tag]
    runaway = words > RUNAWAY_WORDS
    return ModelStats(
        tag=tag, model=model,
        runaway_median_words=float(np.median(words[runaway])) if runaway.any() else float(RUNAWAY_WORDS),
        runaway_accuracy=float(np.mean(table.correct[tag][runaway])) if runaway.any() else 0.1,
        sigma_log_words_ok=sigma, **extras,
    )


def priors(table: QuestionTable, classes: tuple[str, ...], tags: list[str]) -> np.ndarray:
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
    models, classes = check_models(table, models)
    started = time.perf_counter()
    featurizer = HashedTfidf.fit(table.texts, settings.n_buckets, settings.ngram_max)
    features = featurizer.matrix(table.texts)
    weights, stats = fit_heads(features, table, classes, models, settings)
    return TextEstimator(featurizer, classes, stats, weights, priors(table, classes, list(models)),
                         training_card(table, settings, source, started))


def check_models(table: QuestionTable, models: dict[str, str] | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """The model tags to learn (checked against the data) and the sorted categories."""
    models = dict(DEFAULT_MODELS if models is None else models)
    missing = [tag for tag in models if tag not in table.correct]
    if missing:
        raise EstimatorError(f"model tags {missing} have no correct_*/cot_words_* columns in the data")
    classes = tuple(sorted(set(table.categories)))
    if len(classes) < 2:
        raise EstimatorError(f"needs at least 2 categories to learn classes, found {list(classes)}")
    return models, classes


def fit_heads(features: Any, table: QuestionTable, classes: tuple[str, ...], models: dict[str, str],
              settings: FitSettings) -> tuple[np.ndarray, tuple[ModelStats, ...]]:
    """Weights (n_features, n_outputs) of every head over ``features`` (last column the bias) and model stats."""
    labels = np.array([classes.index(c) for c in table.categories])
    columns = [fit_softmax(features, labels, len(classes), settings.l2_class)]
    stats = []
    for tag, model in models.items():
        model_columns, sigma, extras = _model_columns(features, table, tag, settings)
        columns += [column[:, None] for column in model_columns]
        stats.append(_stats(table, tag, model, sigma, extras))
    return np.hstack(columns), tuple(stats)


def training_card(table: QuestionTable, settings: Any, source: dict[str, Any] | None, started: float) -> dict[str, Any]:
    """The card's ``training`` section (and an empty ``held_out``)."""
    return {"training": {
        **(source or {}), "n_rows": len(table), "settings": vars(settings).copy(),
        "texts_sha256": hashlib.sha256("\n\x00".join(table.texts).encode()).hexdigest(),
        "fit_seconds": round(time.perf_counter() - started, 2),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }, "held_out": {}}
