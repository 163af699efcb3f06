"""semantic-router v0.3 export: layout, categories, splits, length buckets, reasoning, annotations, bands."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tpf.domain import MMLU_PRO_CATEGORIES, MMLU_PRO_CATEGORY_MAP
from tpf.errors import PolicyError
from tpf.policy import Choice, Decision, Policy
from tpf.policy.cli import main
from tpf.policy.export_semantic_router import (
    ExportOptions,
    decision_annotations,
    domain_signals,
    mmlu_pro_category,
    semantic_router_config,
)
from tpf.policy.semantic_router_bands import _ranges, band_file, band_index, load_band_index
from tpf.policy.semantic_router_providers import (
    ModelEndpoint,
    Providers,
    effort_level,
    load_providers,
    placeholder_endpoint,
    providers_from_dict,
)
from tpf.policy.semantic_router_schema import config_problems


def _decision(config: dict, name: str) -> dict:
    return next(d for d in config["routing"]["decisions"] if d["name"] == name)


def _bucket_split(config: dict, name: str) -> list[tuple]:
    """(model, share, use_reasoning, effort) of a class: its decision and its bucket decisions, by share."""
    rules = {r["name"]: r for r in config["routing"]["signals"].get("metadata", [])}
    out, rest = [], 100
    for decision in config["routing"]["decisions"]:
        if decision["name"].startswith(name + "_b"):
            signal = decision["rules"]["conditions"][-1]
            assert signal["type"] == "metadata" and decision["priority"] == _decision(config, name)["priority"] + 1
            n_buckets = len(rules[signal["name"]]["predicate"]["in"])
            rest -= n_buckets
            out.append((decision["modelRefs"], n_buckets / 100))
    out.insert(0, (_decision(config, name)["modelRefs"], rest / 100))
    assert all(len(refs) == 1 for refs, _ in out)  # one candidate: static selection takes it
    return [(r[0]["model"], share, r[0]["use_reasoning"], r[0].get("reasoning_effort")) for r, share in out]


def _with_family(family: str | None) -> Providers:
    return Providers(models={"llama-8b": ModelEndpoint("vllm-8b:8000", reasoning_family=family)})


def test_canonical_layout_with_placeholders(policy: Policy) -> None:
    config, _ = semantic_router_config(policy)
    assert list(config) == ["version", "listeners", "providers", "routing", "global"]
    assert config["version"] == "v0.3"
    assert [m["name"] for m in config["providers"]["models"]] == list(policy.models)
    backend = config["providers"]["models"][0]["backend_refs"][0]
    assert backend["endpoint"] == "${TPF_SR_ENDPOINT_LLAMA_70B}" == placeholder_endpoint("llama-70b")
    assert [c["name"] for c in config["routing"]["modelCards"]] == list(policy.models)
    assert config["routing"]["strategy"] == "priority"
    assert config_problems(config) == []


def test_split_becomes_weights_and_buckets_context_rules(policy: Policy) -> None:
    config, _ = semantic_router_config(policy)
    short = _decision(config, "tpf_math_short")
    assert short["rules"]["conditions"] == [{"type": "domain", "name": "math"},
                                            {"type": "context", "name": "tokens_0_1023"}]
    assert short["algorithm"] == {"type": "static"}
    # all day, equal queries per hour: llama-70b gets (11 * 0.30 + 13 * 0.60) / 24 = 46.25% of math-short,
    # 46 buckets by largest remainder (53.75 -> 54 for llama-8b: the larger remainder, .75)
    assert [(m, share) for m, share, _, _ in _bucket_split(config, "tpf_math_short")] == [
        ("llama-8b", 0.54), ("llama-70b", 0.46)]
    bucketed = _decision(config, "tpf_math_short_b54")
    assert bucketed["rules"]["conditions"] == [*short["rules"]["conditions"],
                                               {"type": "metadata", "name": "tpf_bucket_54_99"}]
    metadata = {r["name"]: r for r in config["routing"]["signals"]["metadata"]}
    assert metadata["tpf_bucket_54_99"]["key"] == "tpf_bucket"
    assert metadata["tpf_bucket_54_99"]["predicate"] == {"in": [f"{b:02d}" for b in range(54, 100)]}
    context = {s["name"]: s for s in config["routing"]["signals"]["context"]}
    assert context["tokens_0_1023"]["min_tokens"] == "0" and context["tokens_0_1023"]["max_tokens"] == "1023"
    assert context["tokens_1024_up"]["min_tokens"] == "1024" and "max_tokens" not in context["tokens_1024_up"]
    other = _decision(config, "tpf_other")
    assert other["rules"]["conditions"] == [{"type": "domain", "name": "other"}]  # one bucket: no context rule


def test_unknown_labels_fall_back_to_the_default_category(policy: Policy) -> None:
    config, _ = semantic_router_config(policy)
    fallback = _decision(config, "tpf_fallback_other")
    assert fallback["priority"] < _decision(config, "tpf_other")["priority"]
    assert fallback["rules"] == {"operator": "AND", "conditions": []}
    assert config["providers"]["defaults"]["model"] == fallback["modelRefs"][0]["model"] == "llama-8b"


def test_plan_figures_in_annotations(policy: Policy) -> None:
    config, _ = semantic_router_config(policy, ExportOptions(hour=3))
    notes = _decision(config, "tpf_math_short")["annotations"]
    expected = next(c for c in policy.classes if c.name == "math-short").expected
    assert float(notes["tpf_expected_accuracy"]) == pytest.approx(expected.accuracy, rel=1e-5)
    assert float(notes["tpf_expected_energy_j_per_query"]) == pytest.approx(expected.energy_j_per_query, rel=1e-5)
    assert float(notes["tpf_expected_carbon_g_per_query"]) == pytest.approx(expected.carbon_g_per_query, rel=1e-5)
    assert notes["tpf_band"] == "hour 3"
    assert "15.0% llama-8b mv max_new_tokens=128 votes=5" in notes["tpf_split"]


def test_long_split_is_cut_to_the_annotation_limit(policy: Policy) -> None:
    choices = tuple(Choice(1 / 300, Decision(f"model-with-a-long-name-{i}", "cot", 512 + i)) for i in range(300))
    notes = decision_annotations(policy, policy.classes[0], choices, "all day")
    assert len(json.dumps(notes, separators=(",", ":")).encode()) <= 4096
    assert notes["tpf_split"].endswith("(cut)")


@pytest.mark.parametrize(("family", "short_refs"), [
    (None, [("llama-8b", 0.7, False, None), ("llama-70b", 0.3, False, None)]),
    ("deepseek", [("llama-8b", 0.7, True, "low"), ("llama-70b", 0.3, False, None)]),  # effort levels
    ("qwen3", [("llama-8b", 0.7, True, None), ("llama-70b", 0.3, False, None)]),  # mode only
    ("glm-5.2", [("llama-8b", 0.7, True, "high"), ("llama-70b", 0.3, False, None)]),  # no 'low': next up
])
def test_reasoning_follows_the_declared_family(policy: Policy, family: str | None, short_refs: list) -> None:
    config, notes = semantic_router_config(policy, ExportOptions(hour=3), _with_family(family))
    assert _bucket_split(config, "tpf_math_short") == short_refs
    assert any("declares no reasoning family" in n for n in notes) == (family is None)
    if family is not None:
        assert config["providers"]["models"][1]["reasoning"] == {"family": family}


def test_always_on_family_refuses_zero_shot(policy: Policy) -> None:
    with pytest.raises(PolicyError, match="'gpt-oss' is always on.*zero-shot"):
        semantic_router_config(policy, ExportOptions(hour=3), _with_family("gpt-oss"))


def test_effort_level_picks_the_nearest_level_at_or_above() -> None:
    assert effort_level(["low", "high", "max"], "medium") == "high"
    assert effort_level(["low", "medium", "xhigh"], "high") == "xhigh"
    assert effort_level(["high"], "max") == "high"
    assert effort_level(["minimal", "low"], "minimal") == "minimal"


def test_paper_categories_map_to_disjoint_mmlu_pro_labels() -> None:
    domains = domain_signals(list(MMLU_PRO_CATEGORY_MAP), ExportOptions())
    labels = [label for d in domains for label in d["mmlu_categories"]]
    assert len(domains) == 8 and len(labels) == len(set(labels))
    assert set(labels) <= set(MMLU_PRO_CATEGORIES)
    assert mmlu_pro_category("Computer-Science") == "computer science"


def test_unmapped_category_is_an_error_until_mapped(policy: Policy) -> None:
    renamed = replace(policy, classes=tuple(replace(c, category="algebra") if c.category == "math" else c
                                            for c in policy.classes))
    with pytest.raises(PolicyError, match="'algebra' has no MMLU-Pro labels.*--map"):
        semantic_router_config(renamed)
    config, _ = semantic_router_config(renamed, ExportOptions(category_map=(("algebra", ("math",)),)))
    assert config["routing"]["signals"]["domains"][0] == {
        "name": "algebra", "description": "tpf category algebra: MMLU-Pro math", "mmlu_categories": ["math"]}
    with pytest.raises(PolicyError, match="'other' is mapped to both"):
        semantic_router_config(renamed, ExportOptions(category_map=(("algebra", ("other",)),)))
    with pytest.raises(PolicyError, match=r"category_map\[algebra\]: labels must be MMLU-Pro"):
        semantic_router_config(renamed, ExportOptions(category_map=(("algebra", ("arithmetic",)),)))


def test_schema_check_names_each_breach(policy: Policy) -> None:
    config, _ = semantic_router_config(policy)
    config["routing"]["decisions"][0]["surprise"] = 1
    config["routing"]["decisions"][1]["annotations"] = {f"k{i}": "v" for i in range(33)}
    config["listeners"][0]["port"] = "${ROUTER_PORT}"  # environment references stand for numbers
    problems = config_problems(config)
    assert len(problems) == 2
    assert problems[0].startswith("routing.decisions.0: ") and "'surprise' was unexpected" in problems[0]
    assert problems[1] == "routing.decisions.1.annotations: 33 entries, at most 32"


def test_providers_file_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "providers.yaml"
    bad.write_text(yaml.safe_dump({"models": {"llama-8b": {"endpoint": "", "reasoning_family": "nope", "x": 1}},
                                   "listeners": [{"name": "l", "port": 70000}], "extra": 1}))
    with pytest.raises(PolicyError) as info:
        load_providers(bad)
    text = str(info.value)
    for expected in ("extra: unknown key", "llama-8b.x: unknown key", "llama-8b.endpoint: required",
                     "reasoning_family: unknown family 'nope'", "listeners[0].port: must be an integer in 1-65535"):
        assert expected in text
    good = providers_from_dict({"models": {"llama-8b": {"endpoint": "h:1", "reasoning_family": "qwen3"}}})
    assert good.endpoint("llama-8b").reasoning_family == "qwen3" and good.endpoint("other").placeholder


def test_hour_and_carbon_bands_index(policy: Policy) -> None:
    index = band_index(policy)
    assert [(b["hours"][0], len(b["hours"]), b["file"]) for b in index["hours"]] == [
        (0, 11, "hours_00-06_20-23.yaml"), (7, 13, "hours_07-19.yaml")]
    assert [(b["min_g_per_kwh"], b["max_g_per_kwh"]) for b in index["carbon"]] == [(0.0, 300.0), (300.0, None)]
    assert band_file(index, hour=14) == ("hours_07-19.yaml", "hour 14")
    assert band_file(index, hour=38)[0] == "hours_07-19.yaml"  # modulo 24, as the runtime does
    assert band_file(index, hour=14, carbon_g_per_kwh=120.0)[0] == "carbon_0-300.yaml"  # intensity wins
    assert band_file(index)[0] == "all_day.yaml"
    assert _ranges((0, 1, 2, 5, 20, 21)) == "00-02_05_20-21"


def test_cli_bands_folder_and_band_command(tmp_path: Path, policy_file: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    providers = tmp_path / "providers.yaml"
    providers.write_text("models:\n  llama-8b: {endpoint: 'vllm-8b:8000', reasoning_family: deepseek}\n")
    out = tmp_path / "bands"
    assert main(["policy", "export", "--format", "semantic-router", str(policy_file), "--out", str(out),
                 "--bands", "--providers", str(providers)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["all_day.yaml", "carbon_0-300.yaml", "carbon_300-up.yaml",
                                                     "hours_00-06_20-23.yaml", "hours_07-19.yaml", "index.yaml"]
    for path in out.glob("*.yaml"):
        if path.name != "index.yaml":
            assert config_problems(yaml.safe_load(path.read_text())) == []
    assert load_band_index(out / "index.yaml")["policy"] == "test-plan"
    capsys.readouterr()
    assert main(["policy", "band", str(out / "index.yaml"), "--hour", "22"]) == 0
    assert capsys.readouterr().out.strip() == f"{out / 'hours_00-06_20-23.yaml'}  (hour 22)"
    assert main(["policy", "export", "--format", "semantic-router", str(policy_file), "--out", str(out),
                 "--map", "math"]) == 1
    assert "expected CATEGORY=LABEL" in capsys.readouterr().err
    assert main(["policy", "export", "--format", "semantic-router", str(policy_file), "--out", str(out),
                 "--bands", "--hour", "3"]) == 1
    assert "--bands writes every band" in capsys.readouterr().err


def test_weights_below_the_exported_precision_are_dropped() -> None:
    from tpf.policy.export_semantic_router import model_refs

    choices = (Choice(1 - 1e-8, Decision("llama-8b", "zero_shot", 1)), Choice(1e-8, Decision("llama-70b", "cot", 512)))
    refs = model_refs(choices, Providers(), ExportOptions(), [], "class 'x'")
    assert refs == [{"model": "llama-8b", "weight": 1.0, "use_reasoning": False}]
