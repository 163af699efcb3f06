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

**An anchor knows what it measured.** ``C_a`` is the curve at the *anchor's*
request shape (:class:`AnchorShape`: the input tokens of the prompts it
measured, the tokens each vote generated, its batch size, its harness), not at
the request's: a request of another shape is priced by the card's own ratio
``C(request) / C(anchor shape)`` times the published figure. A one-token MMLU
answer anchor prices a 212-token answer at about a hundred times its figure,
as the curve says. An anchor without a recorded shape (an older card) is
priced at the request's own shape, as before, and labelled so.
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
    at; ``source`` names the paper and table. The request shape it measured:
    ``n_in_tokens`` (mean prompt tokens), ``n_out_tokens`` (mean tokens
    generated per vote) and ``harness`` (how it was served, e.g. a Hugging Face
    ``generate`` loop); ``None`` where the source does not say (then a request
    is priced through it at its own shape, :func:`anchor_curve_shape`).
    """

    category: str
    strategy: str
    energy_j: float
    budget_tokens: int = 0
    votes: int = 1
    batch_size: int = 1
    source: str = ""
    n_in_tokens: float | None = None
    n_out_tokens: float | None = None
    harness: str = ""

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
        for name in ("n_in_tokens", "n_out_tokens"):
            value = getattr(self, name)
            if value is not None and not value >= (0 if name == "n_in_tokens" else 1):
                out.append(f"{where}.{name}: must be >= {0 if name == 'n_in_tokens' else 1} "
                           f"tokens (or absent), got {value}")
        return out

    @property
    def has_shape(self) -> bool:
        """True when the anchor records the request shape it measured (input and output tokens)."""
        return self.n_in_tokens is not None and self.n_out_tokens is not None

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
                source=str(data.get("source", "")), n_in_tokens=_optional_float(data.get("n_in_tokens")),
                n_out_tokens=_optional_float(data.get("n_out_tokens")), harness=str(data.get("harness") or ""),
            )
        except CardError as exc:
            raise CardError(f"{where}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise CardError(f"{where}: malformed anchor: {exc!r}") from exc


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


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
                 batch_size: float, extrapolation: float = 1.0) -> str:
    """How a price was obtained: the card curve, a published point, or an interpolation.

    ``extrapolation`` is ``C(request) / C(anchor shape)`` (1 at the anchor's own shape).
    """
    if not anchors:
        return BASIS_CURVE
    last = anchors[-1]
    unshaped = [a.label() for a in anchors if not a.has_shape]
    at_shape = abs(extrapolation - 1.0) <= 1e-9
    if (last.key() == (strategy, int(budget_tokens), int(votes)) and last.batch_size == batch_size
            and (at_shape or unshaped)):
        return BASIS_PUBLISHED + (" (anchor shape unknown: at the request's tokens)" if unshaped else "")
    named = " and ".join(a.label() for a in anchors)
    shape = (f"anchor shape unknown for {', '.join(unshaped)}: priced at the request's tokens" if unshaped
             else f"x{extrapolation:.4g} of the anchor's request shape by the card's own curve")
    return f"interpolated: published {named}, card's own output-length/votes/batch dependence; {shape}"


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
