"""Schema and semantic checks: each rule refuses a policy breaking it, naming the place."""

from __future__ import annotations

import copy
import json

import pytest

from tpf.errors import PolicyError
from tpf.policy import Policy, load_policy, policy_problems, policy_to_dict, save_policy
from tpf.policy.format import policy_from_dict
from tpf.policy.validate import load_schema, parse_policy_text


def _problems(data: dict, models: list[str] | None = None) -> list[str]:
    return policy_problems(data, models)


def test_valid_policy_has_no_problems_and_round_trips(policy: Policy, policy_data: dict) -> None:
    assert _problems(policy_data) == []
    assert policy_from_dict(policy_data) == policy
    assert policy_to_dict(policy_from_dict(policy_data)) == policy_data


def test_schema_is_shipped_and_is_a_2020_12_schema() -> None:
    schema = load_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["properties"]["format"] == {"const": "tpf-policy"}


def test_weights_must_sum_to_one(policy_data: dict) -> None:
    policy_data["classes"][0]["decisions"][0]["weight"] += 1e-6
    problems = _problems(policy_data)
    assert len(problems) == 1
    assert problems[0].startswith("$.classes[0].decisions: weights must sum to 1")


def test_weight_sum_within_tolerance_is_accepted(policy_data: dict) -> None:
    policy_data["classes"][0]["decisions"][0]["weight"] += 1e-12
    assert _problems(policy_data) == []


def test_negative_weight_names_its_path(policy_data: dict) -> None:
    policy_data["classes"][1]["decisions"][0]["weight"] = -0.2
    problems = _problems(policy_data)
    assert any(p.startswith("$.classes[1].decisions[0].weight:") for p in problems), problems


def test_unknown_model_against_declared_and_given_lists(policy_data: dict) -> None:
    policy_data["classes"][2]["decisions"][0]["model"] = "gpt-x"
    assert any("$.classes[2].decisions[0].model: 'gpt-x' is not a declared model" in p
               for p in _problems(policy_data))


def test_models_given_by_the_deployment(policy_data: dict) -> None:
    problems = _problems(policy_data, models=["llama-8b"])
    assert "$.models: 'llama-70b' is not among the known models ['llama-8b']" in problems
    assert any(".model: 'llama-70b' is not a declared model" in p for p in problems)
    assert _problems(policy_data, models=["llama-8b", "llama-70b", "spare"]) == []


def test_budget_and_votes_bounds(policy_data: dict) -> None:
    policy_data["classes"][0]["decisions"][0]["max_new_tokens"] = 0
    policy_data["classes"][0]["decisions"][1]["votes"] = 0
    problems = _problems(policy_data)
    assert any(p.startswith("$.classes[0].decisions[0].max_new_tokens:") for p in problems)
    assert any(p.startswith("$.classes[0].decisions[1].votes:") for p in problems)


def test_hours_must_cover_the_day_once(policy_data: dict) -> None:
    entries = policy_data["classes"][0]["by_hour"]
    entries[0]["hours"].remove(3)
    entries[1]["hours"].append(12 if 12 not in entries[1]["hours"] else 5)
    problems = _problems(policy_data)
    assert any("missing [3]" in p for p in problems), problems
    assert any("already given" in p for p in problems), problems


def test_carbon_bands_must_tile_zero_to_infinity(policy_data: dict) -> None:
    bands = policy_data["classes"][0]["by_carbon"]
    bands[0]["min_g_per_kwh"] = 10.0
    bands[-1]["max_g_per_kwh"] = 900.0
    problems = _problems(policy_data)
    assert any("by_carbon[0]: must start at 0" in p for p in problems), problems
    assert any("last carbon band must be open-ended" in p for p in problems), problems


def test_length_buckets_must_not_overlap(policy_data: dict) -> None:
    policy_data["classes"][1]["n_in_min_tokens"] = 512  # math-long now overlaps math-short [0, 1024)
    problems = _problems(policy_data)
    assert any("category='math'" in p and "must start at 1024" in p for p in problems), problems


def test_default_category_must_exist(policy_data: dict) -> None:
    policy_data["default_category"] = "history"
    assert any(p.startswith("$.default_category: 'history'") for p in _problems(policy_data))


def test_duplicate_class_names(policy_data: dict) -> None:
    policy_data["classes"][2]["name"] = "math-short"
    assert "$.classes: duplicate class name 'math-short'" in _problems(policy_data)


def test_all_problems_are_listed_at_once(policy_data: dict) -> None:
    policy_data["classes"][0]["decisions"][0]["weight"] = -1
    policy_data["classes"][1]["decisions"][0]["strategy"] = "beam"
    policy_data["provenance"]["created_utc"] = "yesterday"
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_data)
    problems = caught.value.problems
    assert len(problems) == 3
    assert "3 problems" in str(caught.value)
    assert "$.provenance.created_utc" in str(caught.value)


def test_newer_major_version_refused_with_upgrade_hint(policy_data: dict) -> None:
    policy_data["format_version"] = "2.0"
    with pytest.raises(PolicyError, match=r"2\.0 is a newer major version .* upgrade tpf"):
        load_policy(policy_data)


def test_newer_minor_version_with_known_fields_is_accepted(policy_data: dict) -> None:
    policy_data["format_version"] = "1.7"
    assert load_policy(policy_data).format_version == "1.7"


@pytest.mark.parametrize("version", ["1", "one", "1.0.0", 1.0, None])
def test_malformed_version_refused(policy_data: dict, version: object) -> None:
    policy_data["format_version"] = version
    with pytest.raises(PolicyError, match=r"\$\.format_version: must look like"):
        load_policy(policy_data)


def test_parse_refuses_nan_and_duplicate_keys() -> None:
    with pytest.raises(PolicyError, match="NaN is not allowed"):
        parse_policy_text('{"a": NaN}')
    with pytest.raises(PolicyError, match="duplicate key 'a'"):
        parse_policy_text('{"a": 1, "a": 2}')


def test_save_refuses_an_invalid_policy_and_keeps_the_old_file(tmp_path, policy: Policy) -> None:
    path = save_policy(policy, tmp_path / "p.json")
    before = path.read_text()
    broken = copy.deepcopy(policy_to_dict(policy))
    broken["classes"][0]["decisions"][0]["weight"] = 0.9
    with pytest.raises(PolicyError):
        save_policy(policy_from_dict(broken), path)
    assert path.read_text() == before
    assert json.loads(before)["format_version"] == "1.0"
