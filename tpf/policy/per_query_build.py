"""Build a :class:`~tpf.policy.per_query.TextRouter` from a policy file alone (``TextRouter.from_policy``).

What a policy.json names is enough:

* options: every decision of every class, hour entry and carbon band;
* prices: the policy's ``prices`` (written by ``tpf plan``);
* energy: the energy card of each model, found among the packaged cards
  (``tpf/data/cards``, recursively) by the name and content hash the policy's
  provenance records, or given as ``cards=[PATH, ...]``; the surface is fitted
  at ``batch_size``;
* per-class accuracy: the accuracy card the provenance names, read at the
  plan's category of each estimator label.

Model names are compared once, normalized (:func:`model_key`: case and
surrounding space ignored), so ``Llama-3.1-8B`` on the accuracy card,
``llama-3.1-8b`` in the policy and on the energy card, and the estimator's
``llama-3.1-8b`` are one model; two names that normalize alike in one source
are an error. The estimator's labels (the 14 MMLU-Pro categories) map to the
plan's categories through the same map as the semantic-router export
(:func:`tpf.policy.export_semantic_router.category_labels`: a category that is
an MMLU-Pro label, else :data:`tpf.domain.MMLU_PRO_CATEGORY_MAP`, else the
caller's ``category_map``); labels no category claims (e.g. ``business``,
``other`` for the EuroMLSys'25 categories) count as the policy's
``default_category``, as :class:`tpf.policy.Router` routes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tpf.errors import EstimatorError, PolicyError
from tpf.policy.format import Decision, Policy


def model_key(name: str) -> str:
    """The one spelling models are compared in: lower case, no surrounding space."""
    return name.strip().lower()


def _keyed(names: Iterable[str], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        key = model_key(name)
        if key in out and out[key] != name:
            raise PolicyError(f"{where}: models {out[key]!r} and {name!r} differ only in case")
        out[key] = name
    return out


def label_categories(policy: Policy, labels: Sequence[str],
                     category_map: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> dict[str, str]:
    """Estimator label -> the policy's category (unclaimed labels: the default category)."""
    from tpf.policy.export_semantic_router import ExportOptions, category_labels

    options = ExportOptions(category_map=category_map)
    out: dict[str, str] = {}
    for category in dict.fromkeys(cls.category for cls in policy.classes):
        mapped = category_labels(category, options)
        if mapped is None:
            raise PolicyError(f"category {category!r} has no MMLU-Pro labels: give category_map "
                              f"(e.g. (('{category}', ('law',)),)); labels: {', '.join(labels)}")
        for label in mapped:
            if label not in labels:
                raise PolicyError(f"category_map[{category}]: label {label!r} is not an estimator class "
                                  f"({', '.join(labels)})")
            out[label] = category
    return {label: out.get(label, policy.default_category) for label in labels}


def _packaged_cards() -> list[Path]:
    from importlib import resources

    root = Path(str(resources.files("tpf").joinpath("data", "cards")))
    return sorted(root.rglob("*.yaml"))


def aligned(card: Any, models: Sequence[str]) -> Any:
    """An accuracy card with its model names spelt as the policy's (the plan hashes it so)."""
    import dataclasses

    from tpf.cards import AccuracyCard

    if not isinstance(card, AccuracyCard):
        return card
    names = _keyed(models, "policy.models")
    curves = [dataclasses.replace(c, model=names.get(model_key(c.model), c.model)) for c in card.curves]
    return dataclasses.replace(card, curves=curves)


def policy_cards(policy: Policy, cards: Sequence[str | os.PathLike[str]] | None = None) -> list[Any]:
    """The cards the policy's provenance names (name and sha256), from ``cards`` or the packaged ones.

    Given ``cards`` are used as they are (model names aligned); packaged cards must match the
    provenance's content hash (an accuracy card's after aligning its model names).
    """
    from tpf.cards import card_sha256, load_card

    if cards is not None:
        return [aligned(load_card(path), policy.models) for path in cards]
    stems = {ref.name.removesuffix(".yaml") for ref in policy.provenance.cards}
    found: dict[str, Any] = {}
    for path in _packaged_cards():
        if path.stem in stems:
            card = aligned(load_card(path), policy.models)
            found.setdefault(card_sha256(card), card)
    missing = [f"provenance.cards[{i}] {ref.name!r} (sha256 {ref.sha256[:12]})"
               for i, ref in enumerate(policy.provenance.cards) if ref.sha256 not in found]
    if missing:
        raise PolicyError(f"cards the policy was planned with are not packaged: {', '.join(missing)}; "
                          "pass them as cards=[PATH, ...] (--card on the command line)")
    return [found[ref.sha256] for ref in policy.provenance.cards]


def _accuracy_lookup(accuracy_card: Any, labels: dict[str, str]) -> Any:
    names = _keyed({curve.model for curve in accuracy_card.curves}, "accuracy card")

    def accuracy(decision: Decision, label: str) -> float:
        model = names.get(model_key(decision.model))
        category = labels[label]
        if model is None or not accuracy_card.has(model, category, decision.strategy):
            raise EstimatorError(f"accuracy card: no curve for model {decision.model!r} (card models: "
                                 f"{', '.join(sorted(names.values()))}), category {category!r}, "
                                 f"strategy {decision.strategy!r}")
        return accuracy_card.accuracy(model, category, decision.strategy, decision.max_new_tokens, decision.votes)

    return accuracy


def build_text_router(policy: Policy, estimator: Any, cards: Sequence[str | os.PathLike[str]] | None = None,
                      batch_size: float = 16.0,
                      category_map: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> Any:
    """The TextRouter of a policy (see the module doc); ``estimator`` a TextEstimator."""
    from tpf.cards import AccuracyCard, EnergyCard
    from tpf.estimator.energy import EnergySurface
    from tpf.policy.per_query import text_router_from_policy

    loaded = policy_cards(policy, cards)
    accuracy_cards = [c for c in loaded if isinstance(c, AccuracyCard)]
    if len(accuracy_cards) != 1:
        raise PolicyError(f"cards: need exactly one accuracy card, got {len(accuracy_cards)}")
    energy = {model_key(c.model): c for c in loaded if isinstance(c, EnergyCard)}
    models = _keyed(policy.models, "policy.models")
    missing = sorted(name for key, name in models.items() if key not in energy)
    if missing:
        raise PolicyError(f"cards: no energy card for model(s) {missing}; have {sorted(energy)}")
    surfaces = {name: EnergySurface.from_card(energy[key], batch_size) for key, name in models.items()}
    labels = label_categories(policy, estimator.classes, category_map)
    router = text_router_from_policy(policy, estimator, surfaces, _accuracy_lookup(accuracy_cards[0], labels),
                                     lambda decision, label: None)
    router.label_categories, router.policy = labels, policy
    return router
