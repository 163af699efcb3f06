"""LiteLLM and Envoy AI Gateway exports: layout, weights, the CRD schema, a real litellm.Router's draws."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tpf.errors import PolicyError
from tpf.policy import Policy
from tpf.policy.cli import main
from tpf.policy.export_envoy_ai_gateway import CLASS_HEADER, MAX_RULES, envoy_routes, route_problems
from tpf.policy.export_litellm import drawn_shares, litellm_config
from tpf.policy.export_semantic_router import ExportOptions, semantic_router_config
from tpf.policy.semantic_router_providers import ModelEndpoint, Providers

DRAW_SCRIPT = Path(__file__).with_name("litellm_draw.py")
N_DRAWS = 20_000


def _litellm_python() -> str | None:
    """A Python with litellm: $TPF_LITELLM_PYTHON, else this one if it imports litellm."""
    given = os.environ.get("TPF_LITELLM_PYTHON")
    if given:
        return given
    try:
        import litellm  # noqa: F401
    except ImportError:
        return None
    return sys.executable


LITELLM_PYTHON = _litellm_python()


def test_litellm_groups_weights_and_figures(policy: Policy) -> None:
    config, _ = litellm_config(policy, ExportOptions(hour=3))
    assert config["router_settings"] == {"routing_strategy": "simple-shuffle"}
    groups: dict[str, list[dict]] = {}
    for deployment in config["model_list"]:
        groups.setdefault(deployment["model_name"], []).append(deployment)
    assert list(groups) == [f"tpf-{c.name}" for c in policy.classes]
    short = groups["tpf-math-short"]  # night: 0.55 llama-8b cot 512, 0.30 llama-70b, 0.15 llama-8b mv x5
    assert [(d["model_info"]["tpf_model"], d["model_info"]["tpf_strategy"], d["litellm_params"]["weight"])
            for d in short] == [("llama-8b", "cot", 550), ("llama-70b", "zero_shot", 300), ("llama-8b", "mv", 150)]
    assert short[0]["litellm_params"]["max_tokens"] == 512
    assert short[0]["litellm_params"]["api_base"] == "os.environ/TPF_LITELLM_API_BASE_LLAMA_8B"
    assert short[2]["model_info"]["tpf_votes"] == 5
    for deployments in groups.values():
        assert sum(d["litellm_params"]["weight"] for d in deployments) == 1000
    ids = [d["model_info"]["id"] for d in config["model_list"]]
    assert len(ids) == len(set(ids))
    providers = Providers(models={"llama-8b": ModelEndpoint("vllm-8b:8000", provider_model_id="meta/Llama-8B")})
    config, _ = litellm_config(policy, ExportOptions(hour=3), providers)
    first = config["model_list"][0]["litellm_params"]
    assert first["api_base"] == "http://vllm-8b:8000/v1" and first["model"] == "hosted_vllm/meta/Llama-8B"


@pytest.mark.skipif(LITELLM_PYTHON is None, reason="litellm not installed: install it in a venv of its own "
                    "(pip install litellm==1.110.2) and set TPF_LITELLM_PYTHON=/path/to/venv/bin/python")
@pytest.mark.parametrize(("hour", "carbon"), [(3, None), (14, None), (None, 500.0)])
def test_a_real_litellm_router_draws_each_class_as_planned(policy: Policy, tmp_path: Path, hour: int | None,
                                                           carbon: float | None) -> None:
    options = ExportOptions(hour=hour, carbon_g_per_kwh=carbon)
    config, _ = litellm_config(policy, options)
    path = tmp_path / "litellm.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "TPF_LITELLM_API_BASE_LLAMA_8B": "http://127.0.0.1:9/v1",
           "TPF_LITELLM_API_BASE_LLAMA_70B": "http://127.0.0.1:9/v1"}
    done = subprocess.run([LITELLM_PYTHON, str(DRAW_SCRIPT), str(path), str(N_DRAWS), "0"], env=env,
                          capture_output=True, text=True, check=True)
    counts = json.loads(done.stdout.strip().splitlines()[-1])["counts"]
    assert set(counts) == {f"tpf-{cls.name}" for cls in policy.classes}
    for class_name, planned, share in drawn_shares(policy, options, counts, N_DRAWS):
        sigma = math.sqrt(planned * (1 - planned) / N_DRAWS)
        # weights in thousandths: under 0.1 point of rounding, plus the draw's noise
        assert abs(share - planned) <= 0.001 + 5 * sigma, (class_name, planned, share)


def test_envoy_routes_fit_the_crd_schema_and_split_by_header(policy: Policy) -> None:
    resources, _ = envoy_routes(policy, ExportOptions(hour=14))
    assert len(resources) == 1 and route_problems(resources[0]) == []
    route = resources[0]
    assert route["apiVersion"] == "aigateway.envoyproxy.io/v1beta1" and route["kind"] == "AIGatewayRoute"
    rules = {r["matches"][0]["headers"][0]["value"]: r for r in route["spec"]["rules"]}
    assert set(rules) == {c.name for c in policy.classes}
    assert rules["math-short"]["matches"][0]["headers"][0]["name"] == CLASS_HEADER
    refs = rules["math-short"]["backendRefs"]  # day: 0.60 llama-70b, 0.25 llama-8b cot, 0.15 llama-8b mv
    assert [(r["name"], r["weight"]) for r in refs] == [("tpf-llama-70b", 600), ("tpf-llama-8b", 250),
                                                      ("tpf-llama-8b", 150)]
    assert refs[1]["bodyMutation"] == {"set": [{"path": "max_tokens", "value": "512"}]}
    # independence: the schema sees what the export does not check itself
    broken = json.loads(json.dumps(route))
    broken["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    broken["spec"]["rules"][0]["matches"][0]["headers"][0]["type"] = "Prefix"
    problems = route_problems(broken)
    assert any("weight" in p and "minimum" in p for p in problems), problems
    assert any("Prefix" in p for p in problems), problems


def test_envoy_splits_more_than_15_classes_over_resources(policy: Policy) -> None:
    many = replace(policy, classes=tuple(replace(policy.classes[0], name=f"class-{i}") for i in range(20)))
    resources, _ = envoy_routes(many)
    assert [len(r["spec"]["rules"]) for r in resources] == [MAX_RULES, 5]
    assert all(route_problems(r) == [] for r in resources)
    assert len({r["metadata"]["name"] for r in resources}) == 2


def test_an_unknown_model_in_the_providers_file_is_refused(policy: Policy) -> None:
    providers = Providers(models={"Llama-8B": ModelEndpoint("vllm-8b:8000")})
    for export in (semantic_router_config, litellm_config, envoy_routes):
        with pytest.raises(PolicyError, match=r"providers\.models\.Llama-8B: not a model of the policy "
                                              r"\(did you mean 'llama-8b'\?"):
            export(policy, ExportOptions(), providers)


def test_cli_writes_litellm_and_envoy_files(policy_file: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    for fmt in ("litellm", "envoy-ai-gateway"):
        out = tmp_path / f"{fmt}.yaml"
        assert main(["policy", "export", "--format", fmt, str(policy_file), "--out", str(out), "--hour", "3"]) == 0
        text = out.read_text()
        assert text.startswith("# Generated by tpf")
        assert list(yaml.safe_load_all(text))
    assert main(["policy", "export", "--format", "litellm", str(policy_file), "--out", str(tmp_path / "x"),
                 "--bands"]) == 1
    assert "--bands is for --format semantic-router" in capsys.readouterr().err
