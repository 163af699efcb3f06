"""The fitted embedding estimator (:mod:`tpf.estimator.dense`): fit, estimate, save, load.

Same heads and outputs as :class:`~tpf.estimator.model.TextEstimator`, so
:class:`~tpf.policy.per_query.TextRouter`, the metrics and the planner take
either. Needs the optional extra ``tpf[embed]`` to encode texts.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tpf.atomic import replacing, write_text_atomic
from tpf.errors import EstimatorError
from tpf.estimator.data import QuestionTable
from tpf.estimator.dense import EmbeddingFeaturizer, cached_embeddings
from tpf.estimator.fit import FitSettings, check_models, fit_heads, priors, training_card
from tpf.estimator.model import (
    FORMAT_VERSION,
    HEADS_PER_MODEL,
    RUNAWAY_WORDS,
    TOKENS_PER_WORD,
    ModelStats,
    TextEstimate,
    TextEstimator,
)
from tpf.estimator.text import clean_text

DENSE_SETTINGS = FitSettings(n_buckets=0, l2_class=1e-4, l2_binary=1e-3, l2_length=1e-4)


@dataclass
class DenseTextEstimator(TextEstimator):
    """A :class:`TextEstimator` whose features are the embedding, metadata and a bias (dense)."""

    featurizer: EmbeddingFeaturizer  # type: ignore[assignment]
    embed_cache: str | None = None

    def raw_outputs(self, text: str) -> np.ndarray:
        embedding = cached_embeddings(self.featurizer, [text], self.embed_cache, self.featurizer.memo)
        return self.featurizer.matrix([text], embedding)[0] @ self.weights

    def estimate(self, raw_text: Any) -> TextEstimate:
        text, fallback = clean_text(raw_text)
        outputs = self.prior_outputs if fallback == "empty" else self.raw_outputs(text)
        return self._split(outputs, fallback)

    def estimate_many(self, raw_texts: list[Any]) -> dict[str, np.ndarray]:
        cleaned = [clean_text(raw) for raw in raw_texts]
        texts = [text for text, _ in cleaned]
        features = self.featurizer.matrix(texts, cached_embeddings(self.featurizer, texts, self.embed_cache,
                                                                   self.featurizer.memo))
        return self._stack(features @ self.weights, [fallback for _, fallback in cleaned])

    def save(self, folder: str | os.PathLike[str]) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with replacing(folder / "weights.npz") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, weights=self.weights.astype(np.float32),
                                prior_outputs=self.prior_outputs.astype(np.float64))
        write_text_atomic(folder / "card.yaml", yaml.safe_dump(self.card_dict(), sort_keys=False))
        return folder

    def card_dict(self) -> dict[str, Any]:
        card = dict(self.card)
        card.update({"kind": "text_estimator", "format_version": FORMAT_VERSION, "classes": list(self.classes),
                     "models": [vars(stats).copy() for stats in self.models],
                     "featurizer": {**self.featurizer.card(), "runaway_words": RUNAWAY_WORDS,
                                    "tokens_per_word": TOKENS_PER_WORD}})
        return card


def fit_dense_estimator(table: QuestionTable, models: dict[str, str] | None = None,
                        settings: FitSettings = DENSE_SETTINGS, source: dict[str, Any] | None = None,
                        embed_cache: str | None = None) -> DenseTextEstimator:
    """Fit every head on the embedding features of ``table`` (texts encoded once, cached in ``embed_cache``)."""
    models, classes = check_models(table, models)
    started = time.perf_counter()
    featurizer = EmbeddingFeaturizer()
    texts = [clean_text(t)[0] for t in table.texts]
    features = featurizer.matrix(texts, cached_embeddings(featurizer, texts, embed_cache))
    weights, stats = fit_heads(features, table, classes, models, settings)
    return DenseTextEstimator(featurizer, classes, stats, weights, priors(table, classes, list(models)),
                              training_card(table, settings, source, started), embed_cache)


def load_dense_estimator(folder: str | os.PathLike[str]) -> DenseTextEstimator:
    """Read an embedding-estimator folder written by :meth:`DenseTextEstimator.save`."""
    folder = Path(folder)
    try:
        card = yaml.safe_load((folder / "card.yaml").read_text(encoding="utf-8"))
        with np.load(folder / "weights.npz") as arrays:
            weights, priors_out = arrays["weights"].astype(np.float64), arrays["prior_outputs"]
    except (OSError, ValueError, KeyError, yaml.YAMLError) as exc:
        raise EstimatorError(f"{folder}: cannot read the estimator ({exc})") from exc
    if card.get("format_version") != FORMAT_VERSION:
        raise EstimatorError(f"{folder}/card.yaml: format_version {card.get('format_version')!r} is not "
                             f"{FORMAT_VERSION}")
    models = tuple(ModelStats(**entry) for entry in card["models"])
    featurizer = EmbeddingFeaturizer()
    expected = len(card["classes"]) + len(HEADS_PER_MODEL) * len(models)
    if weights.shape != (featurizer.n_features, expected) or priors_out.shape != (expected,):
        raise EstimatorError(f"{folder}/weights.npz: weights {weights.shape}, the card describes "
                             f"({featurizer.n_features}, {expected})")
    return DenseTextEstimator(featurizer, tuple(card["classes"]), models, weights, priors_out, card)
