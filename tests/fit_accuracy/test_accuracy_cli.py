"""``tpf fit accuracy`` / ``tpf predict accuracy``: round trip and bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tpf.cards import AccuracyCard, load_card
from tpf.cli import main as tpf_main
from tpf.fit.accuracy import saturating

BUDGETS = [0, 64, 128, 256, 512]


def _write_table(path: Path) -> Path:
    rows = [{"model": "m", "category": "math", "strategy": "cot", "budget_tokens": b, "votes": 1,
             "n_items": 1000, "n_correct": round(float(saturating(np.array(b), 0.2, 0.6, 100.0)) * 1000)}
            for b in BUDGETS]
    rows.append({"model": "m", "category": "math", "strategy": "zero_shot", "budget_tokens": 0,
                 "votes": 1, "n_items": 1000, "n_correct": 250})
    rows.append({"model": "m", "category": "math", "strategy": "mv", "budget_tokens": 0,
                 "votes": 16, "n_items": 1000, "n_correct": 310})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_fit_then_predict_round_trip(tmp_path, capsys):
    data = _write_table(tmp_path / "acc.csv")
    card_path = tmp_path / "card.yaml"
    assert tpf_main(["fit", "accuracy", "--data", str(data), "--out", str(card_path)]) == 0
    card = load_card(card_path)
    assert isinstance(card, AccuracyCard) and len(card.curves) == 3
    assert len(card.data_sha256) == 64
    points = pd.DataFrame({"model": "m", "category": "math",
                           "strategy": ["cot", "cot", "zero_shot", "mv"],
                           "budget_tokens": [100, 2048, 0, 0], "votes": [1, 1, 1, 8]})
    points.to_csv(tmp_path / "points.csv", index=False)
    out = tmp_path / "pred.csv"
    assert tpf_main(["predict", "accuracy", "--card", str(card_path), "--data",
                     str(tmp_path / "points.csv"), "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    expected = [card.accuracy("m", "math", "cot", budget_tokens=100),
                card.accuracy("m", "math", "cot", budget_tokens=2048), 0.25,
                card.accuracy("m", "math", "mv", votes=8)]
    assert pred["accuracy_pred"].to_numpy() == pytest.approx(expected)
    assert (pred["accuracy_lo"] < pred["accuracy_pred"]).all()
    assert (pred["accuracy_pred"] < pred["accuracy_hi"]).all()
    assert list(pred["in_range"]) == [True, False, True, True]
    assert list(pred["source"]) == ["measured", "measured", "measured", "estimate"]
    assert "outside" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.drop(columns="n_correct"), ["missing", "n_correct"]),
        (lambda t: t.assign(strategy=t["strategy"].replace("mv", "beam")), ["row 7", "column strategy", "beam"]),
        (lambda t: t.assign(n_correct=t["n_correct"].where(t.index != 2, 5000)), ["row 3", "column n_correct", "n_items"]),
        (lambda t: t.assign(n_items=t["n_items"].where(t.index != 0, -4)), ["row 1", "column n_items", ">= 1"]),
        (lambda t: t.assign(n_correct=t["n_correct"].where(t.index != 1, -1)), ["row 2", "column n_correct", ">= 0"]),
    ],
    ids=["missing-column", "unknown-strategy", "correct-over-items", "negative-items", "negative-correct"],
)
def test_bad_input_names_file_row_column_and_keeps_the_old_card(tmp_path, capsys, edit, expected):
    data = _write_table(tmp_path / "acc.csv")
    card_path = tmp_path / "card.yaml"
    assert tpf_main(["fit", "accuracy", "--data", str(data), "--out", str(card_path)]) == 0
    before = card_path.read_bytes()
    edit(pd.read_csv(data)).to_csv(tmp_path / "bad.csv", index=False)
    capsys.readouterr()
    code = tpf_main(["fit", "accuracy", "--data", str(tmp_path / "bad.csv"), "--out", str(card_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "bad.csv" in err
    for fragment in expected:
        assert fragment in err
    assert card_path.read_bytes() == before


def test_predict_refuses_curves_the_card_lacks(tmp_path, capsys):
    data = _write_table(tmp_path / "acc.csv")
    card_path = tmp_path / "card.yaml"
    tpf_main(["fit", "accuracy", "--data", str(data), "--out", str(card_path)])
    pd.DataFrame({"model": ["m", "big"], "category": "math", "strategy": ["zero_shot", "cot"],
                  "budget_tokens": [0, 256], "votes": 1}).to_csv(tmp_path / "p.csv", index=False)
    code = tpf_main(["predict", "accuracy", "--card", str(card_path), "--data", str(tmp_path / "p.csv"),
                     "--out", str(tmp_path / "pred.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "row 2" in err and "'big'" in err
    assert not (tmp_path / "pred.csv").exists()


def test_fit_refuses_a_non_positive_prior(tmp_path, capsys):
    data = _write_table(tmp_path / "acc.csv")
    code = tpf_main(["fit", "accuracy", "--data", str(data), "--out", str(tmp_path / "c.yaml"),
                     "--tau-tokens", "0"])
    assert code == 1 and "--tau-tokens" in capsys.readouterr().err
    assert not (tmp_path / "c.yaml").exists()


def test_fit_accuracy_defaults_to_auto_and_points_energy_tables_to_fit_energy(tmp_path, capsys):
    card_path = tmp_path / "card.yaml"
    assert tpf_main(["fit", "accuracy", "--data", str(_write_table(tmp_path / "acc.csv")),
                     "--out", str(card_path)]) == 0
    card = load_card(card_path)
    assert isinstance(card, AccuracyCard)
    assert "auto_heldout_mae" in card.curve("m", "math", "cot").params
    energy = tmp_path / "m.csv"
    energy.write_text("model,hardware,n_in_tokens,n_out_tokens,batch_size,energy_j,duration_s\nm,h,1,1,1,1,1\n")
    assert tpf_main(["fit", "accuracy", "--data", str(energy), "--out", str(card_path)]) == 1
    assert f"hint: {energy} is a measurement table; fit it with tpf fit energy" in capsys.readouterr().err
