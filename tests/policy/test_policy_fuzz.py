"""Fuzzed policy files: every broken file is refused with a PolicyError at load, and any
file that loads routes every request without raising."""

from __future__ import annotations

import copy
import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tpf.errors import PolicyError
from tpf.policy import Router, load_policy

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _set(doc: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


N_INS = (0, 1, 1023, 1024, 10**9, -5, None, 3.5, math.nan, math.inf, "12")
HOURS = (None, 0, 23, 24, -1, 7.9, math.nan, math.inf, "x", "3")
CARBONS = (None, 0.0, 149.9, 300.0, 1e9, -1.0, math.nan, math.inf, "high")
CATEGORIES = ("math", "other", "history", "", None, ("x",), 3)


def _route_everything(router: Router) -> None:
    """Every combination of odd request arguments gets a decision naming a declared model."""
    for i, (category, n_in, hour, carbon) in enumerate(itertools.product(CATEGORIES, N_INS, HOURS, CARBONS)):
        assert router.decide(f"r{i}", category, n_in, hour, carbon).model in router.policy.models


def _route_some(router: Router) -> None:
    for i, category in enumerate(CATEGORIES):
        for hour, carbon, n_in in zip(HOURS, CARBONS, N_INS, strict=False):
            assert router.decide(i, category, n_in, hour, carbon).model in router.policy.models


def test_truncated_files_are_refused(tmp_path: Path, policy_file: Path) -> None:
    text = policy_file.read_text()
    for cut in range(0, len(text) - 2, max(1, len(text) // 97)):
        path = tmp_path / "cut.json"
        path.write_text(text[:cut])
        with pytest.raises(PolicyError, match=r"cut\.json: not valid JSON at line \d+ column \d+"):
            load_policy(path)


@FUZZ
@given(data=st.data())
def test_wrong_types_are_refused(policy_data: dict, data: st.DataObject) -> None:
    paths = _paths(policy_data)
    path = data.draw(st.sampled_from(paths))
    original = _get(policy_data, path)
    wrong = data.draw(st.sampled_from([
        v for v in ("text", -3, 2.5, None, True, [], {}, [1, 2], {"k": 1})
        if type(v) is not type(original) and not (isinstance(original, float) and type(v) is int)
    ]))
    broken = copy.deepcopy(policy_data)
    _set(broken, path, wrong)
    try:
        router = Router(broken)
    except PolicyError as exc:
        assert str(exc).startswith("<policy dict>: ")
        return
    _route_some(router)  # some substitutions stay valid (e.g. a name set to null where allowed)


@FUZZ
@given(data=st.data())
def test_negative_weights_are_refused(policy_data: dict, data: st.DataObject) -> None:
    weights = [p for p in _paths(policy_data) if p[-1] == "weight"]
    path = data.draw(st.sampled_from(weights))
    broken = copy.deepcopy(policy_data)
    _set(broken, path, -data.draw(st.floats(min_value=1e-12, max_value=1e6)))
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    with pytest.raises(PolicyError, match=r"must be >= 0|less than the minimum") as caught:
        load_policy(broken)
    assert where in str(caught.value)


@FUZZ
@given(data=st.data(), key=st.text(min_size=1, max_size=12))
def test_unknown_fields_are_refused(policy_data: dict, data: st.DataObject, key: str) -> None:
    objects = [p for p in _paths(policy_data) if isinstance(_get(policy_data, p), dict)]
    path = data.draw(st.sampled_from([(), *objects]))
    target = _get(policy_data, path)
    if key in target or (path and path[-1] == "expected" and key in
                         ("accuracy", "energy_j_per_query", "carbon_g_per_query", "queries")):
        return
    broken = copy.deepcopy(policy_data)
    _get(broken, path)[key] = 1
    with pytest.raises(PolicyError, match="Additional properties are not allowed"):
        load_policy(broken)


@FUZZ
@given(blob=st.binary(max_size=400))
def test_random_bytes_are_refused(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "blob.json"
    path.write_bytes(blob)
    with pytest.raises(PolicyError):
        load_policy(path)


@FUZZ
@given(doc=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
                        max_leaves=20))
def test_random_json_documents_are_refused(doc: Any) -> None:
    with pytest.raises(PolicyError):
        load_policy(doc if isinstance(doc, dict) else {"doc": doc})


def test_huge_file_is_refused_before_parsing(tmp_path: Path, policy_data: dict) -> None:
    policy_data["notes"] = ["x" * 4000] * 600  # ~2.4 MB of otherwise valid JSON
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(policy_data))
    with pytest.raises(PolicyError, match=r"huge\.json: file is \d+ bytes; a policy may be at most 1000000 bytes"):
        load_policy(path, max_bytes=1_000_000)


def test_deeply_nested_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PolicyError, match="deep.json"):
        load_policy(path)


def test_non_utf8_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"name": "é"}'.encode("latin-1"))
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(path)
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "absent.json")


def test_valid_policy_routes_any_request(policy_file: Path) -> None:
    _route_everything(Router(policy_file))
