"""The published L40S energy cards (EuroMLSys'25 Table 1) and pricing through their anchors."""

from __future__ import annotations

import pandas as pd
import pytest

from tpf.anchors import BASIS_PUBLISHED, EnergyAnchor, anchored_value, pick_anchors
from tpf.cards import load_card
from tpf.config.build import build_inputs, card_source_label
from tpf.config.compose import compose
from tpf.errors import CardError
from tpf.plan.options import build_options
from tpf.published import ASSUMED_ITEMS_PER_CATEGORY, euromlsys25_table1
from tpf.published_energy import PUBLISHED_CARDS_DIR, published_card
from tpf.run.steps import strategy_spec


@pytest.fixture(scope="module")
def paper_options() -> pd.DataFrame:
    inputs = build_inputs(compose([]))
    return build_options(inputs.workload, inputs.cards.energy, inputs.cards.accuracy,
                         strategy_spec(inputs.config.planner), batch_size=inputs.config.planner.batch_size).table


def _energy(options: pd.DataFrame, category: str, model: str, strategy: str, budget: int = 0,
            votes: int = 1) -> pd.Series:
    rows = options[(options["class_name"] == category) & (options["model"] == model)
                   & (options["strategy"] == strategy) & (options["budget_tokens"] == budget)
                   & (options["votes"] == votes)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_paper_scenario_prices_table1_per_category(paper_options):
    table = euromlsys25_table1()
    for category, rows in table.groupby("category_id"):
        ratio = rows.set_index(["model", "strategy"])["energy_ratio"]
        base = _energy(paper_options, category, "llama-3.2-1b", "zero_shot")
        reading_j = float(rows.iloc[0]["energy_j_per_category"]) / ASSUMED_ITEMS_PER_CATEGORY
        assert base["energy_j"] == pytest.approx(reading_j, rel=1e-9)
        assert 40 < base["energy_j"] < 50  # about 45 J per 1B query (78,556 J / 1,755)
        for model, strategy, budget, votes in (("llama-3.1-8b", "zero_shot", 0, 1),
                                               ("llama-3.2-1b", "mv", 0, 16), ("llama-3.2-1b", "cot", 512, 1)):
            option = _energy(paper_options, category, model, strategy, budget, votes)
            printed = float(ratio[("Llama-3.1-8B" if model.endswith("8b") else "Llama-3.2-1B", strategy)])
            assert option["energy_j"] / base["energy_j"] == pytest.approx(printed, rel=0.02)
            assert option["energy_basis"] == BASIS_PUBLISHED


def test_budgets_table1_does_not_print_are_interpolated_and_labelled(paper_options):
    cot = [_energy(paper_options, "math", "llama-3.2-1b", "cot", b) for b in (64, 128, 256, 512)]
    assert [c["energy_j"] for c in cot] == sorted(c["energy_j"] for c in cot)
    assert all("interpolated" in c["energy_basis"] for c in cot[:3])
    zero = _energy(paper_options, "math", "llama-3.2-1b", "zero_shot")["energy_j"]
    mv3, mv16 = (_energy(paper_options, "math", "llama-3.2-1b", "mv", 0, k)["energy_j"] for k in (3, 16))
    # linear in the votes through both published points (a shared prefill)
    assert mv3 == pytest.approx(zero + (mv16 - zero) * 2 / 15, rel=1e-9)


def test_paper_plan_sends_reasoning_categories_to_8b_not_1b_cot(tmp_path):
    from tpf.run import run_scenario

    run_scenario(compose(["report=minimal"]), "plan", "paper_l40s", tmp_path)
    plan = pd.read_csv(tmp_path / "plan.csv")
    options = pd.read_csv(tmp_path / "options.csv")
    assert {"energy_j_per_query", "gpu_s_per_query", "n_out_tokens_expected", "energy_source"} <= set(options)
    queries = plan.groupby(["class_name", "model", "strategy"])["queries"].sum()
    # computer_science is no longer all on the 8B: with whole replicas per model and hour the
    # plan (also at a 1e-4 MIP gap) moves part of it to 1B zero-shot / 3 votes; never to 1B CoT
    for category in ("math", "engineering"):
        mine = queries[category]
        assert mine.get(("llama-3.1-8b", "zero_shot"), 0.0) == pytest.approx(mine.sum())
    assert "cot" not in set(plan["strategy"])


def test_roofline_cards_remain_a_choice():
    inputs = build_inputs(compose(["cards=roofline"]))
    assert {card_source_label(c) for c in inputs.cards.energy.values()} == {"roofline estimate"}
    default = build_inputs(compose([]))
    assert {card.source for card in default.cards.energy.values()} == {"published"}


def test_shipped_published_cards_match_their_generator():
    for path in sorted(PUBLISHED_CARDS_DIR.glob("*.yaml")):
        shipped = load_card(path)
        model = {"llama-3.2-1b": "Llama-3.2-1B", "llama-3.1-8b": "Llama-3.1-8B"}[shipped.model]
        assert_same_card(shipped.to_dict(), load_card_roundtrip(published_card(model)))


def assert_same_card(shipped, generated, where="card"):
    """Equal, numbers to 1e-12 relative (the generator's floats may differ in the last digit
    between BLAS builds; anything larger is a real change of the shipped card)."""
    if isinstance(shipped, dict):
        assert sorted(shipped) == sorted(generated), where
        for key in shipped:
            assert_same_card(shipped[key], generated[key], f"{where}.{key}")
    elif isinstance(shipped, list):
        assert len(shipped) == len(generated), where
        for index, (left, right) in enumerate(zip(shipped, generated, strict=True)):
            assert_same_card(left, right, f"{where}[{index}]")
    elif isinstance(shipped, float) and not isinstance(generated, bool):
        assert generated == pytest.approx(shipped, rel=1e-12, abs=0.0), where
    else:
        assert shipped == generated, where


def load_card_roundtrip(card):
    from tpf.cards import EnergyCard

    return EnergyCard.from_dict(card.to_dict()).to_dict()


def test_anchor_mapping_meets_both_points_and_refuses_bad_anchors():
    points = [(2.0, 40.0), (10.0, 100.0)]
    assert anchored_value(2.0, points) == pytest.approx(40.0)
    assert anchored_value(10.0, points) == pytest.approx(100.0)
    assert anchored_value(6.0, points) == pytest.approx(70.0)
    assert anchored_value(4.0, points[:1]) == pytest.approx(80.0)
    anchors = [EnergyAnchor("math", "zero_shot", 40.0), EnergyAnchor("math", "cot", 100.0, 512)]
    assert pick_anchors(anchors, "math", "cot", 64, 1) == tuple(anchors)
    assert pick_anchors(anchors, "law", "cot", 64, 1) == ()
    with pytest.raises(CardError, match="energy_j"):
        EnergyAnchor("math", "zero_shot", -1.0)
    with pytest.raises(CardError, match="budget_tokens"):
        EnergyAnchor("math", "cot", 10.0, 0)
