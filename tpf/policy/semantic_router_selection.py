"""The vLLM Semantic Router's selection rules, reproduced to check what an export routes where.

Read from the router's source (github.com/vllm-project/semantic-router,
``src/semantic-router/pkg``; the same rules at tag v0.3.0 and commit
3d48f8c9 of 2026-08-22, where the ``metadata`` signal is present):

* signals (``classification/``): a ``domain`` leaf holds when the classifier's
  label is the domain's name or one of its ``mmlu_categories``; a ``context``
  leaf when ``min_tokens <= tokens <= max_tokens`` (inclusive); a ``metadata``
  leaf when the request body's ``metadata[key]`` is a text in ``predicate.in``
  (``classifier_signal_metadata.go``, ``metadataRuleMatches``);
* decisions (``decision/engine.go``): every decision whose rule tree holds
  matches (``AND`` of no conditions matches with confidence 0; otherwise the
  mean of its leaves' confidences); with ``strategy: priority`` and no tiers
  the winner is the highest ``priority``, then the highest confidence, then
  the smallest name (``decisionResultLess``);
* model (``selection/static.go``): ``algorithm: static`` scores every
  candidate 1.0 unless ``model_scores`` are set and returns the first of the
  best, so the first ``modelRefs`` entry; its ``weight`` is never read.

Leaf confidences are taken as 1.0 (a classifier's confidence only orders
decisions of equal priority, which a tpf export never lets match together).
Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tpf.errors import PolicyError


@dataclass(frozen=True)
class Request:
    """What the router sees of a request: the classifier's label, prompt tokens and body metadata."""

    label: str
    n_in_tokens: int
    metadata: tuple[tuple[str, str], ...] = ()


def _signal(config: dict[str, Any], collection: str, name: str) -> dict[str, Any]:
    for rule in config["routing"]["signals"].get(collection, []):
        if rule["name"] == name:
            return rule
    raise PolicyError(f"routing.signals.{collection}: no rule named {name!r}")


def _leaf(node: dict[str, Any], request: Request, config: dict[str, Any]) -> bool:
    kind = node["type"]
    if kind == "domain":
        domain = _signal(config, "domains", node["name"])
        return request.label == domain["name"] or request.label in domain.get("mmlu_categories", [])
    if kind == "context":
        band = _signal(config, "context", node["name"])
        upper = float(band["max_tokens"]) if "max_tokens" in band else math.inf
        return int(band["min_tokens"]) <= request.n_in_tokens <= upper
    if kind == "metadata":
        rule = _signal(config, "metadata", node["name"])
        value = dict(request.metadata).get(rule["key"])
        return value is not None and value in rule["predicate"]["in"]
    raise PolicyError(f"signal type {kind!r} is not reproduced here (domain, context, metadata are)")


def _holds(node: dict[str, Any], request: Request, config: dict[str, Any]) -> tuple[bool, float]:
    """(matched, confidence) of a rule node: AND, OR, NOT and leaves, as engine.go evaluates them."""
    if "conditions" not in node and "type" in node:
        return _leaf(node, request, config), 1.0
    children = node.get("conditions", [])
    operator = str(node.get("operator", "OR")).upper()
    results = [_holds(child, request, config) for child in children]
    if operator == "AND":
        if not children:
            return True, 0.0
        return all(m for m, _ in results), sum(c for _, c in results) / len(results)
    if operator == "NOT":
        return len(results) == 1 and not results[0][0], 1.0
    matched = [c for m, c in results if m]
    return bool(matched), max(matched, default=0.0)


def winning_decision(config: dict[str, Any], request: Request) -> dict[str, Any] | None:
    """The decision the router picks (priority, then confidence, then name), or None."""
    if config["routing"].get("strategy", "priority") != "priority":
        raise PolicyError("routing.strategy: only 'priority' is reproduced here")
    matched = []
    for decision in config["routing"]["decisions"]:
        rules = decision.get("rules")
        ok, confidence = (True, 0.0) if not rules else _holds(rules, request, config)
        if ok:
            matched.append((-decision.get("priority", 0), -confidence, decision["name"], decision))
    return min(matched, key=lambda item: item[:3])[3] if matched else None


def selected_ref(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """The modelRef the router sends the request to: the first candidate of the winning static decision."""
    decision = winning_decision(config, request)
    if decision is None:
        raise PolicyError(f"no decision matches {request}")
    algorithm = decision.get("algorithm", {}).get("type", "static")
    if algorithm != "static":
        raise PolicyError(f"decision {decision['name']!r}: algorithm {algorithm!r} is not reproduced here")
    return dict(decision["modelRefs"][0])


OptionKey = tuple[str, bool, str]


def _key(ref: dict[str, Any]) -> OptionKey:
    return ref["model"], bool(ref.get("use_reasoning", False)), str(ref.get("reasoning_effort", ""))


def class_request(config: dict[str, Any], category: str, n_in_min_tokens: int) -> tuple[str, int]:
    """A (label, prompt tokens) the router reads as this class: the domain's first label, the bucket's floor."""
    domain = _signal(config, "domains", category)
    labels = domain.get("mmlu_categories") or [domain["name"]]
    return labels[0], n_in_min_tokens


def routed_shares(config: dict[str, Any], label: str, n_in_tokens: int, request_ids: Any) -> dict[OptionKey, float]:
    """Share of requests per (model, use_reasoning, effort) under the router's rules, each request carrying
    ``metadata.tpf_bucket`` from :func:`tpf.policy.buckets.request_bucket` of its id."""
    from tpf.policy.buckets import METADATA_KEY, request_bucket

    counts: dict[OptionKey, int] = {}
    by_bucket: dict[str, OptionKey] = {}
    n = 0
    for request_id in request_ids:
        bucket = request_bucket(request_id)
        if bucket not in by_bucket:  # the rules read only label, tokens and bucket
            by_bucket[bucket] = _key(selected_ref(config, Request(label, n_in_tokens, ((METADATA_KEY, bucket),))))
        counts[by_bucket[bucket]] = counts.get(by_bucket[bucket], 0) + 1
        n += 1
    return {key: count / n for key, count in counts.items()}


def bucket_shares(config: dict[str, Any], label: str, n_in_tokens: int) -> dict[OptionKey, float]:
    """Share of the 100 buckets per (model, use_reasoning, effort): the split the router carries out
    when request ids spread evenly over buckets."""
    from tpf.policy.buckets import METADATA_KEY, N_BUCKETS

    counts: dict[OptionKey, int] = {}
    for bucket in range(N_BUCKETS):
        key = _key(selected_ref(config, Request(label, n_in_tokens, ((METADATA_KEY, f"{bucket:02d}"),))))
        counts[key] = counts.get(key, 0) + 1
    return {key: count / N_BUCKETS for key, count in counts.items()}
