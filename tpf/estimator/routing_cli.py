"""The routing section of ``tpf estimator eval``: inputs from an estimator, question files and energy cards."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tpf.errors import EstimatorError
from tpf.estimator.data import QuestionTable
from tpf.estimator.energy import EnergySurface, input_tokens
from tpf.estimator.model import TOKENS_PER_WORD, TextEstimator
from tpf.estimator.routing import RoutingData, per_query_wins, routing_comparison


def _energies(table: QuestionTable, tags: list[str], surfaces: dict[str, EnergySurface],
              words: np.ndarray) -> np.ndarray:
    """Energy (n, 2) of each question under each model for ``words`` (n, 2) output words."""
    if not surfaces:
        return np.zeros((len(table), len(tags)))
    n_in = [input_tokens(text) for text in table.texts]
    return np.array([[surfaces[tag].energy_j(n_in[i], words[i, j] * TOKENS_PER_WORD) for j, tag in enumerate(tags)]
                     for i in range(len(table))])


def routing_metrics(estimator: TextEstimator, train: QuestionTable, test: QuestionTable, cards: dict[str, str],
                    batch: float, n_boot: int) -> dict[str, Any]:
    """Per-query against per-category routing between the estimator's first (small) and last (large) model."""
    from tpf.cards import load_card

    if len(estimator.models) < 2:
        raise EstimatorError("routing needs an estimator with at least two models (small first, large last)")
    small, large = estimator.models[0], estimator.models[-1]
    tags = [small.tag, large.tag]
    unknown = sorted(set(cards) - set(tags))
    if unknown or (cards and set(cards) != set(tags)):
        raise EstimatorError(f"--energy-card: give one card for each of {tags}, got {sorted(cards)}")
    surfaces = {tag: EnergySurface.from_card(load_card(path), batch) for tag, path in cards.items()}
    out = estimator.estimate_many(test.texts)
    index = [0, len(estimator.models) - 1]
    offsets = np.array([small.log_words_q50, large.log_words_q50])
    predicted_words = np.exp(out["log_words"][:, index] + offsets)
    data = RoutingData(
        categories=np.array(test.categories), correct=np.column_stack([test.correct[t] for t in tags]).astype(float),
        energy_j=_energies(test, tags, surfaces, np.column_stack([test.cot_words[t] for t in tags])),
        p_correct=out["p_correct"][:, index], energy_pred_j=_energies(test, tags, surfaces, predicted_words),
        train_means=_train_means(train, tags, surfaces))
    comparison = routing_comparison(data, n_boot=n_boot)
    comparison.update({"small_model": small.model, "large_model": large.model, "energy_cards": cards,
                       "batch": batch, "per_query_wins": per_query_wins(comparison)})
    return comparison


def _train_means(train: QuestionTable, tags: list[str],
                 surfaces: dict[str, EnergySurface]) -> dict[str, tuple[float, float, float, float]]:
    energy = _energies(train, tags, surfaces, np.column_stack([train.cot_words[t] for t in tags]))
    cats = np.array(train.categories)
    out = {}
    for name in sorted(set(train.categories)):
        rows = cats == name
        out[name] = (float(train.correct[tags[0]][rows].mean()), float(train.correct[tags[1]][rows].mean()),
                     float(energy[rows, 0].mean()), float(energy[rows, 1].mean()))
    return out


def print_routing(routing: dict[str, Any]) -> None:
    print(f"routing {routing['small_model']} / {routing['large_model']} on {routing['n_questions']} questions: "
          f"all small {routing['all_small_accuracy']:.4f}, all large {routing['all_large_accuracy']:.4f}, "
          f"oracle {routing['oracle_accuracy']:.4f}")
    for kind in ("equal_share", "equal_energy"):
        for share, row in routing[kind].items():
            low, high = row["interval_95_points"]
            label = f"large share {share}" if kind == "equal_share" else f"energy of the {share} plan"
            extra = f", oracle {row['oracle_accuracy']:.4f}" if "oracle_accuracy" in row else \
                f", {row['energy_j_per_query']:.1f} J/question"
            print(f"  at {label}: per-query {row['per_query_accuracy']:.4f}, per-category "
                  f"{row['per_category_accuracy']:.4f}, difference {row['difference_points']:+.2f} points "
                  f"(95% {low:+.2f} to {high:+.2f}){extra}")
    verdict = "per-query beats per-category" if routing["per_query_wins"] else \
        "per-query does not beat per-category (an interval reaches zero)"
    print(f"  {verdict}" + ("" if all(math.isfinite(v) for v in [routing["oracle_accuracy"]]) else ""))
