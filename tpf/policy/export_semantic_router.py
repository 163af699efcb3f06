"""Export a policy to the routing part of a vLLM Semantic Router config.

Target: the flat ``config.yaml`` layout of vLLM Semantic Router v0.1 ("Iris",
January 2026; Go structs ``IntelligentRouting`` and ``BackendModels`` in
``src/semantic-router/pkg/config/config.go``): top-level ``categories``
(``name, description, mmlu_categories``), ``decisions`` (``name, description,
priority, rules: {operator, conditions: [{type: domain, name}]}, modelRefs:
[{model, use_reasoning, reasoning_effort, reasoning_description}]``),
``strategy: priority`` and ``default_model``. Endpoints, ``model_config`` and
``reasoning_families`` are deployment details and are not written: merge the
output into an existing config.

What the target cannot express, and how it is approximated:

* fractional splits: v0.1 routes each decision to its first ``modelRef``, so
  each category gets the model of its highest-weight (model, strategy, budget)
  choice; further refs (``max_model_refs``) are listed in decreasing weight.
  The full split is kept in the decision's ``description``;
* token budgets: ``max_new_tokens`` becomes ``use_reasoning`` (on for ``cot``,
  and for ``mv`` above ``mv_reasoning_min_tokens``) plus ``reasoning_effort``
  by budget (``low`` up to ``effort_low_max_tokens``, ``medium`` up to
  ``effort_medium_max_tokens``, else ``high``); the number is not enforced;
* majority votes: not expressible, the vote count is dropped;
* input-length buckets: no length signal in v0.1; a category's buckets are
  merged, weighted by each class's expected queries (equal weights if absent);
* hours and carbon bands: no time or carbon signal; the export uses the all-day
  split, or the entry of one ``hour`` or one ``carbon_g_per_kwh`` when given
  (export one file per band and switch configs to follow the schedule).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpf.atomic import write_text_atomic
from tpf.errors import PolicyError
from tpf.policy.format import HOURS_PER_DAY, Choice, Policy, PolicyClass
from tpf.policy.validate import load_policy

TARGET = "vLLM Semantic Router v0.1 (Iris) config.yaml: categories, decisions, strategy, default_model"
MMLU_PRO_CATEGORIES = (
    "biology", "business", "chemistry", "computer science", "economics", "engineering", "health",
    "history", "law", "math", "other", "philosophy", "physics", "psychology",
)
DecisionKey = tuple[str, str, int, int]


@dataclass(frozen=True)
class ExportOptions:
    hour: int | None = None
    carbon_g_per_kwh: float | None = None
    max_model_refs: int = 1
    effort_low_max_tokens: int = 1024
    effort_medium_max_tokens: int = 4096
    mv_reasoning_min_tokens: int = 64
    priority: int = 100

    def problems(self) -> list[str]:
        out = []
        if self.hour is not None and not 0 <= self.hour < HOURS_PER_DAY:
            out.append(f"hour: must be in 0-23, got {self.hour}")
        if self.carbon_g_per_kwh is not None and not self.carbon_g_per_kwh >= 0:
            out.append(f"carbon_g_per_kwh: must be >= 0, got {self.carbon_g_per_kwh}")
        if self.max_model_refs < 1:
            out.append(f"max_model_refs: must be >= 1, got {self.max_model_refs}")
        if not 0 < self.effort_low_max_tokens <= self.effort_medium_max_tokens:
            out.append("effort thresholds: need 0 < effort_low_max_tokens <= effort_medium_max_tokens, "
                       f"got {self.effort_low_max_tokens}, {self.effort_medium_max_tokens}")
        return out


def mmlu_pro_category(category: str) -> str | None:
    """The MMLU-Pro category a tpf category names (case, '_' and '-' ignored), or None."""
    key = category.strip().lower().replace("_", " ").replace("-", " ")
    return key if key in MMLU_PRO_CATEGORIES else None


def _class_choices(cls: PolicyClass, options: ExportOptions) -> tuple[Choice, ...]:
    if options.carbon_g_per_kwh is not None and cls.by_carbon:
        for band in cls.by_carbon:
            if band.max_g_per_kwh is None or options.carbon_g_per_kwh < band.max_g_per_kwh:
                return band.choices
    if options.hour is not None and cls.by_hour:
        for entry in cls.by_hour:
            if options.hour in entry.hours:
                return entry.choices
    return cls.choices


def category_mix(classes: list[PolicyClass], options: ExportOptions) -> dict[DecisionKey, float]:
    """Merged split of a category's classes: weights per (model, strategy, budget, votes)."""
    volumes = [c.expected.queries if c.expected and c.expected.queries else 0.0 for c in classes]
    if not sum(volumes) > 0:
        volumes = [1.0] * len(classes)
    total = sum(volumes)
    mix: dict[DecisionKey, float] = {}
    for cls, volume in zip(classes, volumes, strict=True):
        for choice in _class_choices(cls, options):
            d = choice.decision
            key = (d.model, d.strategy, d.max_new_tokens, d.votes)
            mix[key] = mix.get(key, 0.0) + choice.weight * volume / total
    return mix


def _ranked(mix: dict[DecisionKey, float]) -> list[tuple[DecisionKey, float]]:
    return sorted(mix.items(), key=lambda item: (-item[1], item[0]))


def _reasoning(key: DecisionKey, options: ExportOptions) -> dict[str, Any]:
    _, strategy, budget, _ = key
    thinking = strategy == "cot" or (strategy == "mv" and budget >= options.mv_reasoning_min_tokens)
    if not thinking:
        return {"use_reasoning": False}
    if budget <= options.effort_low_max_tokens:
        effort = "low"
    elif budget <= options.effort_medium_max_tokens:
        effort = "medium"
    else:
        effort = "high"
    return {"use_reasoning": True, "reasoning_effort": effort}


def _describe(ranked: list[tuple[DecisionKey, float]]) -> str:
    parts = [f"{w:.1%} {m} {s} max_new_tokens={b}" + (f" votes={v}" if v > 1 else "")
             for (m, s, b, v), w in ranked]
    return "tpf split: " + "; ".join(parts)


def _decision_name(category: str) -> str:
    return "tpf_" + (re.sub(r"[^0-9A-Za-z]+", "_", category).strip("_").lower() or "category")


def _model_refs(ranked: list[tuple[DecisionKey, float]], options: ExportOptions) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = []
    for key, weight in ranked:
        if len(refs) >= options.max_model_refs:
            break
        if any(ref["model"] == key[0] for ref in refs):
            continue
        reasoning = _reasoning(key, options)
        reasoning["reasoning_description"] = (
            f"tpf: {weight:.1%} of the category, {key[1]} with max_new_tokens={key[2]}"
        )
        refs.append({"model": key[0], **reasoning})
    return refs


def semantic_router_config(policy: Policy, options: ExportOptions | None = None) -> tuple[dict[str, Any], list[str]]:
    """The categories/decisions config and the notes on what was approximated."""
    options = options or ExportOptions()
    problems = options.problems()
    if problems:
        raise PolicyError("semantic-router export: " + "; ".join(problems))
    grouped: dict[str, list[PolicyClass]] = {}
    for cls in policy.classes:
        grouped.setdefault(cls.category, []).append(cls)
    categories, decisions, notes = [], [], []
    mixes = {category: _ranked(category_mix(members, options)) for category, members in grouped.items()}
    for category, ranked in mixes.items():
        entry: dict[str, Any] = {"name": category,
                                 "description": f"tpf classes: {', '.join(c.name for c in grouped[category])}"}
        mmlu = mmlu_pro_category(category)
        if mmlu is not None:
            entry["mmlu_categories"] = [mmlu]
        else:
            notes.append(f"category {category!r} is not an MMLU-Pro category: map the classifier's "
                         "labels to it (mmlu_categories) or it never matches")
        categories.append(entry)
        if len(ranked) > 1:
            notes.append(f"category {category!r}: split of {len(ranked)} choices reduced to "
                         f"{ranked[0][0][0]} ({ranked[0][1]:.1%})")
        decisions.append({
            "name": _decision_name(category),
            "description": _describe(ranked),
            "priority": options.priority,
            "rules": {"operator": "AND", "conditions": [{"type": "domain", "name": category}]},
            "modelRefs": _model_refs(ranked, options),
        })
    config = {"categories": categories, "strategy": "priority",
              "default_model": mixes[policy.default_category][0][0][0], "decisions": decisions}
    return config, notes


def _header(policy: Policy, options: ExportOptions, notes: list[str]) -> str:
    when = ("all-day split" if options.hour is None and options.carbon_g_per_kwh is None else
            f"carbon band at {options.carbon_g_per_kwh:g} gCO2/kWh" if options.carbon_g_per_kwh is not None
            else f"hour {options.hour}")
    lines = [
        f"Generated by tpf {policy.provenance.tpf_version} from policy {policy.name or '<unnamed>'!r} "
        f"(format {policy.format_version}, created {policy.provenance.created_utc}).",
        f"Target schema: {TARGET}.",
        f"Splits exported: {when}. Merge into a full config (endpoints, model_config, reasoning_families).",
        "Approximations: fractional splits -> highest-weight model first; token budgets -> "
        "use_reasoning + reasoning_effort; votes, length buckets and schedules are not expressible.",
        *notes,
    ]
    return "".join(f"# {line}\n" for line in lines)


def write_semantic_router(
    policy: Policy | str | os.PathLike[str], out: str | os.PathLike[str], options: ExportOptions | None = None
) -> Path:
    """Write the semantic-router categories/decisions YAML for a policy (file or object)."""
    import yaml

    checked = load_policy(policy)
    options = options or ExportOptions()
    config, notes = semantic_router_config(checked, options)
    text = _header(checked, options, notes) + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    return write_text_atomic(out, text)
