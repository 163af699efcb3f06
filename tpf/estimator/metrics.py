"""Held-out metrics of a text estimator and of its baselines.

* class accuracy: share of rows whose most probable class is the true category;
* Brier score of ``P(correct)`` per model: mean of ``(p - y)^2``;
* expected calibration error of ``P(correct)``: over ten equal-width bins of
  the probability, the row-weighted mean of ``|mean p - share correct|``;
* AUC of ``P(correct)`` per model: the probability a correct row scores above
  an incorrect one (ties count half; Mann-Whitney form);
* R^2 of ``log(words)`` per model: ``1 - SSE / SST`` around the held-out mean;
* coverage of the length quantiles per model: the share of rows whose
  ``log(words)`` is at most the predicted 0.5 / 0.9 quantile (0.5 / 0.9 when calibrated);
* AUC of ``P(runaway)`` per model (answers past the runaway length);
* the confusion counts (true class x predicted class), for planning with
  estimated classes (:mod:`tpf.estimator.confusion`).

Baselines: ``prior`` (training frequencies; the most frequent class),
``category_mean`` (the training mean of each target in the row's true
category: what a class-level plan assumes when classes are known) and
``predicted_category_mean`` (the same, read at the estimator's most probable
class).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tpf.estimator.confusion import confusion_counts
from tpf.estimator.data import QuestionTable
from tpf.estimator.fit import log_words
from tpf.estimator.model import RUNAWAY_WORDS, TextEstimator


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (None when one label is absent)."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores))
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def brier(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean((np.asarray(probabilities) - labels) ** 2))


def calibration_error(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: over 10 equal-width bins of p, the row-weighted mean |mean p - mean y|."""
    probabilities = np.asarray(probabilities, float)
    bins = np.minimum((probabilities * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        rows = bins == b
        total += rows.sum() * abs(probabilities[rows].mean() - np.asarray(labels, float)[rows].mean())
    return float(total / len(probabilities)) if len(probabilities) else 0.0


def r_squared(predicted: np.ndarray, actual: np.ndarray) -> float:
    total = float(np.sum((actual - actual.mean()) ** 2))
    return float(1.0 - np.sum((actual - predicted) ** 2) / total) if total > 0 else 0.0


def _model_metrics(p_correct: np.ndarray, p_runaway: np.ndarray, pred_log_words: np.ndarray,
                   correct: np.ndarray, words: np.ndarray) -> dict[str, Any]:
    return {
        "brier": brier(p_correct, correct),
        "auc": auc(p_correct, correct),
        "calibration_error": calibration_error(p_correct, correct),
        "log_words_r2": r_squared(pred_log_words, log_words(words)),
        "runaway_auc": auc(p_runaway, words > RUNAWAY_WORDS),
        "runaway_share": float(np.mean(words > RUNAWAY_WORDS)),
        "accuracy": float(np.mean(correct)),
    }


def estimator_metrics(estimator: TextEstimator, table: QuestionTable) -> dict[str, Any]:
    """The estimator's metrics on ``table`` (see the module docstring)."""
    out = estimator.estimate_many(table.texts)
    predicted = np.array(estimator.classes)[np.argmax(out["class_probs"], axis=1)]
    metrics: dict[str, Any] = {
        "n_rows": len(table),
        "class_accuracy": float(np.mean(predicted == np.array(table.categories))),
        "confusion": {"classes": list(estimator.classes), "rows": "true class", "columns": "predicted class",
                      "counts": confusion_counts(table.categories, list(predicted), estimator.classes)
                      .astype(int).tolist()},
        "models": {},
    }
    for index, stats in enumerate(estimator.models):
        if stats.tag not in table.correct:
            continue
        row = _model_metrics(out["p_correct"][:, index], out["p_runaway"][:, index], out["log_words"][:, index],
                             table.correct[stats.tag], table.cot_words[stats.tag])
        actual = log_words(table.cot_words[stats.tag])
        for name, offset in (("q50", stats.log_words_q50), ("q90", stats.log_words_q90)):
            row[f"log_words_{name}_coverage"] = float(np.mean(actual <= out["log_words"][:, index] + offset))
        metrics["models"][stats.model] = row
    return metrics


def _category_means(train: QuestionTable, tag: str) -> dict[str, tuple[float, float, float]]:
    cats = np.array(train.categories)
    words = train.cot_words[tag]
    return {c: (float(train.correct[tag][cats == c].mean()), float(np.mean(words[cats == c] > RUNAWAY_WORDS)),
                float(log_words(words[cats == c]).mean())) for c in sorted(set(train.categories))}


def baseline_metrics(train: QuestionTable, test: QuestionTable, tags: dict[str, str],
                     predicted_categories: list[str] | None = None) -> dict[str, Any]:
    """Category-mean baseline on ``test`` (true categories, or the given predicted ones)."""
    counts = {c: train.categories.count(c) for c in set(train.categories)}
    majority = max(sorted(counts), key=lambda c: counts[c])
    categories = test.categories if predicted_categories is None else predicted_categories
    out: dict[str, Any] = {"n_rows": len(test), "models": {},
                           "class_accuracy": float(np.mean(np.array(test.categories) == majority))
                           if predicted_categories is None
                           else float(np.mean(np.array(test.categories) == np.array(categories)))}
    for tag, model in tags.items():
        means = _category_means(train, tag)
        fallback = (float(train.correct[tag].mean()), float(np.mean(train.cot_words[tag] > RUNAWAY_WORDS)),
                    float(log_words(train.cot_words[tag]).mean()))
        rows = np.array([means.get(c, fallback) for c in categories])
        out["models"][model] = _model_metrics(rows[:, 0], rows[:, 1], rows[:, 2],
                                              test.correct[tag], test.cot_words[tag])
    return out
