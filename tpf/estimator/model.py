"""The text performance estimator: one linear model over hashed TF-IDF features.

Outputs, per query text (:class:`TextEstimate`):

* ``class_probs``: probabilities of the categories it was trained on (softmax head);
* per model tag (e.g. ``8b``, ``70b``): ``p_correct`` (logistic head, the
  probability the model's full chain of thought answers correctly),
  ``p_runaway`` (logistic head, the probability its chain of thought runs past
  ``RUNAWAY_WORDS`` words: the runaway answers of the training data, which
  score at about chance), ``log_words`` (ridge head, expected
  ``log(max(words, 1))`` over all answers) and ``log_words_ok`` (ridge head, the
  same over answers that did not run away; with ``sigma_log_words_ok`` it
  gives a log-normal length distribution).

All heads share one weight matrix, so a query costs one hashed-feature gather
and one small matrix product (numpy only; scipy is used to fit). A text with
no usable words gets the training priors (``fallback="empty"``).
The artefact is a folder: ``card.yaml`` (what was fitted on what, held-out
metrics) and ``weights.npz`` (idf and weights stored as float16, about three
significant digits: the stored estimator is the one the card's metrics describe).
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tpf.atomic import replacing, write_text_atomic
from tpf.errors import EstimatorError
from tpf.estimator.text import HashedTfidf, clean_text

FORMAT_VERSION = 1
RUNAWAY_WORDS = 600
TOKENS_PER_WORD = 1.33   # a rough words-to-tokens rule (MMLU-Pro data README), an estimate
HEADS_PER_MODEL = ("correct", "runaway", "log_words", "log_words_ok")


@dataclass(frozen=True)
class ModelStats:
    """What the estimator knows of one model beside its heads (words are whitespace-separated words)."""

    tag: str
    model: str
    runaway_median_words: float
    runaway_accuracy: float
    sigma_log_words_ok: float
    platt_a: float = 1.0          # P(correct) = sigmoid(platt_a z + platt_b), folded into the head's weights
    platt_b: float = 0.0
    log_words_q50: float = 0.0    # quantiles of log(words) = log_words head + offset (validation residuals)
    log_words_q90: float = 0.0


@dataclass(frozen=True)
class TextEstimate:
    """The estimator's answer for one text; arrays per model follow ``TextEstimator.models``."""

    class_probs: np.ndarray
    p_correct: np.ndarray
    p_runaway: np.ndarray
    log_words: np.ndarray
    log_words_ok: np.ndarray
    fallback: str = ""


@dataclass
class TextEstimator:
    """A fitted estimator (see the module docstring). ``weights`` is (n_features, n_outputs)."""

    featurizer: HashedTfidf
    classes: tuple[str, ...]
    models: tuple[ModelStats, ...]
    weights: np.ndarray
    prior_outputs: np.ndarray
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def model_index(self, model: str) -> int | None:
        """Position of a model (tpf id or data tag) in the per-model arrays, None if not covered."""
        for index, stats in enumerate(self.models):
            if model in (stats.model, stats.tag):
                return index
        return None

    def raw_outputs(self, text: str) -> np.ndarray:
        """Linear outputs for a cleaned text (class logits, then per model its heads)."""
        indices, values = self.featurizer.sparse_row(text)
        return values @ self.weights[indices]

    def estimate(self, raw_text: Any) -> TextEstimate:
        """Estimate for any input; bad input gets a stated fallback, never an exception."""
        text, fallback = clean_text(raw_text)
        outputs = self.prior_outputs if fallback == "empty" else self.raw_outputs(text)
        return self._split(outputs, fallback)

    def _split(self, outputs: np.ndarray, fallback: str) -> TextEstimate:
        logits = outputs[: self.n_classes]
        exp = np.exp(logits - logits.max())
        heads = outputs[self.n_classes:].reshape(len(self.models), len(HEADS_PER_MODEL))
        return TextEstimate(
            class_probs=exp / exp.sum(),
            p_correct=0.5 * (1.0 + np.tanh(0.5 * heads[:, 0])),
            p_runaway=0.5 * (1.0 + np.tanh(0.5 * heads[:, 1])),
            log_words=heads[:, 2],
            log_words_ok=heads[:, 3],
            fallback=fallback,
        )

    def estimate_many(self, raw_texts: list[Any]) -> dict[str, np.ndarray]:
        """Estimates for many texts, stacked: ``class_probs`` (n, K), per-model arrays (n, M).

        Same figures as :meth:`estimate` one by one, computed with one gather for the batch.
        """
        cleaned = [clean_text(raw) for raw in raw_texts]
        rows = [self.featurizer.sparse_row(text) for text, _ in cleaned]
        indices = np.concatenate([idx for idx, _ in rows]) if rows else np.zeros(0, np.int64)
        values = np.concatenate([val for _, val in rows]) if rows else np.zeros(0)
        starts = np.cumsum([0] + [len(idx) for idx, _ in rows[:-1]])
        outputs = (np.add.reduceat(self.weights[indices] * values[:, None], starts, axis=0) if rows
                   else np.zeros((0, self.weights.shape[1])))
        return self._stack(outputs, [fallback for _, fallback in cleaned])

    def _stack(self, outputs: np.ndarray, fallbacks: list[str]) -> dict[str, np.ndarray]:
        """Split stacked linear outputs (n, n_outputs) into the named estimates (empty texts get priors)."""
        outputs[np.array([f == "empty" for f in fallbacks], bool)] = self.prior_outputs
        logits = outputs[:, : self.n_classes]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        heads = outputs[:, self.n_classes:].reshape(len(outputs), len(self.models), len(HEADS_PER_MODEL))
        return {
            "class_probs": exp / exp.sum(axis=1, keepdims=True),
            "p_correct": 0.5 * (1.0 + np.tanh(0.5 * heads[:, :, 0])),
            "p_runaway": 0.5 * (1.0 + np.tanh(0.5 * heads[:, :, 1])),
            "log_words": heads[:, :, 2], "log_words_ok": heads[:, :, 3],
            "fallback": np.array(fallbacks, dtype=object),
        }

    # --- the artefact -------------------------------------------------------------------

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``card.yaml`` and ``weights.npz`` into ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        used = np.flatnonzero(np.any(self.weights != 0, axis=1))
        with replacing(folder / "weights.npz") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, idf=self.featurizer.idf.astype(np.float16), rows=used.astype(np.int32),
                                weights=self.weights[used].astype(np.float16),
                                prior_outputs=self.prior_outputs.astype(np.float64))
        write_text_atomic(folder / "card.yaml", yaml.safe_dump(self.card_dict(), sort_keys=False))
        return folder

    def card_dict(self) -> dict[str, Any]:
        card = dict(self.card)
        card.update({
            "kind": "text_estimator", "format_version": FORMAT_VERSION,
            "classes": list(self.classes),
            "models": [vars(stats).copy() for stats in self.models],
            "featurizer": {"kind": "hashed_tfidf", "n_buckets": self.featurizer.n_buckets,
                           "ngram_max": self.featurizer.ngram_max, "hash": "crc32", "runaway_words": RUNAWAY_WORDS,
                           "tokens_per_word": TOKENS_PER_WORD},
        })
        return card


SHIPPED_ESTIMATOR = "mmlu_pro_llama31"


def shipped_estimator_path(name: str = SHIPPED_ESTIMATOR) -> Path:
    """The folder of an estimator shipped in the package (``tpf/data/estimators/NAME``)."""
    from importlib import resources

    return Path(str(resources.files("tpf").joinpath("data", "estimators", name)))


def _featurizer_kind(card_path: Path) -> str:
    try:
        card = yaml.safe_load(card_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    featurizer = card.get("featurizer") if isinstance(card, dict) else None
    return str(featurizer.get("kind", "")) if isinstance(featurizer, dict) else ""


def load_estimator(folder: str | os.PathLike[str] | None = None) -> TextEstimator:
    """Read an estimator folder written by :meth:`TextEstimator.save` (default: the shipped one)."""
    folder = shipped_estimator_path() if folder is None else Path(folder)
    if _featurizer_kind(folder / "card.yaml") == "minilm_embedding":
        from tpf.estimator.dense_model import load_dense_estimator

        return load_dense_estimator(folder)
    card_path, weights_path = folder / "card.yaml", folder / "weights.npz"
    for path in (card_path, weights_path):
        if not path.is_file():
            raise EstimatorError(f"{folder}: not an estimator folder (missing {path.name}; "
                                 f"write one with 'tpf estimator fit')")
    try:
        card = yaml.safe_load(card_path.read_text(encoding="utf-8"))
        with np.load(weights_path) as arrays:
            idf, rows, stored, priors = (arrays[k] for k in ("idf", "rows", "weights", "prior_outputs"))
    except (OSError, ValueError, KeyError, yaml.YAMLError, zipfile.BadZipFile, EOFError) as exc:
        raise EstimatorError(f"{folder}: cannot read the estimator ({exc}; a truncated or damaged "
                             "weights.npz? fit it again)") from exc
    if not isinstance(card, dict) or card.get("kind") != "text_estimator":
        raise EstimatorError(f"{card_path}: kind must be 'text_estimator', got {card!r:.80}")
    if card.get("format_version") != FORMAT_VERSION:
        raise EstimatorError(f"{card_path}: format_version {card.get('format_version')!r} is not {FORMAT_VERSION}")
    featurizer = HashedTfidf(n_buckets=int(card["featurizer"]["n_buckets"]), idf=idf.astype(np.float64),
                             ngram_max=int(card["featurizer"].get("ngram_max", 1)))
    weights = np.zeros((featurizer.n_features, stored.shape[1]))
    weights[rows.astype(np.int64)] = stored.astype(np.float64)
    models = tuple(ModelStats(**entry) for entry in card["models"])
    expected = len(card["classes"]) + len(HEADS_PER_MODEL) * len(models)
    if weights.shape[1] != expected or priors.shape != (expected,):
        raise EstimatorError(f"{weights_path}: {weights.shape[1]} outputs, the card describes {expected}")
    return TextEstimator(featurizer, tuple(card["classes"]), models, weights, priors, card)


def lognormal_mean_capped(mu: float, sigma: float, cap: float) -> float:
    """``E[min(L, cap)]`` for ``log L ~ Normal(mu, sigma)`` (cap > 0)."""
    if sigma <= 0:
        return min(math.exp(mu), cap)
    log_cap = math.log(cap)
    below = 0.5 * (1.0 + math.erf((log_cap - mu - sigma * sigma) / (sigma * math.sqrt(2.0))))
    above = 0.5 * math.erfc((log_cap - mu) / (sigma * math.sqrt(2.0)))
    return math.exp(mu + 0.5 * sigma * sigma) * below + cap * above


def lognormal_cdf(mu: float, sigma: float, value: float) -> float:
    """``P(L <= value)`` for ``log L ~ Normal(mu, sigma)``."""
    if value <= 0:
        return 0.0
    if sigma <= 0:
        return 1.0 if math.exp(mu) <= value else 0.0
    return 0.5 * (1.0 + math.erf((math.log(value) - mu) / (sigma * math.sqrt(2.0))))


def erf_array(x: np.ndarray) -> np.ndarray:
    """``erf`` elementwise (Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def lognormal_arrays(mu: np.ndarray, sigma: float, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """``(P(L <= cap), E[min(L, cap)])`` elementwise for ``log L ~ Normal(mu, sigma)``, sigma > 0."""
    root2_sigma = sigma * math.sqrt(2.0)
    log_cap = math.log(cap)
    within = 0.5 * (1.0 + erf_array((log_cap - mu) / root2_sigma))
    below = 0.5 * (1.0 + erf_array((log_cap - mu - sigma * sigma) / root2_sigma))
    return within, np.exp(mu + 0.5 * sigma * sigma) * below + cap * (1.0 - within)
