"""Routing policies: the versioned policy format, its checks and the runtime that applies it.

``import tpf.policy`` loads the standard library only (no pyomo, pandas, numpy or
torch); ``jsonschema`` is imported when a policy is first checked. Building a
policy from a plan (:mod:`tpf.policy.build`, pandas) and exporting it to other
routers (:mod:`tpf.policy.export_semantic_router`, PyYAML) are imported on use.
"""

from tpf.errors import PolicyError
from tpf.policy.format import (
    FORMAT_VERSION,
    CarbonBand,
    CardRef,
    Choice,
    Decision,
    Expected,
    HourEntry,
    Policy,
    PolicyClass,
    Provenance,
    policy_from_dict,
    policy_to_dict,
)
from tpf.policy.router import Router, uniform_from_id
from tpf.policy.validate import load_policy, policy_problems, save_policy

__all__ = [
    "FORMAT_VERSION",
    "CarbonBand",
    "CardRef",
    "Choice",
    "Decision",
    "Expected",
    "HourEntry",
    "Policy",
    "PolicyClass",
    "PolicyError",
    "Provenance",
    "Router",
    "load_policy",
    "policy_from_dict",
    "policy_problems",
    "policy_to_dict",
    "save_policy",
    "uniform_from_id",
]
