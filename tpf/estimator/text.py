"""Query text to features: cleaning with stated fallbacks, and a hashed TF-IDF featurizer.

:func:`clean_text` turns anything a caller may pass (``str``, ``bytes``, ``None``,
other objects) into a bounded string and says what it had to do
(``fallback`` is ``""`` when nothing): bytes that are not UTF-8 are decoded with
replacement characters (``"non_utf8"``), text longer than ``MAX_TEXT_CHARS`` is
cut (``"truncated"``), an empty text or one with no word characters is
``"empty"`` (the estimator then answers with its training priors), and a
non-string is converted with ``str`` (``"not_text"``).

:class:`HashedTfidf` maps a text to a sparse vector: lower-cased words (split
at white space and ASCII punctuation, so any script yields words), optionally
with word pairs (``ngram_max=2``), hashed with CRC-32 into ``n_buckets``
buckets (a fixed hash, identical across processes), sublinear term frequency
``1 + log(tf)`` times an inverse document frequency learnt on the training
texts, L2-normalized; plus a few dense features (log word count, share of
digits, extra UTF-8 bytes per character, a bias).
Words whose buckets were never seen in training have idf 0 and add nothing, so
an unknown language falls back to the dense features and the priors.
"""

from __future__ import annotations

import math
import re
import string
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_TEXT_CHARS = 20_000
N_DENSE = 4
_WORD = re.compile(r"\w+")
_BIGRAM_SALT = zlib.crc32(b"bigram ")
_SEPARATORS = str.maketrans({mark: " " for mark in string.punctuation})
_NO_DIGITS = str.maketrans("", "", string.digits)
_CACHE_LIMIT = 1 << 20


def words_of(text: str) -> list[str]:
    """Lower-cased words: ASCII punctuation separates words, as does white space."""
    return text.lower().translate(_SEPARATORS).split()


class _BucketCache(dict):  # type: ignore[type-arg]
    """word -> CRC-32 bucket, computed on first use (a plain cache of a fixed function)."""

    def __init__(self, n_buckets: int, salt: int = 0):
        super().__init__()
        self.n_buckets, self.salt = n_buckets, salt

    def __missing__(self, word: str) -> int:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        bucket = zlib.crc32(word.encode(), self.salt) % self.n_buckets
        self[word] = bucket
        return bucket


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


def dense_features(text: str, n_words: int) -> list[float]:
    """Log word count, share of ASCII digits, extra UTF-8 bytes per character / 3, bias 1."""
    n_chars = max(len(text), 1)
    digits = (len(text) - len(text.translate(_NO_DIGITS))) / n_chars
    non_ascii = (len(text.encode("utf-8", errors="replace")) - len(text)) / (3.0 * n_chars)
    return [math.log1p(n_words) / 5.0, digits, non_ascii, 1.0]


@dataclass
class HashedTfidf:
    """Hashed word uni- and bigrams with sublinear tf-idf (see the module docstring)."""

    n_buckets: int
    idf: np.ndarray  # (n_buckets,) float, 0 for buckets never seen in training
    ngram_max: int = 1
    _words: _BucketCache = field(init=False, repr=False, compare=False)
    _pairs: _BucketCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._words = _BucketCache(self.n_buckets)
        self._pairs = _BucketCache(self.n_buckets, _BIGRAM_SALT)

    def buckets(self, words: list[str]) -> list[int]:
        """Bucket of every word (and word pair when ``ngram_max`` is 2), with repeats."""
        out = list(map(self._words.__getitem__, words))
        if self.ngram_max >= 2:
            out += map(self._pairs.__getitem__, map(" ".join, zip(words, words[1:], strict=False)))
        return out

    @classmethod
    def fit(cls, texts: list[str], n_buckets: int = 1 << 16, ngram_max: int = 1) -> HashedTfidf:
        counter = cls(n_buckets=n_buckets, idf=np.zeros(n_buckets), ngram_max=ngram_max)
        doc_freq = np.zeros(n_buckets)
        for text in texts:
            doc_freq[np.unique(counter.buckets(words_of(text)))] += 1
        n_docs = len(texts)
        idf = np.where(doc_freq > 0, np.log((1.0 + n_docs) / (1.0 + doc_freq)) + 1.0, 0.0)
        return cls(n_buckets=n_buckets, idf=idf, ngram_max=ngram_max)

    @property
    def n_features(self) -> int:
        return self.n_buckets + N_DENSE

    def sparse_row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, values)`` of one cleaned text's feature vector (dense features last)."""
        words = words_of(text)
        counts = Counter(self.buckets(words))
        indices = np.fromiter(counts.keys(), np.int64, len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), float, len(counts)))) * self.idf[indices]
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
