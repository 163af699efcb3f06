"""Every shipped scenario's export fits the router's schema (and, where installed, vllm-sr accepts it);
the exported decisions, read back, route like tpf.policy.Router."""

from __future__ import annotations

import math
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from scenario_data import runnable_scenarios

from tpf.config.compose import compose
from tpf.domain import MMLU_PRO_CATEGORY_MAP
from tpf.policy import Decision, Policy, Router
from tpf.policy.buckets import request_bucket
from tpf.policy.export_semantic_router import ExportOptions, semantic_router_config
from tpf.policy.semantic_router_bands import INDEX_FILE, write_semantic_router_bands
from tpf.policy.semantic_router_providers import ModelEndpoint, Providers
from tpf.policy.semantic_router_schema import config_problems, vllm_sr_validate
from tpf.policy.semantic_router_selection import Request, selected_ref
from tpf.policy.shares import semantic_router_rows
from tpf.policy.validate import load_policy
from tpf.run import run_scenario

VLLM_SR = os.environ.get("TPF_VLLM_SR") or shutil.which("vllm-sr")
N_REQUESTS = 100_000


@pytest.fixture(scope="module")
def scenario_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Plan every shipped scenario (default workload, 3 hours) and export its band folder."""
    out: dict[str, list[Path]] = {}
    for scenario in runnable_scenarios():
        run_dir = tmp_path_factory.mktemp(scenario)
        config = compose([f"scenario={scenario}", "workload.n_periods=3", "report=minimal"])
        run_scenario(config, "plan", scenario, run_dir)
        index = write_semantic_router_bands(run_dir / "policy.json", run_dir / "semantic-router")
        out[scenario] = sorted(p for p in index.parent.glob("*.yaml") if p.name != INDEX_FILE)
    return out


def test_every_scenario_exports_a_config_the_schema_accepts(scenario_exports: dict[str, list[Path]]) -> None:
    assert set(scenario_exports) == set(runnable_scenarios())
    for files in scenario_exports.values():
        for path in files:
            config = yaml.safe_load(path.read_text())
            assert config_problems(config) == [], path
            domains = {d["name"] for d in config["routing"]["signals"]["domains"]}
            assert domains == set(MMLU_PRO_CATEGORY_MAP)  # all eight categories can match


def test_every_scenario_routes_each_class_within_a_bucket_of_the_plan(
        scenario_exports: dict[str, list[Path]]) -> None:
    """The router's rules over the 100 buckets, every band and class: under one point (one bucket) off."""
    for files in scenario_exports.values():
        policy = load_policy(files[0].parent.parent / "policy.json")
        rows = semantic_router_rows(policy)
        assert {r.class_name for r in rows} == {c.name for c in policy.classes}
        for row in rows:
            assert row.gap_points < 1.0, row
        for band in {r.band for r in rows}:
            for cls in policy.classes:
                assert sum(r.routed for r in rows if (r.band, r.class_name) == (band, cls.name)) == pytest.approx(1)


@pytest.mark.skipif(VLLM_SR is None, reason="vllm-sr not installed (set TPF_VLLM_SR=/path/to/vllm-sr)")
def test_vllm_sr_validates_every_scenario(scenario_exports: dict[str, list[Path]]) -> None:
    paths = [str(p) for files in scenario_exports.values() for p in files]
    results = vllm_sr_validate(paths, str(VLLM_SR))
    assert [r["path"] for r in results] == paths
    for result in results:
        assert result["rc"] == 0 and "Configuration is valid" in result["output"], result


# --- the export under the router's own rules, against tpf's Router and the plan --------------


def exported_option(config: dict[str, Any], label: str, n_in: int, request: int) -> tuple[str, bool, str | None]:
    """The model the router picks for a request carrying its bucket (semantic_router_selection's rules)."""
    ref = selected_ref(config, Request(label, n_in, (("tpf_bucket", request_bucket(request)),)))
    return ref["model"], ref["use_reasoning"], ref.get("reasoning_effort")


def router_option(decision: Decision) -> tuple[str, bool, str | None]:
    """What the router is told for a tpf decision when llama-8b declares the 'deepseek' family."""
    thinks = decision.strategy == "cot" or (decision.strategy == "mv" and decision.max_new_tokens >= 64)
    if decision.model == "llama-8b" and thinks:
        return "llama-8b", True, "low"  # budgets <= 1024 tokens want 'low'; deepseek has it
    return decision.model, False, None


@pytest.mark.parametrize(("hour", "carbon"), [(None, None), (3, None), (14, None), (None, 120.0), (None, 500.0)])
def test_exported_decisions_route_like_the_runtime(policy: Policy, hour: int | None, carbon: float | None) -> None:
    providers = Providers(models={"llama-8b": ModelEndpoint("vllm-8b:8000", reasoning_family="deepseek")})
    config, _ = semantic_router_config(policy, ExportOptions(hour=hour, carbon_g_per_kwh=carbon), providers)
    router = Router(policy)
    labels = {"math": "math", "other": "other", "business": "business"}  # business: no class, default category
    lengths = (300, 1023, 1024, 5000)
    exported: dict[tuple[str, int], Counter] = {}
    runtime: dict[tuple[str, int], Counter] = {}
    for request in range(N_REQUESTS):
        category, n_in = list(labels)[request % 3], lengths[(request // 3) % 4]
        key = (router.class_name(category, n_in), n_in >= 1024)
        option = exported_option(config, labels[category], n_in, request)
        exported.setdefault(key, Counter())[option] += 1
        decided = router.decide(request, category, n_in, hour=hour, carbon_g_per_kwh=carbon)
        runtime.setdefault(key, Counter())[router_option(decided)] += 1
    assert exported.keys() == runtime.keys()
    for key, counts in runtime.items():
        n_runtime, n_export = sum(counts.values()), sum(exported[key].values())
        assert set(exported[key]) == set(counts), key
        for option, count in counts.items():
            p_runtime, p_export = count / n_runtime, exported[key][option] / n_export
            sigma = math.sqrt(p_runtime * (1 - p_runtime) * (1 / n_runtime + 1 / n_export))
            # tpf's Router draws by weight; the router by whole buckets: under one point apart, plus noise
            assert abs(p_export - p_runtime) <= 0.01 + 5 * sigma, (key, option, p_export, p_runtime)
