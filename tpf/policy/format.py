"""The routing policy format: typed records and their JSON form.

A policy says, per query class (an MMLU-style category and an input-length
bucket), which weighted list of decisions (model, strategy, ``max_new_tokens``
budget, votes) to apply, optionally per hour of day and per carbon-intensity
band, with the plan's provenance and expectations. Its JSON form is described
by ``policy.schema.json`` beside this module; :func:`policy_to_dict` and
:func:`policy_from_dict` convert between the two (``policy_from_dict`` expects
data already checked by :mod:`tpf.policy.validate`).

This module uses the standard library only: the runtime imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMAT_NAME = "tpf-policy"
FORMAT_VERSION = "1.0"
HOURS_PER_DAY = 24


@dataclass(frozen=True, slots=True)
class Decision:
    """What the router tells the serving layer for one request.

    ``max_new_tokens`` is the generation budget in tokens (the chain-of-thought
    budget for ``cot``, per vote for ``mv``); ``votes`` is the number of samples
    a majority vote draws (1 otherwise).
    """

    model: str
    strategy: str
    max_new_tokens: int
    votes: int = 1
    hardware: str | None = None
    option_id: str | None = None

    @property
    def budget_tokens(self) -> int:
        """``max_new_tokens`` under the planner's and simulator's name."""
        return self.max_new_tokens


@dataclass(frozen=True, slots=True)
class Choice:
    """One decision of a split with its weight (a share of the class's requests)."""

    weight: float
    decision: Decision


@dataclass(frozen=True)
class HourEntry:
    """The split applied during the listed hours of the day (0-23)."""

    hours: tuple[int, ...]
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class CarbonBand:
    """The split applied while the grid intensity is in [min, max) gCO2/kWh (max None: no bound)."""

    min_g_per_kwh: float
    max_g_per_kwh: float | None
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class Expected:
    """What the plan expects for a class: mean accuracy, IT energy and carbon per query."""

    accuracy: float | None = None
    energy_j_per_query: float | None = None
    carbon_g_per_query: float | None = None
    queries: float | None = None


@dataclass(frozen=True)
class PolicyClass:
    """A query class: its category, input-length bucket [min, max) tokens and its splits.

    ``choices`` is the all-day split, used when a request carries neither an
    hour nor a carbon intensity, or when the class has no schedule.
    """

    name: str
    category: str
    choices: tuple[Choice, ...]
    n_in_min_tokens: int = 0
    n_in_max_tokens: int | None = None
    by_hour: tuple[HourEntry, ...] = ()
    by_carbon: tuple[CarbonBand, ...] = ()
    expected: Expected | None = None


@dataclass(frozen=True)
class CardRef:
    """A card the plan used, by name and content hash (``tpf.cards.card_sha256``)."""

    name: str
    sha256: str
    kind: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Provenance:
    """Where a policy comes from: scenario, cards, tpf version, creation time (UTC, ISO 8601)."""

    tpf_version: str
    created_utc: str
    scenario: str | None = None
    cards: tuple[CardRef, ...] = ()
    plan_status: str | None = None
    plan_objective: float | None = None
    plan_objective_unit: str | None = None


@dataclass(frozen=True)
class Prices:
    """The plan's shadow prices in per-query units, for routing by text.

    A decision for one query scores ``accuracy - accuracy_per_it_j[hour] * it_energy_j
    - accuracy_per_g_co2 * carbon_g`` with ``carbon_g = it_energy_j * pue *
    carbon_g_per_kwh / 3.6e6``. ``accuracy_per_it_j`` and ``carbon_g_per_kwh`` hold one
    value for the whole day or 24 (by hour of day). ``budget_it_j_per_query`` is the
    plan's expected IT energy per query, the budget an online price update keeps.
    """

    accuracy_per_it_j: tuple[float, ...]
    accuracy_per_g_co2: float = 0.0
    pue: float = 1.0
    carbon_g_per_kwh: tuple[float, ...] = ()
    budget_it_j_per_query: float | None = None
    source: str = ""

    def energy_price(self, hour: int | None) -> float:
        values = self.accuracy_per_it_j
        return values[0] if len(values) == 1 or hour is None else values[hour % len(values)]

    def carbon_intensity(self, hour: int | None) -> float:
        values = self.carbon_g_per_kwh
        if not values:
            return 0.0
        return values[0] if len(values) == 1 or hour is None else values[hour % len(values)]


@dataclass(frozen=True)
class Policy:
    """A whole routing policy. ``models`` declares every model the decisions may name."""

    models: tuple[str, ...]
    default_category: str
    classes: tuple[PolicyClass, ...]
    provenance: Provenance
    name: str = ""
    salt: str = ""
    format_version: str = FORMAT_VERSION
    notes: tuple[str, ...] = field(default_factory=tuple)
    prices: Prices | None = None


# --- to JSON-ready dicts ------------------------------------------------------------------


def _decision_to_dict(choice: Choice) -> dict[str, Any]:
    decision = choice.decision
    out: dict[str, Any] = {
        "weight": choice.weight,
        "model": decision.model,
        "strategy": decision.strategy,
        "max_new_tokens": decision.max_new_tokens,
        "votes": decision.votes,
    }
    if decision.hardware is not None:
        out["hardware"] = decision.hardware
    if decision.option_id is not None:
        out["option_id"] = decision.option_id
    return out


def _choices_to_list(choices: tuple[Choice, ...]) -> list[dict[str, Any]]:
    return [_decision_to_dict(choice) for choice in choices]


def _class_to_dict(cls: PolicyClass) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": cls.name,
        "category": cls.category,
        "n_in_min_tokens": cls.n_in_min_tokens,
        "n_in_max_tokens": cls.n_in_max_tokens,
        "decisions": _choices_to_list(cls.choices),
    }
    if cls.by_hour:
        out["by_hour"] = [
            {"hours": list(entry.hours), "decisions": _choices_to_list(entry.choices)}
            for entry in cls.by_hour
        ]
    if cls.by_carbon:
        out["by_carbon"] = [
            {
                "min_g_per_kwh": band.min_g_per_kwh,
                "max_g_per_kwh": band.max_g_per_kwh,
                "decisions": _choices_to_list(band.choices),
            }
            for band in cls.by_carbon
        ]
    if cls.expected is not None:
        out["expected"] = {k: v for k, v in _expected_items(cls.expected) if v is not None}
    return out


def _expected_items(expected: Expected) -> list[tuple[str, float | None]]:
    return [
        ("accuracy", expected.accuracy),
        ("energy_j_per_query", expected.energy_j_per_query),
        ("carbon_g_per_query", expected.carbon_g_per_query),
        ("queries", expected.queries),
    ]


def _provenance_to_dict(prov: Provenance) -> dict[str, Any]:
    return {
        "tpf_version": prov.tpf_version,
        "created_utc": prov.created_utc,
        "scenario": prov.scenario,
        "cards": [
            {k: v for k, v in (("name", c.name), ("sha256", c.sha256), ("kind", c.kind),
                               ("source", c.source)) if v is not None}
            for c in prov.cards
        ],
        "plan_status": prov.plan_status,
        "plan_objective": prov.plan_objective,
        "plan_objective_unit": prov.plan_objective_unit,
    }


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The JSON form of a policy (see ``policy.schema.json``)."""
    return {
        "format": FORMAT_NAME,
        "format_version": policy.format_version,
        "name": policy.name,
        "salt": policy.salt,
        "models": list(policy.models),
        "default_category": policy.default_category,
        "classes": [_class_to_dict(cls) for cls in policy.classes],
        "provenance": _provenance_to_dict(policy.provenance),
        "notes": list(policy.notes),
        **({} if policy.prices is None else {"prices": _prices_to_dict(policy.prices)}),
    }


def _prices_to_dict(prices: Prices) -> dict[str, Any]:
    return {
        "accuracy_per_it_j": list(prices.accuracy_per_it_j),
        "accuracy_per_g_co2": prices.accuracy_per_g_co2,
        "pue": prices.pue,
        "carbon_g_per_kwh": list(prices.carbon_g_per_kwh),
        "budget_it_j_per_query": prices.budget_it_j_per_query,
        "source": prices.source,
    }


def prices_from_dict(data: dict[str, Any]) -> Prices:
    """:class:`Prices` from the ``prices`` object of a checked policy."""
    budget = data.get("budget_it_j_per_query")
    return Prices(
        accuracy_per_it_j=tuple(float(v) for v in data["accuracy_per_it_j"]),
        accuracy_per_g_co2=float(data.get("accuracy_per_g_co2", 0.0)),
        pue=float(data.get("pue", 1.0)),
        carbon_g_per_kwh=tuple(float(v) for v in data.get("carbon_g_per_kwh", ())),
        budget_it_j_per_query=None if budget is None else float(budget),
        source=str(data.get("source", "")),
    )


# --- from checked dicts -------------------------------------------------------------------


def _choices_from_list(items: list[dict[str, Any]]) -> tuple[Choice, ...]:
    return tuple(
        Choice(
            weight=float(item["weight"]),
            decision=Decision(
                model=item["model"],
                strategy=item["strategy"],
                max_new_tokens=int(item["max_new_tokens"]),
                votes=int(item.get("votes", 1)),
                hardware=item.get("hardware"),
                option_id=item.get("option_id"),
            ),
        )
        for item in items
    )


def _class_from_dict(data: dict[str, Any]) -> PolicyClass:
    expected = data.get("expected")
    max_tokens = data.get("n_in_max_tokens")
    return PolicyClass(
        name=data["name"],
        category=data["category"],
        choices=_choices_from_list(data["decisions"]),
        n_in_min_tokens=int(data.get("n_in_min_tokens", 0)),
        n_in_max_tokens=None if max_tokens is None else int(max_tokens),
        by_hour=tuple(
            HourEntry(tuple(int(h) for h in e["hours"]), _choices_from_list(e["decisions"]))
            for e in data.get("by_hour", ())
        ),
        by_carbon=tuple(
            CarbonBand(
                float(b["min_g_per_kwh"]),
                None if b.get("max_g_per_kwh") is None else float(b["max_g_per_kwh"]),
                _choices_from_list(b["decisions"]),
            )
            for b in data.get("by_carbon", ())
        ),
        expected=None if expected is None else Expected(**expected),
    )


def policy_from_dict(data: dict[str, Any]) -> Policy:
    """Build a :class:`Policy` from JSON data that passed :func:`tpf.policy.validate.policy_problems`."""
    prov = data["provenance"]
    return Policy(
        models=tuple(data["models"]),
        default_category=data["default_category"],
        classes=tuple(_class_from_dict(c) for c in data["classes"]),
        provenance=Provenance(
            tpf_version=prov["tpf_version"],
            created_utc=prov["created_utc"],
            scenario=prov.get("scenario"),
            cards=tuple(CardRef(**card) for card in prov.get("cards", ())),
            plan_status=prov.get("plan_status"),
            plan_objective=prov.get("plan_objective"),
            plan_objective_unit=prov.get("plan_objective_unit"),
        ),
        name=data.get("name", ""),
        salt=data.get("salt", ""),
        format_version=data["format_version"],
        notes=tuple(data.get("notes", ())),
        prices=prices_from_dict(data["prices"]) if "prices" in data else None,
    )
