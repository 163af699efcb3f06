"""Export a policy to a vLLM Semantic Router config (canonical v0.3 layout).

Target: the config ``vllm-sr config validate`` (vllm-sr 0.4.0) accepts as
written: ``version: v0.3``, ``listeners``, ``providers`` (endpoints from the
operator's providers file, :mod:`tpf.policy.semantic_router_providers`),
``routing`` (``modelCards``, ``signals.domains`` and ``signals.context``,
``decisions``) and ``global``. Every export is checked against the router's
JSON Schema (vendored in ``semantic_router_v0_3/``) and the annotation limits
before it is written.

Mapping (docs/policy.md has the full table):

* one domain signal per category, matched on MMLU-Pro classifier labels: an
  MMLU-Pro category maps to itself, the EuroMLSys'25 categories to the labels
  of :data:`tpf.domain.MMLU_PRO_CATEGORY_MAP`, others to the labels the caller
  gives (``category_map``); a category without labels is an export error;
* one decision per class (category x input-length bucket): ``domain AND
  context`` (a bucket [min, max) tokens is the inclusive context band
  [min, max - 1]), ``algorithm: static``, the split as weighted ``modelRefs``
  in decreasing weight, the plan's figures in ``annotations``;
* fallback decisions (lower priority, no domain) route requests that match no
  category with the default category's split, as :class:`tpf.policy.Router` does;
* reasoning per the model's declared family; votes and token budgets are not
  expressible and are kept in annotations; hours and carbon bands take one
  config per band (:mod:`tpf.policy.semantic_router_bands`);
* with a text estimator (``estimator``, :mod:`tpf.policy.semantic_router_estimator`)
  the domains match the estimator's class labels (checked against its classes,
  not the MMLU-Pro list), name it, and each decision carries the share of its
  category's queries the estimator reads right.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpf.atomic import write_text_atomic
from tpf.domain import MMLU_PRO_CATEGORIES, MMLU_PRO_CATEGORY_MAP
from tpf.errors import PolicyError
from tpf.policy.buckets import METADATA_KEY
from tpf.policy.format import HOURS_PER_DAY, Choice, Policy, PolicyClass
from tpf.policy.semantic_router_buckets import bucket_signal, bucket_text, split_by_bucket
from tpf.policy.semantic_router_estimator import EstimatorLabels
from tpf.policy.semantic_router_providers import (
    Providers,
    check_provider_models,
    load_providers,
    reasoning_fields,
)
from tpf.policy.semantic_router_schema import MAX_ANNOTATION_BYTES, config_problems
from tpf.policy.validate import load_policy

TARGET = ("vLLM Semantic Router config v0.3 (version, listeners, providers, routing, global), "
          "as vllm-sr 0.4.0 validates it")
RefKey = tuple[str, bool, str]


@dataclass(frozen=True)
class ExportOptions:
    """What to export: the all-day split, or one ``hour`` or ``carbon_g_per_kwh`` band.

    ``category_map`` adds or overrides category -> MMLU-Pro labels (the
    estimator's labels when ``estimator`` is given). Reasoning is
    on for ``cot`` and for ``mv`` at ``mv_reasoning_min_tokens`` or more; the
    wanted effort is ``low`` up to ``effort_low_max_tokens``, ``medium`` up to
    ``effort_medium_max_tokens``, else ``high`` (then the family's nearest level).
    """

    hour: int | None = None
    carbon_g_per_kwh: float | None = None
    category_map: tuple[tuple[str, tuple[str, ...]], ...] = ()
    effort_low_max_tokens: int = 1024
    effort_medium_max_tokens: int = 4096
    mv_reasoning_min_tokens: int = 64
    priority: int = 100
    fallback_priority: int = 10
    estimator: EstimatorLabels | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """The classifier labels domains may match: the estimator's classes, else MMLU-Pro's."""
        return self.estimator.classes if self.estimator is not None else MMLU_PRO_CATEGORIES

    def problems(self) -> list[str]:
        out = []
        if self.hour is not None and not 0 <= self.hour < HOURS_PER_DAY:
            out.append(f"hour: must be in 0-23, got {self.hour}")
        if self.carbon_g_per_kwh is not None and not self.carbon_g_per_kwh >= 0:
            out.append(f"carbon_g_per_kwh: must be >= 0, got {self.carbon_g_per_kwh}")
        if not 0 < self.effort_low_max_tokens <= self.effort_medium_max_tokens:
            out.append("effort thresholds: need 0 < effort_low_max_tokens <= effort_medium_max_tokens, "
                       f"got {self.effort_low_max_tokens}, {self.effort_medium_max_tokens}")
        if not self.priority > self.fallback_priority + 1:
            out.append(f"priority ({self.priority}) must exceed fallback_priority + 1 ({self.fallback_priority + 1}):"
                       " bucket decisions sit one priority above their class")
        for category, labels in self.category_map:
            unknown = [label for label in labels if label not in self.labels]
            if unknown or not labels:
                out.append(f"category_map[{category}]: labels must be {self.label_kind()} "
                           f"({', '.join(self.labels)}), got {list(labels)}")
        return out

    def label_kind(self) -> str:
        return "MMLU-Pro categories" if self.estimator is None else f"classes of estimator {self.estimator.name}"


def _label_key(category: str) -> str:
    """A category spelt as a classifier label: lower case, '_' and '-' read as spaces."""
    return category.strip().lower().replace("_", " ").replace("-", " ")


def mmlu_pro_category(category: str) -> str | None:
    """The MMLU-Pro category a tpf category names (case, '_' and '-' ignored), or None."""
    key = _label_key(category)
    return key if key in MMLU_PRO_CATEGORIES else None


def category_labels(category: str, options: ExportOptions) -> tuple[str, ...] | None:
    """The classifier labels a category matches: the caller's map, the label itself, or the paper's map
    (with an estimator: labels among its classes only)."""
    overrides = dict(options.category_map)
    if category in overrides:
        return tuple(overrides[category])
    key = _label_key(category)
    direct = next((label for label in options.labels if label.lower() == key), None)
    if direct is not None:
        return (direct,)
    mapped = MMLU_PRO_CATEGORY_MAP.get(category)
    return mapped if mapped is not None and all(label in options.labels for label in mapped) else None


def domain_signals(categories: list[str], options: ExportOptions) -> list[dict[str, Any]]:
    """One domain per category; refuses unmapped categories and labels claimed twice."""
    problems: list[str] = []
    owner: dict[str, str] = {}
    domains: list[dict[str, Any]] = []
    for category in categories:
        labels = category_labels(category, options)
        if labels is None:
            source = "MMLU-Pro" if options.estimator is None else f"estimator {options.estimator.name}"
            problems.append(f"category {category!r} has no {source} labels, so the router's classifier could "
                            "never match it: map it with --map CATEGORY=LABEL[,LABEL] (labels: "
                            f"{', '.join(options.labels)})")
            continue
        for label in labels:
            if label in owner:
                problems.append(f"label {label!r} is mapped to both {owner[label]!r} and {category!r}")
            owner[label] = category
        source = "MMLU-Pro" if options.estimator is None else f"classes of tpf text estimator {options.estimator.name}"
        domains.append({"name": category, "description": f"tpf category {category}: {source} "
                        f"{', '.join(labels)}", "mmlu_categories": list(labels)})
    if problems:
        raise PolicyError("semantic-router export: " + "; ".join(problems))
    return domains


def _bucket_text(cls: PolicyClass) -> str:
    upper = "inf" if cls.n_in_max_tokens is None else str(cls.n_in_max_tokens)
    return f"[{cls.n_in_min_tokens}, {upper})"


def context_signal(cls: PolicyClass) -> dict[str, Any] | None:
    """The inclusive context band of a class's bucket [min, max); None for [0, inf)."""
    if cls.n_in_min_tokens == 0 and cls.n_in_max_tokens is None:
        return None
    upper = "up" if cls.n_in_max_tokens is None else str(cls.n_in_max_tokens - 1)
    signal: dict[str, Any] = {"name": f"tokens_{cls.n_in_min_tokens}_{upper}",
                              "min_tokens": str(cls.n_in_min_tokens)}
    if cls.n_in_max_tokens is not None:
        signal["max_tokens"] = str(cls.n_in_max_tokens - 1)
    signal["description"] = f"prompt tokens in {_bucket_text(cls)}"
    return signal


def class_choices(cls: PolicyClass, options: ExportOptions) -> tuple[Choice, ...]:
    """The split of the exported band: the carbon band, else the hour entry, else all day."""
    if options.carbon_g_per_kwh is not None and cls.by_carbon:
        for band in cls.by_carbon:
            if band.max_g_per_kwh is None or options.carbon_g_per_kwh < band.max_g_per_kwh:
                return band.choices
    if options.hour is not None and cls.by_hour:
        for entry in cls.by_hour:
            if options.hour in entry.hours:
                return entry.choices
    return cls.choices


def _thinking_and_effort(choice: Choice, options: ExportOptions) -> tuple[bool, str]:
    d = choice.decision
    thinking = d.strategy == "cot" or (d.strategy == "mv" and d.max_new_tokens >= options.mv_reasoning_min_tokens)
    effort = ("low" if d.max_new_tokens <= options.effort_low_max_tokens else
              "medium" if d.max_new_tokens <= options.effort_medium_max_tokens else "high")
    return thinking, effort


def model_refs(choices: tuple[Choice, ...], providers: Providers, options: ExportOptions,
               notes: list[str], where: str) -> list[dict[str, Any]]:
    """Weighted model references, merged where the router cannot tell choices apart."""
    merged: dict[RefKey, float] = {}
    for choice in choices:
        model = choice.decision.model
        family = providers.endpoint(model).reasoning_family
        thinking, effort = _thinking_and_effort(choice, options)
        try:
            fields = reasoning_fields(model, family, thinking, effort)
        except PolicyError as exc:
            raise PolicyError(f"semantic-router export, {where}: {exc}") from exc
        if thinking and family is None:
            notes.append(f"{where}: {choice.weight:.1%} {model} {choice.decision.strategy} exported without "
                         "reasoning (the model declares no reasoning family)")
        key = (model, bool(fields["use_reasoning"]), str(fields.get("reasoning_effort", "")))
        merged[key] = merged.get(key, 0.0) + choice.weight
    refs: list[dict[str, Any]] = []
    for (model, use_reasoning, effort), weight in sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])):
        if refs and round(weight, 6) == 0:  # below the exported precision: never drawn
            continue
        ref: dict[str, Any] = {"model": model, "weight": round(weight, 6), "use_reasoning": use_reasoning}
        if effort:
            ref["reasoning_effort"] = effort
        refs.append(ref)
    return refs


def split_text(choices: tuple[Choice, ...]) -> str:
    """``"55.0% llama-8b cot max_new_tokens=512; ..."``: every choice of a split, votes included."""
    return "; ".join(f"{c.weight:.1%} {c.decision.model} {c.decision.strategy} max_new_tokens="
                     f"{c.decision.max_new_tokens}" + (f" votes={c.decision.votes}" if c.decision.votes > 1 else "")
                     for c in choices)


def _number(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.6g}"


def estimator_annotations(category: str, options: ExportOptions) -> dict[str, str]:
    """With an estimator: its name and card digest, and the share of the category's queries it reads right."""
    est = options.estimator
    if est is None:
        return {}
    labels = category_labels(category, options) or ()
    return {"tpf_estimator": f"{est.name} (card sha256 {est.card_sha256[:16]})",
            "tpf_estimator_read_right": _number(est.read_right(labels))}


def decision_annotations(policy: Policy, cls: PolicyClass, choices: tuple[Choice, ...], band: str,
                         extra: dict[str, str] | None = None) -> dict[str, str]:
    """The plan's figures for a decision, as text, within the router's 32 entries and 4,096 bytes."""
    e = cls.expected
    out = {
        "tpf_policy": policy.name or "unnamed",
        "tpf_class": cls.name,
        "tpf_category": cls.category,
        "tpf_n_in_tokens": _bucket_text(cls),
        "tpf_band": band,
        "tpf_expected_accuracy": _number(e.accuracy if e else None),
        "tpf_expected_energy_j_per_query": _number(e.energy_j_per_query if e else None),
        "tpf_expected_carbon_g_per_query": _number(e.carbon_g_per_query if e else None),
        "tpf_expected_queries_per_day": _number(e.queries if e else None),
        **(extra or {}),
        "tpf_split": split_text(choices),
    }
    size = len(json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_ANNOTATION_BYTES:
        room = len(out["tpf_split"].encode("utf-8")) - (size - MAX_ANNOTATION_BYTES) - 40
        out["tpf_split"] = out["tpf_split"].encode("utf-8")[:max(room, 0)].decode("utf-8", "ignore") + " ... (cut)"
    return out


def band_text(options: ExportOptions) -> str:
    if options.carbon_g_per_kwh is not None:
        return f"carbon {options.carbon_g_per_kwh:g} gCO2/kWh"
    return "all day" if options.hour is None else f"hour {options.hour}"


def _decision_name(prefix: str, class_name: str) -> str:
    return prefix + (re.sub(r"[^0-9A-Za-z]+", "_", class_name).strip("_").lower() or "class")


def _decision(name: str, priority: int, conditions: list[dict[str, str]], refs: list[dict[str, Any]],
              notes: dict[str, str], description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "priority": priority,
            "rules": {"operator": "AND", "conditions": conditions},
            "algorithm": {"type": "static"}, "modelRefs": refs, "annotations": notes}


def _split_decisions(name: str, priority: int, conditions: list[dict[str, str]], refs: list[dict[str, Any]],
                     figures: Callable[[str], dict[str, str]], text: str, where: str, notes: list[str],
                     metadata: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The class's own decision (largest share, the buckets left) and one bucket decision per other option."""
    (main_ref, main_span), *others = split_by_bucket(refs, where, notes)
    rest = f"{bucket_text(main_span)} and requests without metadata.{METADATA_KEY}"
    out = [_decision(name, priority, conditions, [main_ref], figures(rest), f"{text}; buckets {rest}")]
    for ref, span in others:
        signal = bucket_signal(*span)
        metadata.setdefault(signal["name"], signal)
        out.append(_decision(f"{name}_b{span[0]:02d}", priority + 1,
                             [*conditions, {"type": "metadata", "name": signal["name"]}], [ref],
                             figures(bucket_text(span)), f"{text}; buckets {bucket_text(span)}"))
    return out


def _class_decisions(policy: Policy, providers: Providers, options: ExportOptions, notes: list[str],
                     metadata: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    decisions, fallbacks = [], []
    for cls in policy.classes:
        choices = class_choices(cls, options)
        where = f"class {cls.name!r}"
        refs = model_refs(choices, providers, options, notes, where)
        extra = estimator_annotations(cls.category, options)

        def figures(buckets: str, cls: PolicyClass = cls, choices: tuple[Choice, ...] = choices,
                    extra: dict[str, str] = extra) -> dict[str, str]:
            return decision_annotations(policy, cls, choices, band_text(options), {**extra, "tpf_buckets": buckets})

        context = context_signal(cls)
        length = [] if context is None else [{"type": "context", "name": context["name"]}]
        text = f"tpf class {cls.name}: category {cls.category}, input tokens {_bucket_text(cls)}"
        decisions += _split_decisions(_decision_name("tpf_", cls.name), options.priority,
                                      [{"type": "domain", "name": cls.category}, *length], refs, figures, text,
                                      where, notes, metadata)
        if cls.category == policy.default_category:
            fallbacks += _split_decisions(_decision_name("tpf_fallback_", cls.name), options.fallback_priority,
                                          length, refs, figures,
                                          f"requests of no exported category, input tokens {_bucket_text(cls)}: "
                                          f"default category {cls.category}", f"fallback {where}", [], metadata)
    return decisions, fallbacks


def _context_signals(policy: Policy) -> list[dict[str, Any]]:
    signals: dict[str, dict[str, Any]] = {}
    for cls in policy.classes:
        signal = context_signal(cls)
        if signal is not None:
            signals.setdefault(signal["name"], signal)
    return list(signals.values())


def _providers_block(policy: Policy, providers: Providers, default_model: str) -> dict[str, Any]:
    models = []
    for model in policy.models:
        endpoint = providers.endpoint(model)
        entry: dict[str, Any] = {"name": model}
        if endpoint.reasoning_family is not None:
            entry["reasoning"] = {"family": endpoint.reasoning_family}
        if endpoint.provider_model_id is not None:
            entry["provider_model_id"] = endpoint.provider_model_id
        backend: dict[str, Any] = {"name": "primary", "provider": endpoint.provider, "endpoint": endpoint.endpoint,
                                   "protocol": endpoint.protocol, "weight": 100}
        if endpoint.api_key_env is not None:
            backend["api_key_env"] = endpoint.api_key_env
        entry["backend_refs"] = [backend]
        models.append(entry)
    return {"defaults": {"model": default_model}, "models": models}


def semantic_router_config(policy: Policy, options: ExportOptions | None = None,
                           providers: Providers | None = None) -> tuple[dict[str, Any], list[str]]:
    """The v0.3 config and the notes on what was approximated; checked against the router's schema."""
    options = options or ExportOptions()
    providers = providers or Providers()
    problems = options.problems()
    if problems:
        raise PolicyError("semantic-router export: " + "; ".join(problems))
    notes: list[str] = []
    categories = list(dict.fromkeys(cls.category for cls in policy.classes))
    domains = domain_signals(categories, options)
    metadata: dict[str, dict[str, Any]] = {}
    decisions, fallbacks = _class_decisions(policy, providers, options, notes, metadata)
    default_model = fallbacks[0]["modelRefs"][0]["model"]
    signals: dict[str, Any] = {"domains": domains}
    context = _context_signals(policy)
    if context:
        signals["context"] = context
    if metadata:
        signals["metadata"] = [metadata[name] for name in sorted(metadata)]
    check_provider_models(providers, policy.models)
    config = {
        "version": "v0.3",
        "listeners": [dict(listener) for listener in providers.listeners],
        "providers": _providers_block(policy, providers, default_model),
        "routing": {
            "strategy": "priority",
            "modelCards": [{"name": m, "description": f"served under tpf policy {policy.name or 'unnamed'}"}
                           for m in policy.models],
            "signals": signals,
            "decisions": decisions + fallbacks,
        },
        "global": {"router": {"config_source": "file"}},
    }
    problems = config_problems(config)
    if problems:
        raise PolicyError("semantic-router export does not fit the router's schema: " + "; ".join(problems))
    return config, notes


def header(policy: Policy, options: ExportOptions, providers: Providers, notes: list[str]) -> str:
    """Comment lines: provenance, band, placeholders and every approximation of this file."""
    placeholders = [m for m in policy.models if providers.endpoint(m).placeholder]
    lines = [
        f"Generated by tpf {policy.provenance.tpf_version} from policy {policy.name or '<unnamed>'!r} "
        f"(format {policy.format_version}, created {policy.provenance.created_utc}).",
        f"Target: {TARGET}. Check: vllm-sr config validate --config THIS_FILE",
        f"Split exported: {band_text(options)}.",
        "Not expressible, kept in each decision's annotations: max_new_tokens budgets (reasoning on/off and "
        "effort only), majority-vote counts, hours and carbon bands (one config per band).",
        *([f"Domains match the classes of tpf text estimator {options.estimator.name} (card sha256 "
           f"{options.estimator.card_sha256[:16]}): the router's domain classifier must emit these labels; "
           "tpf's own per-query router (tpf.policy.per_query) reads them from the text with that estimator "
           "(numpy)."] if options.estimator is not None else []),
        *(["Endpoints are placeholders: set " + ", ".join(providers.endpoint(m).endpoint[2:-1]
                                                          for m in placeholders)
           + " in the router's environment, or pass --providers FILE."] if placeholders else []),
        *notes,
    ]
    return "".join(f"# {line}\n" for line in lines)


def render(policy: Policy, options: ExportOptions, providers: Providers) -> str:
    """The YAML text of one export, header comments first."""
    import yaml

    config, notes = semantic_router_config(policy, options, providers)
    return header(policy, options, providers, notes) + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def write_semantic_router(
    policy: Policy | str | os.PathLike[str], out: str | os.PathLike[str], options: ExportOptions | None = None,
    providers: Providers | str | os.PathLike[str] | None = None,
) -> Path:
    """Write the semantic-router v0.3 config of a policy (file or object)."""
    checked = load_policy(policy)
    resolved = providers if isinstance(providers, Providers) else load_providers(providers)
    return write_text_atomic(out, render(checked, options or ExportOptions(), resolved))
