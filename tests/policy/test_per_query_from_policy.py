"""TextRouter.from_policy and ``tpf policy route``: a per-query router built from a policy file alone."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from tpf.config.compose import compose
from tpf.errors import PolicyError
from tpf.policy.cli import main
from tpf.policy.per_query import TextRouter
from tpf.policy.validate import load_policy, save_policy
from tpf.run import run_scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "per-query-routing.md"
LAW = ("Under the common law, a contract entered into by a minor is generally: "
       "A) void B) voidable by the minor C) enforceable D) illegal")


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("paper_l40s")
    run_scenario(compose(["scenario=paper_l40s", "workload.n_periods=3", "report=minimal"]), "plan",
                 "paper_l40s", run_dir)
    return run_dir / "policy.json"


def _doc_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- example: from_policy -->", 1)[1]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


def test_the_documented_example_runs(planned: Path, capsys: pytest.CaptureFixture) -> None:
    namespace: dict = {"POLICY": str(planned)}
    exec(compile(_doc_example(), str(DOC), "exec"), namespace)  # noqa: S102 - the docs' own example
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "law -> humanities -> class humanities"
    decision = namespace["decision"]
    policy = load_policy(planned)
    assert decision.decision in {c.decision for cls in policy.classes for c in cls.choices}
    assert printed[1] == f"{decision.decision.model} {decision.decision.strategy} {decision.decision.max_new_tokens}"


def test_model_names_meet_across_cards_policy_and_estimator(planned: Path) -> None:
    router = TextRouter.from_policy(planned)
    # the accuracy card spells Llama-3.1-8B, the policy llama-3.1-8b: every option found its curve
    assert {o.decision.model for o in router.options} == {"llama-3.1-8b", "llama-3.2-1b"}
    assert all(min(o.class_accuracy) > 0.05 for o in router.options)
    assert router.label_categories["history"] == router.label_categories["law"] == "humanities"
    assert router.label_categories["psychology"] == "sociology"
    default = load_policy(planned).default_category
    assert router.label_categories["business"] == router.label_categories["other"] == default
    # independence: a text on physics lands in natural_sciences, one on law in humanities
    decision = router.route_text("A ball is thrown upward at 20 m/s. Ignoring air resistance, how long until "
                                 "it returns? A) 2 s B) 4 s C) 8 s D) 1 s")
    assert decision.category == "physics" and router.policy_class(decision) == "natural_sciences"
    assert router.policy_class(router.route_text(LAW)) == "humanities"


def test_cli_route_prints_label_class_and_decision(planned: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["policy", "route", LAW, "--policy", str(planned), "--hour", "1"]) == 0
    out = capsys.readouterr().out
    assert "label: law" in out and "class humanities (x-tpf-class: humanities" in out
    assert re.search(r"decision: llama-3\.[12]-[18]b (zero_shot|mv x\d+) max_new_tokens=\d+", out), out
    # the shipped hashed estimator carries no per-query win on its card: the plan's split routes it
    assert "routing: per category (the estimator's card shows no per-query win" in out
    assert "estimated: accuracy" not in out
    assert main(["policy", "route", LAW, "--policy", str(planned), "--hour", "1", "--mode", "per_query"]) == 0
    out = capsys.readouterr().out
    assert "routing: per query (chosen)" in out and "estimated: accuracy" in out


def test_a_card_the_policy_names_but_the_package_lacks_is_named(planned: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    policy = load_policy(planned)
    cards = list(policy.provenance.cards)
    cards[0] = replace(cards[0], sha256="0" * 64)
    changed = save_policy(replace(policy, provenance=replace(policy.provenance, cards=tuple(cards))),
                          tmp_path / "policy.json")
    with pytest.raises(PolicyError, match=r"provenance\.cards\[0\] 'llama-3\.2-1b@l40s' \(sha256 000000000000\)"
                                          r".*cards=\[PATH"):
        TextRouter.from_policy(changed)
    assert main(["policy", "route", LAW, "--policy", str(changed)]) == 1
    assert "--card on the command line" in capsys.readouterr().err
    assert json.loads(changed.read_text())["provenance"]["cards"][0]["sha256"] == "0" * 64
