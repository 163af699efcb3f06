"""Each class's shares as a router would carry them out, against the plan, in percentage points.

:func:`semantic_router_rows` exports a policy for every band
(:func:`tpf.policy.semantic_router_bands.band_exports`), routes one request per
bucket ``00`` .. ``99`` of each class through the vLLM Semantic Router's rules
(:mod:`tpf.policy.semantic_router_selection`) and compares the share each
option gets with the plan's weight (options merged as the router sees them:
model, reasoning on/off, effort). Standard library and PyYAML only.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpf.policy.export_semantic_router import (
    ExportOptions,
    class_choices,
    model_refs,
    semantic_router_config,
)
from tpf.policy.format import Policy
from tpf.policy.semantic_router_bands import band_exports
from tpf.policy.semantic_router_providers import Providers
from tpf.policy.semantic_router_selection import bucket_shares, class_request


@dataclass(frozen=True)
class ShareRow:
    """One option of one class in one band: the plan's share and the router's, in [0, 1]."""

    band: str
    class_name: str
    option: str
    planned: float
    routed: float

    @property
    def gap_points(self) -> float:
        return abs(self.planned - self.routed) * 100.0


def _option_text(model: str, use_reasoning: bool, effort: str) -> str:
    return model + (f" reasoning {effort or 'on'}" if use_reasoning else "")


def semantic_router_rows(policy: Policy, providers: Providers | None = None,
                         options: ExportOptions | None = None) -> list[ShareRow]:
    """Planned against routed shares, every band, class and option of the semantic-router export."""
    providers = providers or Providers()
    rows = []
    for band, band_options in band_exports(policy, options).items():
        config, _ = semantic_router_config(policy, band_options, providers)
        for cls in policy.classes:
            refs = model_refs(class_choices(cls, band_options), providers, band_options, [], cls.name)
            total = sum(r["weight"] for r in refs)
            plan = {(r["model"], r["use_reasoning"], r.get("reasoning_effort", "")): r["weight"] / total
                    for r in refs}
            routed = bucket_shares(config, *class_request(config, cls.category, cls.n_in_min_tokens))
            for key in sorted(set(plan) | set(routed)):
                rows.append(ShareRow(band, cls.name, _option_text(*key), plan.get(key, 0.0), routed.get(key, 0.0)))
    return rows
