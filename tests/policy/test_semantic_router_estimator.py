"""A semantic-router export that carries the text estimator's classes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tpf.errors import PolicyError
from tpf.policy import Policy
from tpf.policy.cli import main
from tpf.policy.export_semantic_router import ExportOptions, semantic_router_config
from tpf.policy.semantic_router_estimator import EstimatorLabels, load_estimator_labels
from tpf.policy.semantic_router_schema import config_problems

# classes a (math), b (other), c; a: 8 read a, 2 read b; b: 1 read a, 9 read b
LABELS = EstimatorLabels("toy", "0123456789abcdef" * 4, ("math", "other", "c"),
                         ((8.0, 2.0, 0.0), (1.0, 9.0, 0.0), (0.0, 0.0, 5.0)))


def test_domains_match_the_estimator_classes_and_carry_the_read_right_share(policy: Policy) -> None:
    config, _ = semantic_router_config(policy, ExportOptions(estimator=LABELS))
    domains = {d["name"]: d for d in config["routing"]["signals"]["domains"]}
    assert domains["math"]["mmlu_categories"] == ["math"]
    assert "tpf text estimator toy" in domains["math"]["description"]
    short = next(d for d in config["routing"]["decisions"] if d["name"] == "tpf_math_short")
    assert short["annotations"]["tpf_estimator"] == "toy (card sha256 0123456789abcdef)"
    assert short["annotations"]["tpf_estimator_read_right"] == "0.8"   # 8 of 10
    other = next(d for d in config["routing"]["decisions"] if d["name"] == "tpf_other")
    assert other["annotations"]["tpf_estimator_read_right"] == "0.9"
    assert config_problems(config) == []


def test_labels_outside_the_estimator_are_refused(policy: Policy) -> None:
    labels = EstimatorLabels("toy", "0" * 64, ("algebra", "other"))
    with pytest.raises(PolicyError, match="'math' has no estimator toy labels"):
        semantic_router_config(policy, ExportOptions(estimator=labels))
    config, _ = semantic_router_config(policy, ExportOptions(estimator=labels, category_map=(("math", ("algebra",)),)))
    assert config["routing"]["signals"]["domains"][0]["mmlu_categories"] == ["algebra"]
    assert next(d for d in config["routing"]["decisions"]
                if d["name"] == "tpf_other")["annotations"]["tpf_estimator_read_right"] == "unknown"
    with pytest.raises(PolicyError, match=r"labels must be classes of estimator toy"):
        semantic_router_config(policy, ExportOptions(estimator=labels, category_map=(("math", ("math",)),)))


def test_shipped_estimator_labels_without_numpy() -> None:
    code = ("import sys; from tpf.policy.semantic_router_estimator import load_estimator_labels as f; "
            "e = f('shipped'); print(len(e.classes), round(e.read_right(['math']), 3), 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "14" and 0.9 < float(out[1]) <= 1.0 and out[2] == "False"


def test_bad_estimator_card_is_a_policy_error(tmp_path) -> None:
    (tmp_path / "card.yaml").write_text("kind: energy\n")
    with pytest.raises(PolicyError, match="not a text estimator card"):
        load_estimator_labels(str(tmp_path))
    with pytest.raises(PolicyError, match="cannot read the estimator card"):
        load_estimator_labels(str(tmp_path / "missing"))


def test_cli_export_with_the_shipped_estimator(policy_file, tmp_path) -> None:
    out = tmp_path / "sr.yaml"
    assert main(["policy", "export", "--format", "semantic-router", str(policy_file), "--out", str(out),
                 "--estimator", "shipped"]) == 0
    text = out.read_text()
    assert "Domains match the classes of tpf text estimator mmlu_pro_llama31" in text
    config = yaml.safe_load(text)
    assert config_problems(config) == []
    assert all("tpf_estimator_read_right" in d["annotations"] for d in config["routing"]["decisions"])
