"""Generated-token distributions of chain-of-thought answers.

A chain-of-thought answer with a budget of ``b`` tokens generates ``min(L, b)``
reasoning tokens, where ``L`` is the length the model would write unbounded.
An accuracy card's ``cot`` curve may carry the distribution of ``L``
(:class:`LengthDistribution`, equal-probability quantiles in tokens), so that an
option is charged what it generates, not its budget:

* :meth:`LengthDistribution.expected_tokens` ``E[min(L, b)]`` and
  :meth:`LengthDistribution.spread_tokens` its standard deviation;
* :meth:`LengthDistribution.samples` the ``min(L, b)`` of each quantile, equally
  weighted, to integrate a cost that is nonlinear in the output length
  (``E[C(min(L, b))]``, not ``C(E[min(L, b)])``).

:func:`lengths_from_per_question` builds one distribution per (category) from
a per-question table of recorded CoT lengths in words (MMLU-Pro's published
Llama-3.1 outputs give one), converting words to tokens with
``tokens_per_word`` (about 1.33 for English text with the Llama 3 tokenizer,
an estimate stated on the card).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tpf.errors import CardError, DataError

if TYPE_CHECKING:
    from tpf.cards import AccuracyCard

DEFAULT_QUANTILES = 50
TOKENS_PER_WORD = 1.33  # estimate: English text, Llama 3 tokenizer (MMLU-Pro curves use the same)


@dataclass(frozen=True)
class LengthDistribution:
    """Unbounded generated length ``L`` (tokens) as equal-probability quantiles, ascending.

    ``quantiles_tokens[i]`` is the ``(i + 0.5) / K`` quantile of ``L``; each stands
    for a probability ``1 / K``. ``n_items`` answers were behind it; ``source``
    names the data and the word-to-token conversion.
    """

    quantiles_tokens: tuple[float, ...]
    n_items: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        values = np.asarray(self.quantiles_tokens, float)
        if values.size == 0:
            raise CardError("lengths.quantiles_tokens: needs at least one value, got none")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise CardError("lengths.quantiles_tokens: every value must be finite and >= 0")
        if np.any(np.diff(values) < 0):
            raise CardError("lengths.quantiles_tokens: must be ascending (quantiles of a distribution)")

    def samples(self, budget_tokens: float) -> np.ndarray:
        """``min(L, b)`` at each quantile (equal weights)."""
        return np.minimum(np.asarray(self.quantiles_tokens, float), float(budget_tokens))

    def expected_tokens(self, budget_tokens: float) -> float:
        """``E[min(L, b)]`` in tokens."""
        return float(self.samples(budget_tokens).mean())

    def spread_tokens(self, budget_tokens: float) -> float:
        """Standard deviation of ``min(L, b)`` in tokens."""
        return float(self.samples(budget_tokens).std())

    def budget_table(self, budgets_tokens: Sequence[float]) -> list[list[float]]:
        """``[budget, E[min(L, b)], std]`` rows, for the card and for reading."""
        return [[float(b), self.expected_tokens(b), self.spread_tokens(b)] for b in budgets_tokens]

    def to_dict(self, budgets_tokens: Sequence[float] = ()) -> dict[str, Any]:
        return {
            "quantiles_tokens": [round(float(v), 3) for v in self.quantiles_tokens],
            "n_items": int(self.n_items),
            "source": self.source,
            "expected_tokens_per_budget": [[round(v, 4) for v in row]
                                           for row in self.budget_table(budgets_tokens)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "lengths") -> LengthDistribution:
        try:
            return cls(tuple(float(v) for v in data["quantiles_tokens"]), int(data.get("n_items", 0)),
                       str(data.get("source", "")))
        except CardError as exc:
            raise CardError(f"{where}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise CardError(f"{where}: malformed length distribution: {exc!r}") from exc


def from_lengths(lengths_tokens: np.ndarray, n_quantiles: int = DEFAULT_QUANTILES,
                 source: str = "") -> LengthDistribution:
    """The equal-probability quantiles of observed lengths (tokens)."""
    values = np.asarray(lengths_tokens, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise DataError(f"{source or 'lengths'}: no finite lengths to build a distribution from")
    levels = (np.arange(n_quantiles) + 0.5) / n_quantiles
    return LengthDistribution(tuple(float(q) for q in np.quantile(values, levels)), int(values.size), source)


def lengths_from_per_question(
    table: pd.DataFrame, *, where: str, category_map: Mapping[str, Sequence[str]] | None = None,
    tokens_per_word: float = TOKENS_PER_WORD, n_quantiles: int = DEFAULT_QUANTILES,
) -> dict[str, LengthDistribution]:
    """One distribution per category from a per-question table (``category``, ``cot_words``).

    ``category_map`` pools source categories into one (e.g. ``humanities`` from
    history, philosophy and law); without it each category of the table is its own.
    """
    missing = {"category", "cot_words"} - set(table.columns)
    if missing:
        raise DataError(f"{where}: missing column(s) {sorted(missing)} (need category, cot_words)")
    if not tokens_per_word > 0:
        raise DataError(f"tokens_per_word: must be > 0, got {tokens_per_word}")
    groups = category_map or {str(c): (str(c),) for c in sorted(table["category"].unique())}
    out = {}
    for category, sources in groups.items():
        words = table.loc[table["category"].isin(list(sources)), "cot_words"].to_numpy(float)
        note = (f"{where}: CoT lengths of {' + '.join(sources)} ({words.size} answers), "
                f"{tokens_per_word:g} tokens per word (estimate)")
        out[category] = from_lengths(words * tokens_per_word, n_quantiles, note)
    return out


def attach_lengths(card: AccuracyCard, lengths: Mapping[tuple[str, str], LengthDistribution]) -> AccuracyCard:
    """``card`` with ``lengths[(model, category)]`` on each matching ``cot`` curve."""
    import dataclasses

    curves = [
        dataclasses.replace(curve, lengths=lengths[(curve.model, curve.category)])
        if curve.strategy == "cot" and (curve.model, curve.category) in lengths else curve
        for curve in card.curves
    ]
    return dataclasses.replace(card, curves=curves)
