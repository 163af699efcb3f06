"""``tpf predict energy`` prices a card with an operating curve as the planner does; bad curves refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import yaml

from tpf.cards import EnergyCard, load_card, save_card
from tpf.cli import main as tpf_main
from tpf.cost.query import TokenRule, price_query
from tpf.errors import CardError
from tpf.fit.roofline import roofline_assumptions, roofline_card

MODEL, GPU, N_OUT = "meta-llama/Meta-Llama-3.1-8B-Instruct", "NVIDIA A100-SXM4-40GB", 480.0


def _v2_table(path, levels):
    """An ML.ENERGY v2 table of one group: power 150 + 35 ln B W, step time 0.02 + 0.0004 B s."""
    batch = np.asarray(levels, float)
    power, tput = 150.0 + 35.0 * np.log(batch), batch / (0.02 + 0.0004 * batch)
    pd.DataFrame({
        "task": "chat", "config": [f"bs{int(b)}+tp1+pp1" for b in batch], "Model": MODEL, "GPU": GPU,
        "TP": 1, "PP": 1, "Energy/req (J)": power * N_OUT / tput, "Avg TPOT (s)": batch / tput,
        "Token tput (tok/s)": tput, "Avg Output Tokens": N_OUT, "Avg BS (reqs)": batch,
    }).to_csv(path, index=False)

POINTS = "n_in_tokens,n_out_tokens,batch_size\n256,300,4\n256,300,64\n"


def _measured_card(tmp_path):
    """A roofline card with a measured curve at batch 32..256 (levels below are extrapolated)."""
    table, card, out = tmp_path / "v2.csv", tmp_path / "card.yaml", tmp_path / "measured.yaml"
    _v2_table(table, [32.0, 64.0, 128.0, 256.0])
    assert tpf_main(["card", "roofline", "--model", "llama-3.1-8b", "--hardware", "a100",
                     "--overhead-preset", "vllm-mlenergy-v2", "--out", str(card)]) == 0
    assert tpf_main(["card", "operating", "--card", str(card), "--mlenergy-v2", str(table), "--out", str(out)]) == 0
    return out


def _predict(tmp_path, card_path, name):
    points, out = tmp_path / "points.csv", tmp_path / f"{name}.csv"
    points.write_text(POINTS)
    assert tpf_main(["predict", "energy", "--card", str(card_path), "--data", str(points), "--out", str(out)]) == 0
    return pd.read_csv(out)


def test_card_with_a_curve_predicts_through_it_and_labels_a_batch_below_the_measured_range(tmp_path):
    measured = _measured_card(tmp_path)
    card = load_card(measured)
    assert isinstance(card, EnergyCard)
    bare = save_card(dataclasses.replace(card, operating_curves=[]), tmp_path / "bare.yaml")
    with_curve, without = _predict(tmp_path, measured, "with"), _predict(tmp_path, bare, "without")
    assert not np.allclose(with_curve["energy_j_pred"], without["energy_j_pred"], rtol=1e-3)
    # batch 4 lies below the measured 32..256: priced, not refused, and labelled
    assert with_curve["batch_label"][0].startswith("extrapolated below the measured batch 32..256")
    assert with_curve["batch_label"][1] == "measured" and "batch_label" not in without.columns
    # the same numbers as the planner's pricing function
    for row in with_curve.to_dict("records"):
        cost = price_query(card, "", "zero_shot", 0, 1, 256.0, TokenRule(300.0), row["batch_size"], "vllm")
        assert row["energy_j_pred"] == pytest.approx(cost.energy_j, rel=1e-12)
        assert row["duration_s_pred"] == pytest.approx(cost.latency_s, rel=1e-12)


def test_prediction_follows_the_curve_not_only_the_card(tmp_path):
    """Doubling the curve's power (the card's curves unchanged) doubles the predicted energy."""
    measured = _measured_card(tmp_path)
    data = yaml.safe_load(measured.read_text())
    curve = data["operating_curves"][0]
    curve["power_w"] = [min(2 * p, curve["tdp_w"]) for p in curve["power_w"]]
    doubled = tmp_path / "doubled.yaml"
    doubled.write_text(yaml.safe_dump(data))
    base, moved = _predict(tmp_path, measured, "base"), _predict(tmp_path, doubled, "moved")
    ratio = moved["energy_j_pred"] / base["energy_j_pred"]
    before, after = load_card(measured), load_card(doubled)
    expected = [after.operating_curve("vllm").at(b).power_w / before.operating_curve("vllm").at(b).power_w
                for b in base["batch_size"]]
    np.testing.assert_allclose(ratio, expected, rtol=1e-9)
    assert np.all(ratio > 1.2)


def test_a_batch_above_the_curves_cap_is_priced_without_it_and_says_so(tmp_path):
    card = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm"))
    top = card.max_batch_size + 50
    with pytest.raises(CardError, match=rf"the curve's cap is batch {card.max_batch_size}"):
        card.operating_curve("vllm").at(top)
    path, points = save_card(card, tmp_path / "c.yaml"), tmp_path / "p.csv"
    points.write_text(f"n_in_tokens,n_out_tokens,batch_size\n256,300,{top}\n")
    assert tpf_main(["predict", "energy", "--card", str(path), "--data", str(points),
                     "--out", str(tmp_path / "o.csv")]) == 0
    row = pd.read_csv(tmp_path / "o.csv").iloc[0]
    assert row["batch_label"].startswith(f"above the operating curve's levels 1..{card.max_batch_size}")
    assert row["energy_j_pred"] == pytest.approx(float(card.energy_j(256, 300, top)), rel=1e-12)
    assert bool(row["out_of_range"])


def test_a_table_implying_50x_tdp_is_refused_not_clipped(tmp_path, capsys):
    table, card, out = tmp_path / "v2.csv", tmp_path / "card.yaml", tmp_path / "out.yaml"
    _v2_table(table, [8.0, 16.0, 32.0])
    frame = pd.read_csv(table)
    frame["Energy/req (J)"] *= 50 * 400 / 250  # about 50 x the A100's 400 W
    frame.to_csv(table, index=False)
    assert tpf_main(["card", "roofline", "--model", "llama-3.1-8b", "--hardware", "a100",
                     "--overhead-preset", "vllm-mlenergy-v2", "--out", str(card)]) == 0
    capsys.readouterr()
    assert tpf_main(["card", "operating", "--card", str(card), "--mlenergy-v2", str(table), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "above the NVIDIA A100-SXM4-40GB TDP of 400 W: line 2:" in err and "line 4:" in err
    assert not out.exists()
    assert tpf_main(["card", "operating", "--card", str(card), "--mlenergy-v2", str(table), "--out", str(out),
                     "--clip-power-to-tdp"]) == 0
    clipped = load_card(out)
    assert isinstance(clipped, EnergyCard) and max(clipped.operating_curve("vllm").power_w) <= 400.0


def test_rows_of_another_engine_version_are_refused_and_v3_rows_attach(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fit_energy"))
    from test_mlenergy_v3 import _v3_table

    v2, card = tmp_path / "v2.csv", tmp_path / "card.yaml"
    _v2_table(v2, [8.0, 16.0, 32.0])
    assert tpf_main(["card", "roofline", "--model", "llama-3.1-8b", "--hardware", "a100",
                     "--overhead-preset", "vllm", "--out", str(card)]) == 0
    capsys.readouterr()
    assert tpf_main(["card", "operating", "--card", str(card), "--mlenergy-v2", str(v2),
                     "--out", str(tmp_path / "x.yaml")]) == 1
    assert "engine_version: the card describes vllm 0.11 but the mlenergy-v2 rows" in capsys.readouterr().err
    # v3 rows (vLLM 0.11) on a vllm-0.11 card of the same model and GPU
    qwen, out = tmp_path / "qwen.yaml", tmp_path / "qwen_op.yaml"
    assert tpf_main(["card", "roofline", "--model", "qwen3-8b", "--hardware", "h100", "--overhead-preset", "vllm",
                     "--out", str(qwen)]) == 0
    assert tpf_main(["card", "operating", "--card", str(qwen), "--mlenergy-v3", str(_v3_table(tmp_path / "v3.csv")),
                     "--out", str(out)]) == 0
    attached = load_card(out)
    assert isinstance(attached, EnergyCard) and attached.engine_version == "0.11"
    curve = attached.operating_curve("vllm")
    assert curve.measured_batch_range == (8.0, 32.0) and curve.batch_size[0] == 1.0
    assert "v3.csv lines 2, 3, 4" in curve.data_rows
