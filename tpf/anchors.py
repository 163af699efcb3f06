"""Published energy anchors on an energy card, and how a price is anchored to them.

A paper may print the energy of one query of a category under one strategy
(EuroMLSys'25 Table 1: per MMLU category, Llama 1B zero-shot, 8B zero-shot,
1B majority voting of 16 and 1B chain-of-thought up to 512 tokens, batch 1).
Such a figure is an :class:`EnergyAnchor`. A card carrying anchors prices a
query of that category by its own curve *through the published point*:

    E(query) = E_a + (E_b - E_a) * (C(query) - C_a) / (C_b - C_a)

through the category's zero-shot anchor ``a`` and the strategy's own anchor
``b`` (proportional, ``E_a * C(query) / C_a``, where there is only one), where
``C`` is the card's curve priced the same way (same input length, same rule
for the generated tokens, shared prefill for votes) at the anchor's strategy,
budget, votes and batch size. At a published point the price is the published
figure exactly; elsewhere (another budget or vote count) it follows the card's
own output-length and vote dependence between and beyond the points (linear
in the votes, as a shared prefill makes it), and :func:`anchor_basis` labels it
an interpolation. Another batch size multiplies by the curve's own ratio
``C_batch(query) / C_anchor_batch(query)``. Duration is scaled by the same
factor as energy, so the curve's mean power is kept (a paper printing only
energy says nothing about time; the duration is then an estimate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tpf.domain import STRATEGIES
from tpf.errors import CardError

BASIS_CURVE = "card curve"
BASIS_PUBLISHED = "published point"


@dataclass(frozen=True)
class EnergyAnchor:
    """A published GPU energy of one query (J) of ``category`` served by one strategy.

    ``budget_tokens`` is the chain-of-thought budget (0 for a short answer),
    ``votes`` the majority-vote count, ``batch_size`` the batch it was measured
    at; ``source`` names the paper and table.
    """

    category: str
    strategy: str
    energy_j: float
    budget_tokens: int = 0
    votes: int = 1
    batch_size: int = 1
    source: str = ""

    def __post_init__(self) -> None:
        problems = self.problems("anchor")
        if problems:
            raise CardError("; ".join(problems))

    def problems(self, where: str) -> list[str]:
        out = []
        if not self.category:
            out.append(f"{where}.category: must be a non-empty category id")
        if self.strategy not in STRATEGIES:
            out.append(f"{where}.strategy: must be one of {STRATEGIES}, got {self.strategy!r}")
        if not self.energy_j > 0:
            out.append(f"{where}.energy_j: must be > 0, got {self.energy_j}")
        if self.budget_tokens < 0 or (self.strategy == "cot" and self.budget_tokens <= 0):
            out.append(f"{where}.budget_tokens: must be > 0 for cot and >= 0 otherwise, "
                       f"got {self.budget_tokens}")
        if self.votes < 1:
            out.append(f"{where}.votes: must be >= 1, got {self.votes}")
        if self.batch_size < 1:
            out.append(f"{where}.batch_size: must be >= 1, got {self.batch_size}")
        return out

    def label(self) -> str:
        """``zero_shot``, ``cot@512``, ``mv16`` (with ``@budget``), then ``/batch N`` if not 1."""
        text = {"zero_shot": "zero_shot", "cot": f"cot@{self.budget_tokens}",
                "mv": f"mv{self.votes}" + (f"@{self.budget_tokens}" if self.budget_tokens else "")}
        return text[self.strategy] + (f"/batch {self.batch_size}" if self.batch_size != 1 else "")

    def key(self) -> tuple[str, int, int]:
        return self.strategy, int(self.budget_tokens), int(self.votes)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> EnergyAnchor:
        try:
            return cls(
                category=str(data["category"]), strategy=str(data["strategy"]),
                energy_j=float(data["energy_j"]), budget_tokens=int(data.get("budget_tokens", 0)),
                votes=int(data.get("votes", 1)), batch_size=int(data.get("batch_size", 1)),
                source=str(data.get("source", "")),
            )
        except CardError as exc:
            raise CardError(f"{where}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise CardError(f"{where}: malformed anchor: {exc!r}") from exc


def pick_anchors(anchors: Sequence[EnergyAnchor], category: str, strategy: str,
                 budget_tokens: int, votes: int) -> tuple[EnergyAnchor, ...]:
    """The published points to price ``(category, strategy, budget, votes)`` through.

    Same category only: the category's zero-shot anchor (where there is one)
    and, for another strategy, that strategy's anchor nearest in budget then in
    votes. Zero, one or two anchors, base (zero-shot) first.
    """
    mine = [a for a in anchors if a.category == category]
    base = [a for a in mine if a.strategy == "zero_shot"][:1]
    if strategy == "zero_shot":
        return tuple(base)
    same = [a for a in mine if a.strategy == strategy]
    if not same:
        return tuple(base)
    nearest = min(same, key=lambda a: (abs(a.budget_tokens - budget_tokens), abs(a.votes - votes)))
    return (*base, nearest)


def anchored_value(curve_value: float, points: Sequence[tuple[float, float]]) -> float:
    """Map a curve price through published points ``(curve_price, published_energy_j)``.

    One point: proportional (``E = E_a * C / C_a``); two: the affine map through
    both (``E = E_a + (E_b - E_a) * (C - C_a) / (C_b - C_a)``), which keeps the
    curve's own dependence between and beyond them and meets each exactly.
    """
    if len(points) == 1 or abs(points[1][0] - points[0][0]) <= 1e-12 * abs(points[0][0]):
        curve_a, energy_a = points[-1]
        return energy_a * curve_value / curve_a
    (curve_a, energy_a), (curve_b, energy_b) = points[0], points[1]
    return energy_a + (energy_b - energy_a) * (curve_value - curve_a) / (curve_b - curve_a)


def anchor_basis(anchors: Sequence[EnergyAnchor], strategy: str, budget_tokens: int, votes: int,
                 batch_size: float) -> str:
    """How a price was obtained: the card curve, a published point, or an interpolation."""
    if not anchors:
        return BASIS_CURVE
    last = anchors[-1]
    if last.key() == (strategy, int(budget_tokens), int(votes)) and last.batch_size == batch_size:
        return BASIS_PUBLISHED
    named = " and ".join(a.label() for a in anchors)
    return f"interpolated: published {named}, card's own output-length/votes/batch dependence"


def anchors_problems(anchors: Sequence[EnergyAnchor], where: str) -> list[str]:
    """Duplicate anchors (same category, strategy, budget, votes, batch) are refused."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for index, anchor in enumerate(anchors):
        key = (anchor.category, *anchor.key(), anchor.batch_size)
        if key in seen:
            out.append(f"{where}[{index}]: duplicate anchor {key}")
        seen.add(key)
    return out
