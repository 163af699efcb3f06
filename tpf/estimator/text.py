"""Query text to features: cleaning with stated fallbacks, and a hashed TF-IDF featurizer.

:func:`clean_text` turns anything a caller may pass (``str``, ``bytes``, ``None``,
other objects) into a bounded string and says what it had to do
(``fallback`` is ``""`` when nothing): bytes that are not UTF-8 are decoded with
replacement characters (``"non_utf8"``), text longer than ``MAX_TEXT_CHARS`` is
cut (``"truncated"``), an empty text or one with no word characters is
``"empty"`` (the estimator then answers with its training priors), and a
non-string is converted with ``str`` (``"not_text"``).

:class:`HashedTfidf` maps a text to a sparse vector: lower-cased words
(``\\w+`` in Unicode, so any script yields words) hashed with
CRC-32 into ``n_buckets`` buckets, optionally with word bigrams (``ngram_max=2``; a fixed hash, identical across processes),
sublinear term frequency ``1 + log(tf)`` times an inverse document frequency
learnt on the training texts, L2-normalized; plus a few dense features
(log word count, share of digits, share of non-ASCII characters, a bias).
Words whose buckets were never seen in training have idf 0 and add nothing, so
an unknown language falls back to the dense features and the priors.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_TEXT_CHARS = 20_000
N_DENSE = 4
_WORD = re.compile(r"\w+")
_BIGRAM_SALT = zlib.crc32(b"bigram ")


def clean_text(raw: Any) -> tuple[str, str]:
    """``(text, fallback)``: a string of at most ``MAX_TEXT_CHARS`` characters and what was done."""
    fallback = ""
    if raw is None:
        return "", "empty"
    if isinstance(raw, (bytes, bytearray, memoryview)):
        data = bytes(raw)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text, fallback = data.decode("utf-8", errors="replace"), "non_utf8"
    elif isinstance(raw, str):
        text = raw.encode("utf-8", errors="replace").decode("utf-8")  # lone surrogates -> U+FFFD
    else:
        text, fallback = str(raw), "not_text"
    if len(text) > MAX_TEXT_CHARS:
        text, fallback = text[:MAX_TEXT_CHARS], fallback or "truncated"
    if _WORD.search(text) is None:
        return text, fallback or "empty"
    return text, fallback


def _buckets(words: list[str], n_buckets: int, ngram_max: int) -> list[int]:
    crc = zlib.crc32
    out = [crc(w.encode()) % n_buckets for w in words]
    if ngram_max >= 2:
        out += [crc((a + " " + b).encode(), _BIGRAM_SALT) % n_buckets
                for a, b in zip(words, words[1:], strict=False)]
    return out


def dense_features(text: str, n_words: int) -> list[float]:
    """Log word count, share of digit characters, share of non-ASCII characters, bias 1."""
    n_chars = max(len(text), 1)
    digits = sum(ch.isdigit() for ch in text) / n_chars
    non_ascii = sum(ord(ch) > 127 for ch in text) / n_chars
    return [math.log1p(n_words) / 5.0, digits, non_ascii, 1.0]


@dataclass
class HashedTfidf:
    """Hashed word uni- and bigrams with sublinear tf-idf (see the module docstring)."""

    n_buckets: int
    idf: np.ndarray  # (n_buckets,) float, 0 for buckets never seen in training
    ngram_max: int = 1

    @classmethod
    def fit(cls, texts: list[str], n_buckets: int = 1 << 16, ngram_max: int = 1) -> HashedTfidf:
        doc_freq = np.zeros(n_buckets)
        for text in texts:
            doc_freq[np.unique(_buckets(_WORD.findall(text.lower()), n_buckets, ngram_max))] += 1
        n_docs = len(texts)
        idf = np.where(doc_freq > 0, np.log((1.0 + n_docs) / (1.0 + doc_freq)) + 1.0, 0.0)
        return cls(n_buckets=n_buckets, idf=idf, ngram_max=ngram_max)

    @property
    def n_features(self) -> int:
        return self.n_buckets + N_DENSE

    def sparse_row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, values)`` of one cleaned text's feature vector (dense features last)."""
        words = _WORD.findall(text.lower())
        indices, counts = np.unique(np.asarray(_buckets(words, self.n_buckets, self.ngram_max), dtype=np.int64),
                                    return_counts=True)
        values = (1.0 + np.log(counts)) * self.idf[indices]
        norm = math.sqrt(float(values @ values))
        if norm > 0:
            values = values / norm
        dense_index = np.arange(self.n_buckets, self.n_features)
        return (np.concatenate([indices, dense_index]),
                np.concatenate([values, dense_features(text, len(words))]))

    def matrix(self, texts: list[str]) -> Any:
        """A CSR matrix (scipy) of many cleaned texts, one row each."""
        from scipy import sparse

        rows = [self.sparse_row(text) for text in texts]
        indptr = np.cumsum([0] + [len(idx) for idx, _ in rows])
        indices = np.concatenate([idx for idx, _ in rows]) if rows else np.zeros(0, np.int64)
        data = np.concatenate([val for _, val in rows]) if rows else np.zeros(0)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), self.n_features))
