"""Export a policy to a LiteLLM proxy config: one model group per class, one weighted deployment per option.

LiteLLM's Router draws a deployment of a model group in proportion to the
deployments' ``litellm_params.weight`` (``routing_strategy: simple-shuffle``,
``litellm/router_strategy/simple_shuffle.py``), so a plan's split maps onto it
directly:

* model group ``tpf-<class>`` per policy class; the client (or a gateway in
  front) names the class as the request's ``model`` (tpf's
  :class:`tpf.policy.Router` ``class_name`` or :class:`tpf.policy.per_query.TextRouter`
  tells which; see docs/policy.md "Who sets the class");
* one deployment per option of the class's split (model, strategy, budget,
  votes) with an integer ``weight``: the share in thousandths, rounded by
  largest remainder so a class's weights sum to 1000;
  ``litellm_params.max_tokens`` carries the budget, ``model`` the served name
  (``hosted_vllm/<provider_model_id or model>`` for vLLM endpoints, else
  ``openai/...``) and ``api_base`` the endpoint from the providers file
  (:mod:`tpf.policy.semantic_router_providers`) or the placeholder
  ``os.environ/TPF_LITELLM_API_BASE_<MODEL>``;
* ``model_info`` keeps the plan's figures (share, strategy, votes, expected
  accuracy, energy and carbon per query) and a unique ``id``.

Votes and the reasoning switch are not set (a LiteLLM deployment sends one
request); they stay in ``model_info``. Hours and carbon bands: one file per
band (``--hour``, ``--carbon-g-per-kwh``), as for the semantic router.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tpf.atomic import write_text_atomic
from tpf.errors import PolicyError
from tpf.policy.buckets import bucket_counts
from tpf.policy.export_semantic_router import ExportOptions, band_text, class_choices
from tpf.policy.format import Policy, PolicyClass
from tpf.policy.semantic_router_providers import Providers, check_provider_models, load_providers
from tpf.policy.validate import load_policy

WEIGHT_TOTAL = 1000
GROUP_PREFIX = "tpf-"


def group_name(class_name: str) -> str:
    """``tpf-<class>``: the model group a class's requests name as ``model``."""
    return GROUP_PREFIX + class_name


def deployment_id(class_name: str, index: int) -> str:
    """``tpf-<class>-<index>``: the ``model_info.id`` of a class's ``index``-th planned choice."""
    return f"{group_name(class_name)}-{index}"


def drawn_shares(policy: Policy, options: ExportOptions, counts: dict[str, dict[str, int]],
                 draws: int) -> list[tuple[str, float, float]]:
    """``(class, planned share, drawn share)`` per planned choice of the band ``options`` names, from a
    router's draw counts ``{model group: {deployment id: count}}`` of ``draws`` draws per group."""
    out = []
    for cls in policy.classes:
        drawn = counts.get(group_name(cls.name), {})
        for index, choice in enumerate(class_choices(cls, options)):
            out.append((cls.name, choice.weight, drawn.get(deployment_id(cls.name, index), 0) / draws))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").upper()


def api_base(model: str, providers: Providers) -> str:
    """``http://host:port/v1`` from the providers file, else ``os.environ/TPF_LITELLM_API_BASE_<MODEL>``."""
    endpoint = providers.endpoint(model)
    if endpoint.placeholder:
        return f"os.environ/TPF_LITELLM_API_BASE_{_slug(model)}"
    scheme = "https" if endpoint.protocol == "https" else "http"
    return f"{scheme}://{endpoint.endpoint}/v1"


def _litellm_model(model: str, providers: Providers) -> str:
    endpoint = providers.endpoint(model)
    prefix = "hosted_vllm" if endpoint.placeholder or endpoint.provider == "vllm" else "openai"
    return f"{prefix}/{endpoint.provider_model_id or model}"


def _figures(cls: PolicyClass) -> dict[str, Any]:
    e = cls.expected
    if e is None:
        return {}
    return {key: value for key, value in (("tpf_expected_accuracy", e.accuracy),
                                          ("tpf_expected_energy_j_per_query", e.energy_j_per_query),
                                          ("tpf_expected_carbon_g_per_query", e.carbon_g_per_query)) if value is not None}


def class_deployments(policy: Policy, cls: PolicyClass, options: ExportOptions, providers: Providers,
                      notes: list[str]) -> list[dict[str, Any]]:
    """The deployments of one class's model group, largest weight first."""
    choices = class_choices(cls, options)
    where = f"class {cls.name!r} ({band_text(options)})"
    weights = bucket_counts([c.weight for c in choices], where, WEIGHT_TOTAL)
    out = []
    for index, (choice, weight) in enumerate(zip(choices, weights, strict=True)):
        d = choice.decision
        if weight == 0:
            notes.append(f"{where}: {choice.weight:.3%} {d.model} {d.strategy} rounds to weight 0 of "
                         f"{WEIGHT_TOTAL}; left out")
            continue
        params: dict[str, Any] = {"model": _litellm_model(d.model, providers), "api_base": api_base(d.model, providers),
                                  "weight": weight}
        if d.max_new_tokens > 0:
            params["max_tokens"] = d.max_new_tokens
        info = {"id": deployment_id(cls.name, index), "tpf_policy": policy.name or "unnamed", "tpf_class": cls.name,
                "tpf_model": d.model, "tpf_strategy": d.strategy, "tpf_max_new_tokens": d.max_new_tokens,
                "tpf_votes": d.votes, "tpf_planned_share": round(choice.weight, 9), "tpf_band": band_text(options),
                **_figures(cls)}
        out.append({"model_name": group_name(cls.name), "litellm_params": params, "model_info": info})
    return sorted(out, key=lambda dep: -dep["litellm_params"]["weight"])


def litellm_config(policy: Policy, options: ExportOptions | None = None,
                   providers: Providers | None = None) -> tuple[dict[str, Any], list[str]]:
    """The LiteLLM proxy config (``model_list``, ``router_settings``) and notes on what was approximated."""
    options = options or ExportOptions()
    providers = providers or Providers()
    problems = options.problems()
    if problems:
        raise PolicyError("litellm export: " + "; ".join(problems))
    check_provider_models(providers, policy.models)
    notes: list[str] = []
    model_list = [dep for cls in policy.classes for dep in class_deployments(policy, cls, options, providers, notes)]
    return {"model_list": model_list, "router_settings": {"routing_strategy": "simple-shuffle"}}, notes


def render_litellm(policy: Policy, options: ExportOptions, providers: Providers) -> str:
    import yaml

    config, notes = litellm_config(policy, options, providers)
    placeholders = sorted({api_base(m, providers)[len("os.environ/"):] for m in policy.models
                           if providers.endpoint(m).placeholder})
    lines = [f"Generated by tpf {policy.provenance.tpf_version} from policy {policy.name or '<unnamed>'!r} "
             f"(format {policy.format_version}, created {policy.provenance.created_utc}).",
             "Target: LiteLLM proxy config (litellm --config THIS_FILE); one model group tpf-<class> per class, "
             f"deployment weights in thousandths (simple-shuffle draws in proportion). Split: {band_text(options)}.",
             "Not set per request, kept in model_info: strategy, majority-vote counts, reasoning.",
             *([f"Endpoints are placeholders: set {', '.join(placeholders)} or pass --providers FILE."]
               if placeholders else []),
             *notes]
    return "".join(f"# {line}\n" for line in lines) + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def write_litellm(policy: Policy | str | os.PathLike[str], out: str | os.PathLike[str],
                  options: ExportOptions | None = None,
                  providers: Providers | str | os.PathLike[str] | None = None) -> Path:
    """Write the LiteLLM proxy config of a policy (file or object)."""
    checked = load_policy(policy)
    resolved = providers if isinstance(providers, Providers) else load_providers(providers)
    return write_text_atomic(out, render_litellm(checked, options or ExportOptions(), resolved))
