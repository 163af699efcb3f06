"""Energy of one query from its text: input tokens by a words rule, output through the energy card.

Input tokens: ``TOKENS_PER_WORD`` (1.33) times the whitespace-separated words
of the text. This is a rough rule (MMLU-Pro data README), an estimate: no
tokenizer ships offline and its error against the serving model's tokenizer is
not measured here.

Energy: an energy card's request curve ``E(n_in, n_out, batch)`` at the
current operating point (batch size) is replaced, for speed, by a quadratic
surface ``e0 + e_in*n_in + e_out*n_out + e_io*n_in*n_out + e_oo*n_out^2``
fitted by least squares (relative error) on a 24 x 24 grid over the card's
valid range; ``max_relative_error`` is the surface's worst error on that grid
and is stated with every router built on it. Expected energy of a length
distribution is taken at its expected output length (the card's curve is
close to linear in ``n_out`` at fixed ``n_in``; an approximation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tpf.estimator.model import TOKENS_PER_WORD

GRID_POINTS = 24


def input_tokens(text: str) -> float:
    """Estimated input tokens of a text (at least 1)."""
    return max(1.0, TOKENS_PER_WORD * len(text.split()))


def _basis(n_in: np.ndarray, n_out: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(n_in), n_in, n_out, n_in * n_out, n_out * n_out], axis=-1)


@dataclass(frozen=True)
class EnergySurface:
    """Request IT energy (J) of one model at one batch size as a quadratic in (n_in, n_out)."""

    coefficients: tuple[float, float, float, float, float]
    n_in_range: tuple[float, float]
    n_out_range: tuple[float, float]
    batch_size: float
    max_relative_error: float

    @classmethod
    def from_card(cls, card: Any, batch_size: float = 1.0) -> EnergySurface:
        """Fit the surface to an :class:`~tpf.cards.EnergyCard` at ``batch_size``."""
        valid = card.valid_range
        n_in_axis = np.linspace(valid.n_in_tokens[0], valid.n_in_tokens[1], GRID_POINTS)
        n_out_axis = np.linspace(valid.n_out_tokens[0], valid.n_out_tokens[1], GRID_POINTS)
        n_in, n_out = (grid.ravel() for grid in np.meshgrid(n_in_axis, n_out_axis))
        energy = np.asarray(card.energy_j(n_in, n_out, batch_size), float)
        basis = _basis(n_in, n_out)
        weight = 1.0 / np.maximum(energy, 1e-9)
        coefficients = np.linalg.lstsq(basis * weight[:, None], energy * weight, rcond=None)[0]
        error = float(np.max(np.abs(basis @ coefficients - energy) * weight))
        return cls(tuple(float(c) for c in coefficients), tuple(valid.n_in_tokens),  # type: ignore[arg-type]
                   tuple(valid.n_out_tokens), float(batch_size), error)  # type: ignore[arg-type]

    def energy_j(self, n_in_tokens: float, n_out_tokens: float) -> float:
        """Energy of one request; lengths are clipped to the card's valid range."""
        n_in = min(max(n_in_tokens, self.n_in_range[0]), self.n_in_range[1])
        n_out = min(max(n_out_tokens, self.n_out_range[0]), self.n_out_range[1])
        e0, e_in, e_out, e_io, e_oo = self.coefficients
        return e0 + e_in * n_in + (e_out + e_io * n_in + e_oo * n_out) * n_out
