import numpy as np
import pytest

from tpf.cards import (
    AccuracyCard,
    AccuracyCurve,
    CurveFit,
    EnergyCard,
    ValidRange,
    load_card,
    save_card,
)
from tpf.errors import CardError


def _card() -> EnergyCard:
    return EnergyCard(
        model="m",
        hardware="h",
        energy=CurveFit("bilinear", (1.0, 2.0, 0.01)),
        duration=CurveFit("bilinear", (0.001, 0.02, 0.0), target="duration_s"),
        valid_range=ValidRange((1, 100), (1, 100)),
        idle_power_w=30.0,
    )


def test_energy_card_predicts_bilinear_by_hand():
    card = _card()
    # 10*1 + 5*2 + 10*5*0.01 = 20.5
    assert card.energy_j(10, 5) == pytest.approx(20.5)
    assert card.energy_per_token_j(10, 5) == pytest.approx(20.5 / 15)
    np.testing.assert_array_equal(card.in_range([10, 500], [5, 5]), [True, False])


def test_energy_card_round_trip(tmp_path):
    card = _card()
    path = save_card(card, tmp_path / "card.yaml")
    assert load_card(path) == card


def test_accuracy_card_round_trip_and_monotone(tmp_path):
    curve = AccuracyCurve(
        "m", "math", "cot", "saturating_budget", {"a_inf": 0.5, "a_0": 0.1, "tau_tokens": 100.0}, n_items=200
    )
    card = AccuracyCard([curve])
    loaded = load_card(save_card(card, tmp_path / "acc.yaml"))
    assert isinstance(loaded, AccuracyCard)
    values = loaded.curve("m", "math", "cot").accuracy(np.arange(0, 1000, 50))
    assert np.all(np.diff(values) >= 0)
    assert loaded.accuracy("m", "math", "cot", budget_tokens=0) == pytest.approx(0.1)
    with pytest.raises(CardError, match="no accuracy curve"):
        loaded.curve("m", "law", "cot")


def test_load_card_rejects_non_card(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("just: text\n")
    with pytest.raises(CardError, match="not a tpf card"):
        load_card(path)


def test_fitted_accuracy_curves_carry_their_points(tmp_path):
    import pandas as pd

    from tpf.fit.accuracy import fit_accuracy

    table = pd.DataFrame({
        "model": ["m"] * 5, "category": ["math"] * 5,
        "strategy": ["zero_shot", "cot", "cot", "cot", "cot"],
        "budget_tokens": [0, 64, 128, 256, 512], "votes": [1] * 5,
        "n_items": [100] * 5, "n_correct": [20, 30, 40, 45, 47],
    })
    card = fit_accuracy(table)
    loaded = load_card(save_card(card, tmp_path / "acc.yaml"))
    cot = loaded.curve("m", "math", "cot")
    assert [p[0] for p in cot.points] == [64.0, 128.0, 256.0, 512.0]
    assert [p[1] for p in cot.points] == pytest.approx([0.30, 0.40, 0.45, 0.47])
    assert loaded.curve("m", "math", "zero_shot").points == [[0.0, 0.2, 100.0]]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    from tpf.atomic import replacing, write_text_atomic

    path = write_text_atomic(tmp_path / "out.txt", "old\n")
    with pytest.raises(RuntimeError), replacing(path) as partial:
        partial.write_text("half")
        raise RuntimeError("draw failed")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
