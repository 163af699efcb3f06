"""Operator endpoints and reasoning families for the semantic-router export.

A policy names models; the router also needs where each model is served and,
for models that can think, which reasoning family switches thinking on. Both
come from a small providers file written by the operator::

    listeners:                      # optional; default: http-8899 on 0.0.0.0:8899
      - {name: http-8899, address: 0.0.0.0, port: 8899, timeout: 300s}
    models:
      llama-3.1-8b:
        endpoint: vllm-8b.internal:8000          # host:port of the OpenAI-compatible server
        protocol: http                           # optional (default http)
        provider: vllm                           # optional (default vllm)
        provider_model_id: meta-llama/Llama-3.1-8B-Instruct   # optional: the served name
        api_key_env: VLLM_8B_KEY                 # optional
        reasoning_family: qwen3                  # optional: a family id (see below)

A model the file does not list (or every model, without a file) gets the
endpoint placeholder ``${TPF_SR_ENDPOINT_<MODEL>}`` (upper case, non-alphanumerics
as ``_``), which the router expands from its environment at start-up.

Reasoning families are those of the router's model catalog
(``semantic_router_v0_3/reasoning-families.json``, copied from vllm-sr 0.4.0;
see ``SOURCE.md`` there). :func:`reasoning_fields` maps a tpf decision to the
``use_reasoning``/``reasoning_effort`` pair the family accepts, or refuses it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tpf.errors import PolicyError

CONTRACT_DIR = Path(__file__).resolve().parent / "semantic_router_v0_3"
FAMILIES_FILE = CONTRACT_DIR / "reasoning-families.json"
DEFAULT_LISTENER = {"name": "http-8899", "address": "0.0.0.0", "port": 8899, "timeout": "300s"}
MODEL_KEYS = ("endpoint", "protocol", "provider", "provider_model_id", "api_key_env", "reasoning_family")
LISTENER_KEYS = ("name", "address", "port", "timeout")
#: Effort levels in increasing order, as the catalog's families spell them.
EFFORT_ORDER = ("minimal", "low", "medium", "high", "xhigh", "max")
MODE_ONLY_TYPES = ("chat_template_kwargs", "reasoning_mode")


@dataclass(frozen=True)
class ModelEndpoint:
    """Where one model is served, and its reasoning family (None: it cannot switch thinking)."""

    endpoint: str
    protocol: str = "http"
    provider: str = "vllm"
    provider_model_id: str | None = None
    api_key_env: str | None = None
    reasoning_family: str | None = None
    placeholder: bool = False


@dataclass(frozen=True)
class Providers:
    """The operator's listeners and model endpoints (see the module doc for the file)."""

    listeners: tuple[dict[str, Any], ...] = (DEFAULT_LISTENER,)
    models: dict[str, ModelEndpoint] = field(default_factory=dict)

    def endpoint(self, model: str) -> ModelEndpoint:
        """The model's endpoint, or the environment placeholder when it is not listed."""
        if model in self.models:
            return self.models[model]
        return ModelEndpoint(endpoint=placeholder_endpoint(model), placeholder=True)


def check_provider_models(providers: Providers, models: list[str] | tuple[str, ...],
                          where: str = "providers") -> None:
    """Refuse a providers file naming a model the policy does not serve (a typo would route nowhere)."""
    by_key = {model.lower(): model for model in models}
    problems = []
    for name in sorted(set(providers.models) - set(models)):
        hint = f" (did you mean {by_key[name.lower()]!r}? names are case-sensitive)" if name.lower() in by_key else ""
        problems.append(f"{where}.models.{name}: not a model of the policy{hint}; its models: {', '.join(models)}")
    if problems:
        raise PolicyError("; ".join(problems))


def placeholder_endpoint(model: str) -> str:
    """``${TPF_SR_ENDPOINT_<MODEL>}``: the router expands it from its environment."""
    return "${TPF_SR_ENDPOINT_" + re.sub(r"[^0-9A-Za-z]+", "_", model).strip("_").upper() + "}"


@lru_cache(maxsize=1)
def reasoning_families() -> dict[str, dict[str, Any]]:
    """Family id -> definition (type, parameter, levels, modes, ...) of the router's catalog."""
    return dict(json.loads(FAMILIES_FILE.read_text(encoding="utf-8"))["families"])


def _model_problems(name: str, entry: Any, where: str) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where}.models.{name}: must be a mapping of {', '.join(MODEL_KEYS)}"]
    problems = [f"{where}.models.{name}.{key}: unknown key; allowed: {', '.join(MODEL_KEYS)}"
                for key in entry if key not in MODEL_KEYS]
    if not isinstance(entry.get("endpoint"), str) or not entry["endpoint"].strip():
        problems.append(f"{where}.models.{name}.endpoint: required, a host:port text")
    for key in MODEL_KEYS[1:]:
        if key in entry and not isinstance(entry[key], str):
            problems.append(f"{where}.models.{name}.{key}: must be text, got {entry[key]!r}")
    family = entry.get("reasoning_family")
    if isinstance(family, str) and family not in reasoning_families():
        problems.append(f"{where}.models.{name}.reasoning_family: unknown family {family!r}; "
                        f"known: {', '.join(sorted(reasoning_families()))}")
    return problems


def _listener_problems(listeners: Any, where: str) -> list[str]:
    if not isinstance(listeners, list) or not listeners:
        return [f"{where}.listeners: must be a non-empty list of {{{', '.join(LISTENER_KEYS)}}}"]
    problems = []
    for index, item in enumerate(listeners):
        place = f"{where}.listeners[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{place}: must be a mapping")
            continue
        problems += [f"{place}.{key}: unknown key; allowed: {', '.join(LISTENER_KEYS)}"
                     for key in item if key not in LISTENER_KEYS]
        port = item.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            problems.append(f"{place}.port: must be an integer in 1-65535, got {port!r}")
        if not isinstance(item.get("name"), str):
            problems.append(f"{place}.name: required text")
    return problems


def providers_from_dict(data: Any, where: str = "providers") -> Providers:
    """Check a providers mapping, listing every problem at once, and build :class:`Providers`."""
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: must be a mapping with 'models' and optional 'listeners'")
    problems = [f"{where}.{key}: unknown key; allowed: listeners, models" for key in data
                if key not in ("listeners", "models")]
    models = data.get("models") or {}
    if not isinstance(models, dict):
        problems.append(f"{where}.models: must be a mapping model -> endpoint")
        models = {}
    for name, entry in models.items():
        problems += _model_problems(str(name), entry, where)
    if "listeners" in data:
        problems += _listener_problems(data["listeners"], where)
    if problems:
        raise PolicyError(f"{where}: invalid providers file, {len(problems)} problem(s):\n"
                          + "\n".join(f"  - {p}" for p in problems))
    return Providers(
        listeners=tuple(data.get("listeners") or (DEFAULT_LISTENER,)),
        models={str(name): ModelEndpoint(**entry) for name, entry in models.items()},
    )


def load_providers(path: str | os.PathLike[str] | None) -> Providers:
    """Read a providers YAML file; None gives placeholders for every model."""
    if path is None:
        return Providers()
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: cannot read the providers file: {exc}") from exc
    return providers_from_dict(data, where=str(path))


def _can_disable(family: dict[str, Any]) -> bool:
    return bool(family.get("activation_parameter") or family.get("disabled")
                or "disabled" in family.get("modes", ()))


def effort_level(levels: list[str], wanted: str) -> str:
    """The family's level closest to ``wanted`` from above (the highest one if none is above)."""
    rank = {name: i for i, name in enumerate(EFFORT_ORDER)}
    ordered = sorted(levels, key=lambda level: rank.get(level, len(EFFORT_ORDER)))
    for level in ordered:
        if rank.get(level, len(EFFORT_ORDER)) >= rank[wanted]:
            return level
    return ordered[-1]


def reasoning_fields(model: str, family_id: str | None, thinking: bool, wanted_effort: str) -> dict[str, Any]:
    """``use_reasoning`` (and ``reasoning_effort``) for one model reference, as the family allows.

    No family: thinking cannot be switched, so ``use_reasoning: false`` (the caller
    notes what that drops). Effort families get the nearest level at or above
    ``wanted_effort``; mode-only families get no effort; a family that cannot
    switch thinking off (always-on) refuses a decision without thinking.
    """
    if family_id is None:
        return {"use_reasoning": False}
    family = reasoning_families()[family_id]
    if not thinking:
        if not _can_disable(family):
            raise PolicyError(f"model {model!r}: reasoning family {family_id!r} is always on (modes "
                              f"{family.get('modes')}), so a decision without reasoning (zero-shot) cannot "
                              "be expressed; declare another family or drop the option from the plan")
        return {"use_reasoning": False}
    out: dict[str, Any] = {"use_reasoning": True}
    if family.get("type") not in MODE_ONLY_TYPES and family.get("levels"):
        out["reasoning_effort"] = effort_level(list(family["levels"]), wanted_effort)
    return out
