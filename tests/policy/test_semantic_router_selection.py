"""The semantic-router export carries out the plan's split under the router's own selection rules:
priority order, static selection of the first candidate, weights unread, one bucket per request id."""

from __future__ import annotations

import copy
import math
from collections import Counter
from dataclasses import replace

import pytest

from tpf.errors import PolicyError
from tpf.policy import Choice, Policy
from tpf.policy.buckets import bucket_counts, request_bucket, with_bucket
from tpf.policy.export_semantic_router import (
    ExportOptions,
    class_choices,
    model_refs,
    semantic_router_config,
)
from tpf.policy.semantic_router_providers import ModelEndpoint, Providers
from tpf.policy.semantic_router_selection import (
    Request,
    class_request,
    routed_shares,
    selected_ref,
    winning_decision,
)

N_REQUESTS = 100_000
PROVIDERS = Providers(models={"llama-8b": ModelEndpoint("vllm-8b:8000", reasoning_family="deepseek")})


def planned(policy: Policy, options: ExportOptions, class_name: str) -> dict[tuple[str, bool, str], float]:
    cls = next(c for c in policy.classes if c.name == class_name)
    refs = model_refs(class_choices(cls, options), PROVIDERS, options, [], class_name)
    return {(r["model"], r["use_reasoning"], r.get("reasoning_effort", "")): r["weight"] for r in refs}


@pytest.mark.parametrize(("hour", "carbon"), [(None, None), (3, None), (14, None), (None, 120.0), (None, 500.0)])
def test_router_rules_give_each_class_its_planned_shares(policy: Policy, hour: int | None,
                                                         carbon: float | None) -> None:
    options = ExportOptions(hour=hour, carbon_g_per_kwh=carbon)
    config, _ = semantic_router_config(policy, options, PROVIDERS)
    for cls in policy.classes:
        plan = planned(policy, options, cls.name)
        label, n_in = class_request(config, cls.category, cls.n_in_min_tokens)
        every_bucket = routed_shares(config, label, n_in, [_id_for_bucket(b) for b in range(100)])
        routed = routed_shares(config, label, n_in, range(N_REQUESTS))
        assert set(routed) == set(every_bucket) == set(plan), cls.name
        counts = dict(zip(plan, bucket_counts(list(plan.values()), cls.name), strict=True))
        for key, share in plan.items():
            assert every_bucket[key] == pytest.approx(counts[key] / 100, abs=1e-12)  # whole buckets, exactly
            assert abs(every_bucket[key] - share) < 0.01  # largest remainder: under one bucket off
            sigma = math.sqrt(share * (1 - share) / N_REQUESTS)
            assert abs(routed[key] - share) <= 0.01 + 5 * sigma, (cls.name, key, routed[key], share)


def _id_for_bucket(bucket: int) -> str:
    """A request id whose bucket is ``bucket`` (first found by counting)."""
    return next(f"req-{i}" for i in range(10_000) if request_bucket(f"req-{i}") == f"{bucket:02d}")


def test_requests_without_a_bucket_take_the_largest_share_and_buckets_are_what_split(policy: Policy) -> None:
    config, _ = semantic_router_config(policy, ExportOptions(hour=14), PROVIDERS)
    label, n_in = class_request(config, "math", 0)
    bare = selected_ref(config, Request(label, n_in))
    assert bare["model"] == "llama-70b"  # day: 60% llama-70b, the class's own decision
    # independence: widen one bucket decision's metadata rule and its share moves by the buckets added
    before = routed_shares(config, label, n_in, range(20_000))
    wider = copy.deepcopy(config)
    rule = wider["routing"]["signals"]["metadata"][0]
    rule["predicate"]["in"] = [f"{b:02d}" for b in range(100)]
    after = routed_shares(wider, label, n_in, range(20_000))
    assert before != after


def test_selection_rules_priority_then_name_first_candidate_weights_unread() -> None:
    signals = {"domains": [{"name": "math", "mmlu_categories": ["math"]}],
               "metadata": [{"name": "low", "key": "tpf_bucket", "predicate": {"in": ["00", "01"]}}]}

    def decision(name: str, priority: int, conditions: list, refs: list) -> dict:
        return {"name": name, "priority": priority, "rules": {"operator": "AND", "conditions": conditions},
                "algorithm": {"type": "static"}, "modelRefs": refs}

    a = {"model": "a", "weight": 0.01}
    b = {"model": "b", "weight": 0.99}
    config = {"routing": {"strategy": "priority", "signals": signals, "decisions": [
        decision("z_math", 100, [{"type": "domain", "name": "math"}], [a, b]),
        decision("a_math", 100, [{"type": "domain", "name": "math"}], [b, a]),
        decision("math_low", 101, [{"type": "domain", "name": "math"}, {"type": "metadata", "name": "low"}], [a]),
        decision("any", 10, [], [b])]}}
    assert winning_decision(config, Request("math", 10))["name"] == "a_math"  # equal priority: smaller name
    assert selected_ref(config, Request("math", 10))["model"] == "b"  # first candidate, weight 0.99 or not
    assert selected_ref(config, Request("math", 10, (("tpf_bucket", "01"),)))["model"] == "a"  # priority 101
    assert selected_ref(config, Request("law", 10, (("tpf_bucket", "01"),)))["model"] == "b"  # only 'any'
    config["routing"]["decisions"][1]["modelRefs"] = [{**b, "weight": 0.0}, {**a, "weight": 1e9}]
    assert selected_ref(config, Request("math", 10))["model"] == "b"  # weights are never read


def test_request_bucket_is_stable_two_digit_and_uniform() -> None:
    assert request_bucket("req-1") == request_bucket("req-1")
    assert request_bucket(12345) == request_bucket("12345")
    counts = Counter(request_bucket(i) for i in range(N_REQUESTS))
    assert sorted(counts) == [f"{b:02d}" for b in range(100)]
    assert max(counts.values()) - min(counts.values()) < 0.25 * N_REQUESTS / 100  # about 1,000 each
    body = with_bucket({"model": "auto", "metadata": {"user": "u1"}}, "req-1")
    assert body["metadata"] == {"user": "u1", "tpf_bucket": request_bucket("req-1")}


def test_bucket_counts_largest_remainder_and_bad_shares() -> None:
    assert bucket_counts([0.5375, 0.4625], "c") == [54, 46]
    assert bucket_counts([1 / 3] * 3, "c") == [34, 33, 33]  # ties: the earlier share
    assert sum(bucket_counts([0.004] * 250, "c")) == 100
    with pytest.raises(PolicyError, match=r"class 'x', hour 3: shares must sum to 1 .* got 0\.9"):
        bucket_counts([0.6, 0.3], "class 'x', hour 3")
    with pytest.raises(PolicyError, match="class 'x': no options to split into buckets"):
        bucket_counts([], "class 'x'")
    with pytest.raises(PolicyError, match="shares must be finite numbers >= 0"):
        bucket_counts([1.5, -0.5], "class 'x'")


def test_an_option_rounding_to_no_bucket_is_dropped_and_named(policy: Policy) -> None:
    first = policy.classes[0]
    big, small = first.choices[0].decision, first.choices[1].decision
    tiny = replace(first, choices=(Choice(0.996, big), Choice(0.004, small)), by_hour=(), by_carbon=())
    config, notes = semantic_router_config(replace(policy, classes=(tiny, *policy.classes[1:])))
    assert any(f"class {first.name!r}: 0.40% {small.model} gets no bucket" in n for n in notes), notes
    label, n_in = class_request(config, first.category, first.n_in_min_tokens)
    assert routed_shares(config, label, n_in, range(1000)) == {(big.model, False, ""): 1.0}
