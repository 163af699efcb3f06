"""Export a policy to Envoy AI Gateway ``AIGatewayRoute`` resources: one rule per class, weighted backends.

The gateway routes a request by header matches and splits a rule's traffic
over its ``backendRefs`` in proportion to their integer ``weight`` (Gateway
API semantics). The export writes ``aigateway.envoyproxy.io/v1beta1``
``AIGatewayRoute`` resources:

* one rule per policy class matching the header ``x-tpf-class: <class>``
  (exact); whoever sets the header picks the class (docs/policy.md "Who sets
  the class"); a request without it matches no tpf rule;
* one backendRef per option of the class's split: ``name`` the model's
  ``AIServiceBackend`` (``tpf-<model>``, defined by the operator), ``weight``
  the share in thousandths (largest remainder, a class's weights sum to
  1000), ``modelNameOverride`` the served model name and a ``bodyMutation``
  setting ``max_tokens`` to the option's budget; strategies and vote counts
  are not expressible and are named in the file's header;
* at most 15 rules per resource (the CRD's limit), so a policy with more
  classes becomes several resources ``tpf-<policy>-<n>`` in one YAML stream.

Every resource is checked against the CRD's ``openAPIV3Schema`` (vendored in
``envoy_ai_gateway/``, Apache-2.0, source in ``SOURCE.md``) before writing;
the CRD's CEL rules are kept by construction (unique rule names).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tpf.atomic import write_text_atomic
from tpf.errors import PolicyError
from tpf.policy.buckets import bucket_counts
from tpf.policy.export_semantic_router import ExportOptions, band_text, class_choices
from tpf.policy.format import Policy, PolicyClass
from tpf.policy.semantic_router_providers import Providers, check_provider_models, load_providers
from tpf.policy.validate import load_policy

SCHEMA_FILE = Path(__file__).resolve().parent / "envoy_ai_gateway" / "aigatewayroute-v1beta1.schema.json"
API_VERSION = "aigateway.envoyproxy.io/v1beta1"
CLASS_HEADER = "x-tpf-class"
MAX_RULES = 15
WEIGHT_TOTAL = 1000
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class GatewayOptions:
    """Where the routes attach: the Gateway's name and the resources' namespace."""

    gateway: str = "tpf-gateway"
    namespace: str = "default"

    def problems(self) -> list[str]:
        return [f"{field}: must be a DNS label (lower case letters, digits, '-'), got {value!r}"
                for field, value in (("gateway", self.gateway), ("namespace", self.namespace))
                if not _DNS_LABEL.fullmatch(value) or len(value) > 63]


def dns_name(text: str) -> str:
    """Lower case letters, digits and '-' only (a Kubernetes name), at most 63 characters."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].strip("-") or "x"


def backend_name(model: str) -> str:
    """``tpf-<model>``: the AIServiceBackend the operator defines for a model."""
    return dns_name(f"tpf-{model}")


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft7Validator

    return Draft7Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def route_problems(resource: dict[str, Any]) -> list[str]:
    """Every violation of the AIGatewayRoute CRD schema (``path: message``)."""
    errors = sorted(_validator().iter_errors(resource), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def class_rule(cls: PolicyClass, options: ExportOptions, providers: Providers,
               notes: list[str]) -> dict[str, Any]:
    """One rule: header ``x-tpf-class`` equals the class; one weighted backendRef per option."""
    choices = class_choices(cls, options)
    where = f"class {cls.name!r} ({band_text(options)})"
    refs = []
    for choice, weight in zip(choices, bucket_counts([c.weight for c in choices], where, WEIGHT_TOTAL), strict=True):
        d = choice.decision
        if weight == 0:
            notes.append(f"{where}: {choice.weight:.3%} {d.model} {d.strategy} rounds to weight 0; left out")
            continue
        ref: dict[str, Any] = {"name": backend_name(d.model), "weight": weight,
                               "modelNameOverride": providers.endpoint(d.model).provider_model_id or d.model}
        if d.max_new_tokens > 0:
            ref["bodyMutation"] = {"set": [{"path": "max_tokens", "value": str(d.max_new_tokens)}]}
        refs.append(ref)
    refs.sort(key=lambda r: -r["weight"])
    return {"name": dns_name(f"tpf-{cls.name}"),
            "matches": [{"headers": [{"type": "Exact", "name": CLASS_HEADER, "value": cls.name}]}],
            "backendRefs": refs}


def envoy_routes(policy: Policy, options: ExportOptions | None = None, providers: Providers | None = None,
                 gateway: GatewayOptions | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The AIGatewayRoute resources (15 rules each at most) and notes; each checked against the CRD schema."""
    options, providers, gateway = options or ExportOptions(), providers or Providers(), gateway or GatewayOptions()
    problems = options.problems() + gateway.problems()
    if problems:
        raise PolicyError("envoy-ai-gateway export: " + "; ".join(problems))
    check_provider_models(providers, policy.models)
    notes: list[str] = []
    rules = [class_rule(cls, options, providers, notes) for cls in policy.classes]
    names = [r["name"] for r in rules]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise PolicyError(f"envoy-ai-gateway export: class names give the same rule name {clashes}: "
                          "rename classes so they differ in letters or digits")
    resources = []
    for part, start in enumerate(range(0, len(rules), MAX_RULES), 1):
        resource = {"apiVersion": API_VERSION, "kind": "AIGatewayRoute",
                    "metadata": {"name": dns_name(f"tpf-{policy.name or 'policy'}-{part}"),
                                 "namespace": gateway.namespace},
                    "spec": {"parentRefs": [{"name": gateway.gateway, "kind": "Gateway",
                                             "group": "gateway.networking.k8s.io"}],
                             "rules": rules[start:start + MAX_RULES]}}
        problems = route_problems(resource)
        if problems:
            raise PolicyError("envoy-ai-gateway export does not fit the AIGatewayRoute schema: " + "; ".join(problems))
        resources.append(resource)
    return resources, notes


def render_envoy(policy: Policy, options: ExportOptions, providers: Providers,
                 gateway: GatewayOptions | None = None) -> str:
    import yaml

    resources, notes = envoy_routes(policy, options, providers, gateway)
    backends = sorted({backend_name(m) for m in policy.models})
    lines = [f"Generated by tpf {policy.provenance.tpf_version} from policy {policy.name or '<unnamed>'!r} "
             f"(format {policy.format_version}, created {policy.provenance.created_utc}).",
             f"Target: Envoy AI Gateway {API_VERSION} AIGatewayRoute (CRD schema of release v1.1.0); "
             f"split: {band_text(options)}; weights in thousandths.",
             f"Requests carry the header {CLASS_HEADER}: <class>. Define the AIServiceBackends "
             f"{', '.join(backends)} (one per model).",
             "Not expressible: strategies and vote counts (each option is one request with its max_tokens).",
             *notes]
    head = "".join(f"# {line}\n" for line in lines)
    return head + yaml.safe_dump_all(resources, sort_keys=False, allow_unicode=True)


def write_envoy_ai_gateway(policy: Policy | str | os.PathLike[str], out: str | os.PathLike[str],
                           options: ExportOptions | None = None,
                           providers: Providers | str | os.PathLike[str] | None = None,
                           gateway: GatewayOptions | None = None) -> Path:
    """Write the AIGatewayRoute resources of a policy (file or object)."""
    checked = load_policy(policy)
    resolved = providers if isinstance(providers, Providers) else load_providers(providers)
    return write_text_atomic(out, render_envoy(checked, options or ExportOptions(), resolved, gateway))
