"""Plans with classes read by the estimator: a confusion worked out by hand.

Two workload classes, a (1 query/s) and b (3 queries/s), one period of 1 s.
The card's confusion over estimator classes a, b, c (c not planned):
a: 8 read a, 2 read b; b: 1 read a, 9 read b; c: 5 read c. So R = [[0.8, 0.2],
[0.1, 0.9]]. Options x (a: 0.9, 100 J; b: 0.6, 200 J) and y (a: 0.5, 10 J;
b: 0.3, 20 J).

Queries read as a: 1 * 0.8 + 3 * 0.1 = 1.1 per s, of which 8/11 are a:
accuracy of x for routed a = (8 * 0.9 + 3 * 0.6) / 11 = 9/11; read as b:
0.2 + 2.7 = 2.9 per s, x's accuracy (0.2 * 0.9 + 2.7 * 0.6) / 2.9 = 1.8/2.9.

Split a -> y, b -> x: with classes known (0.5 + 3 * 0.6) / 4 = 0.575; through
the confusion a delivers 0.8 * 0.5 + 0.2 * 0.9 = 0.58, b 0.1 * 0.3 + 0.9 * 0.6
= 0.57, so (0.58 + 3 * 0.57) / 4 = 0.5725: misrouting costs 0.25 points.
Energy: known 10 + 3 * 200 = 610 J; delivered 0.8 * 10 + 0.2 * 100 = 28 J and
3 * (0.1 * 20 + 0.9 * 200) = 546 J, 574 J: 36 J less.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from tpf.domain import J_PER_KWH, Facility, Fleet, Grid, QueryClass, Workload
from tpf.errors import ConfigError
from tpf.estimator.planning import (
    class_map,
    dropped_options,
    estimated_classes,
    misrouting_totals,
    routed_option_table,
    routed_workload,
)
from tpf.plan import PlannerSettings, plan

WORKLOAD = Workload((QueryClass("a", "a", 100.0, (1.0,)), QueryClass("b", "b", 100.0, (3.0,))),
                    n_periods=1, period_s=1.0)
COUNTS = [[8, 2, 0], [1, 9, 0], [0, 0, 5]]


def _table() -> pd.DataFrame:
    rows = []
    for cls, figures in {"a": {"x": (0.9, 100.0), "y": (0.5, 10.0)}, "b": {"x": (0.6, 200.0), "y": (0.3, 20.0)}}.items():
        for option, (accuracy, energy) in figures.items():
            rows.append({"class_name": cls, "category": cls, "option_id": option, "model": option,
                         "hardware": "test-gpu", "strategy": "zero_shot", "budget_tokens": 0, "votes": 1,
                         "accuracy": accuracy, "energy_j": energy, "gpu_s": energy / 100.0,
                         "latency_s": energy / 100.0, "n_in_tokens": 100.0, "n_out_tokens": 1.0})
    return pd.DataFrame(rows)


@pytest.fixture
def card(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump({"kind": "text_estimator", "classes": ["a", "b", "c"], "held_out": {
        "abc": {"data_file": "test.jsonl", "n_rows": 25,
                "confusion": {"classes": ["a", "b", "c"], "counts": COUNTS}}}}))
    return path


def test_read_as_from_the_card(card):
    est = estimated_classes(str(card), WORKLOAD)
    np.testing.assert_allclose(est.read_as, [[0.8, 0.2], [0.1, 0.9]])
    assert est.n_rows == 20 and est.outside_share == 0.0


def test_routed_demand_and_figures(card):
    est = estimated_classes(str(card), WORKLOAD)
    routed = routed_workload(WORKLOAD, est)
    assert [c.rate_per_s[0] for c in routed.classes] == pytest.approx([1.1, 2.9])
    table = routed_option_table(_table(), WORKLOAD, est).set_index(["class_name", "option_id"])
    assert table.loc[("a", "x"), "accuracy"] == pytest.approx(9 / 11)
    assert table.loc[("a", "y"), "accuracy"] == pytest.approx(4.9 / 11)
    assert table.loc[("b", "x"), "accuracy"] == pytest.approx(1.8 / 2.9)
    assert table.loc[("b", "x"), "energy_j"] == pytest.approx((0.2 * 100 + 2.7 * 200) / 2.9)


def test_an_option_missing_for_a_class_read_as_another_is_dropped(card):
    est = estimated_classes(str(card), WORKLOAD)
    table = _table()
    table = table[~((table["class_name"] == "b") & (table["option_id"] == "y"))]
    routed = routed_option_table(table, WORKLOAD, est)
    assert sorted(zip(routed["class_name"], routed["option_id"], strict=True)) == [("a", "x"), ("b", "x")]
    dropped = dropped_options(table, routed)
    assert list(zip(dropped["class_name"], dropped["option_id"], strict=True)) == [("a", "y")]
    assert set(dropped["reason"]) == {"not_offered_to_every_class_read_as_it"}


def test_misrouting_cost_of_a_split(card):
    est = estimated_classes(str(card), WORKLOAD)
    allocation = pd.DataFrame({"class_name": ["a", "b"], "option_id": ["y", "x"], "period": [0, 0],
                               "share": [1.0, 1.0]})
    out = misrouting_totals(_table(), allocation, WORKLOAD, est)
    assert out["known_class_accuracy"] == pytest.approx(0.575)
    assert out["delivered_accuracy"] == pytest.approx(0.5725)
    assert out["misrouting_accuracy_points"] == pytest.approx(0.25)
    assert out["misrouting_it_energy_kwh"] * J_PER_KWH == pytest.approx(-36.0)


def test_the_plan_expects_what_the_router_delivers(card):
    """Planned on routed figures and demand, the plan's accuracy is the delivered one."""
    est = estimated_classes(str(card), WORKLOAD)
    table = _table()
    result = plan(routed_option_table(table, WORKLOAD, est), routed_workload(WORKLOAD, est), Facility((1.0,)),
                  Grid((500.0,)), Fleet(()), PlannerSettings(it_energy_kwh_total=300.0 / J_PER_KWH,
                                                             gpu_capacity=False))
    out = misrouting_totals(table, result.allocation, WORKLOAD, est)
    assert result.totals["accuracy"] == pytest.approx(out["delivered_accuracy"], abs=1e-9)
    assert result.totals["it_energy_kwh"] == pytest.approx(out["delivered_it_energy_kwh"], rel=1e-9)


def test_mapping_by_name_and_by_setting():
    workload = Workload((QueryClass("computer_science", "cs", 1.0, (1.0,)), QueryClass("sciences", "sci", 1.0, (1.0,))))
    groups = class_map(workload, ["computer science", "physics", "chemistry"],
                       {"sciences": ["physics", "chemistry"]})
    assert groups == {"computer_science": ["computer science"], "sciences": ["physics", "chemistry"]}
    with pytest.raises(ConfigError, match=r"planner.estimator_classes.sciences: no estimator class"):
        class_map(workload, ["computer science", "physics"])
    with pytest.raises(ConfigError, match=r"'biology' is not an estimator class"):
        class_map(workload, ["computer science", "physics"], {"sciences": ["biology"]})


def test_card_without_confusion_is_refused(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump({"kind": "text_estimator", "held_out": {}}))
    with pytest.raises(ConfigError, match="no confusion counts"):
        estimated_classes(str(path), WORKLOAD)


def test_shipped_card_carries_a_confusion():
    workload = Workload((QueryClass("math", "math", 1.0, (1.0,)), QueryClass("law", "law", 1.0, (1.0,))))
    est = estimated_classes("shipped", workload)
    assert est.read_as.shape == (2, 2) and np.allclose(est.read_as.sum(axis=1), 1.0)
    assert est.read_as[0, 0] > 0.9


def test_a_run_with_estimated_classes_reports_the_misrouting_cost(tmp_path):
    """``planner.estimator=shipped``: the plan's accuracy is the delivered one; the summary says the cost."""
    from tpf.config.compose import compose
    from tpf.run import run_scenario

    overrides = ["workload=small", "workload.n_periods=2", "report=minimal"]  # least energy at accuracy 0.60
    known = run_scenario(compose(overrides), "plan", "paper_l40s", tmp_path / "known")
    read = run_scenario(compose([*overrides, "planner.estimator=shipped",
                                          "+planner.estimator_classes.sociology=[psychology]"]), "plan", "paper_l40s", tmp_path / "read")
    assert "misrouting" not in known
    figures = read["misrouting"]
    assert read["accuracy"] == pytest.approx(figures["delivered_accuracy"], abs=1e-9)
    assert figures["misrouting_accuracy_points"] == pytest.approx(
        100 * (figures["known_class_accuracy"] - figures["delivered_accuracy"]))
    # the same accuracy costs more energy when classes are read from the text
    assert read["accuracy"] == pytest.approx(known["accuracy"])
    assert read["facility_energy_kwh"] > known["facility_energy_kwh"]
    assert figures["known_class_plan_objective"] == pytest.approx(known["objective"])
    assert figures["misrouting_objective"] == pytest.approx(read["objective"] - known["objective"])
    assert "Misrouting costs this split" in (tmp_path / "read" / "report.md").read_text()
