"""``tpf card operating`` on a roofline card: measured levels beyond its batch range widen it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tpf.cards import EnergyCard, load_card
from tpf.cli import main as tpf_main
from tpf.cost.query import TokenRule, operating_point_costs
from tpf.fit.operating_roofline import batch_levels

MODEL, GPU = "meta-llama/Meta-Llama-3.1-8B-Instruct", "NVIDIA A100-SXM4-40GB"
P0_W, P1_W, T0_S, T1_S, N_OUT = 150.0, 35.0, 0.02, 0.0004, 480.0  # power p0 + p1 ln B, step t0 + t1 B


def _v2_table(path, levels):
    """An ML.ENERGY v2 table of one group whose rows follow the curve laws exactly."""
    batch = np.asarray(levels, float)
    power, tput = P0_W + P1_W * np.log(batch), batch / (T0_S + T1_S * batch)
    pd.DataFrame({
        "task": "chat", "config": [f"bs{int(b)}+tp1+pp1" for b in batch], "Model": MODEL, "GPU": GPU,
        "TP": 1, "PP": 1, "Energy/req (J)": power * N_OUT / tput, "Avg TPOT (s)": batch / tput,
        "Token tput (tok/s)": tput, "Avg Output Tokens": N_OUT, "Avg BS (reqs)": batch,
    }).to_csv(path, index=False)
    return power


def _roofline_then_operating(tmp_path, levels, capsys):
    table, card, out = tmp_path / "v2.csv", tmp_path / "card.yaml", tmp_path / "card2.yaml"
    power = _v2_table(table, levels)
    assert tpf_main(["card", "roofline", "--model", "llama-3.1-8b", "--hardware", "a100",
                     "--overhead-preset", "vllm-mlenergy-v2", "--out", str(card)]) == 0
    before = load_card(card)
    capsys.readouterr()
    assert tpf_main(["card", "operating", "--card", str(card), "--mlenergy-v2", str(table), "--out", str(out)]) == 0
    after = load_card(out)
    assert isinstance(before, EnergyCard) and isinstance(after, EnergyCard)
    return before, after, power, capsys.readouterr().out


def test_levels_beyond_a_roofline_cards_range_widen_it_and_say_so(tmp_path, capsys):
    levels = [32.0, 64.0, 128.0, 256.0, 319.2]
    before, after, power, printed = _roofline_then_operating(tmp_path, levels, capsys)
    assert before.valid_range.batch_size[1] < 319.2 and before.max_batch_size < 320
    assert after.valid_range.batch_size == (1.0, 319.2)
    assert after.max_batch_size == 320
    old = f"{before.valid_range.batch_size[0]:g}..{before.valid_range.batch_size[1]:g}"
    assert f"batch range widened from {old} to 1..319.2" in after.provenance["batch_range"]
    assert "widened" in after.notes and "note: batch range widened" in printed
    curve = after.operating_curve("vllm")
    # measured levels kept as fitted; below them, levels from batch 1 labelled extrapolated
    assert curve.source == "measured" and curve.batch_size == (1.0, 2.0, 4.0, 8.0, 16.0, *levels)
    assert curve.measured_batch_range == (32.0, 319.2)
    np.testing.assert_allclose(curve.power_w[5:], power, rtol=1e-9)
    assert all(curve.extrapolated(b) for b in (1.0, 16.0)) and not curve.extrapolated(32.0)
    assert curve.label(4.0).startswith("extrapolated below the measured batch 32..319.2")
    # power falls toward idle below the measured levels, never under it
    assert curve.idle_power_w <= curve.power_w[0] <= curve.power_w[4] <= curve.power_w[5]
    # the widened card prices every level, each inside its stated range
    costs = operating_point_costs(after, "vllm", "law", "cot", 256, 1, 500.0, TokenRule(1.0))
    assert len(costs) == len(curve.batch_size) and all(c.in_range and np.isfinite(c.energy_j) and c.energy_j > 0
                                                       for c in costs)
    assert "extrapolated below" in costs[0].energy_basis and "(measured)" in costs[-1].energy_basis


def test_levels_inside_the_range_leave_it_alone(tmp_path, capsys):
    before, after, _, printed = _roofline_then_operating(tmp_path, [2.0, 8.0, 32.0, 64.0], capsys)
    assert after.valid_range == before.valid_range and after.max_batch_size == before.max_batch_size
    assert "batch_range" not in after.provenance and "note:" not in printed
    curve = after.operating_curve("vllm")
    # extended from batch 1 to the card's max_batch_size (its KV-cache limit), the rest as measured
    above = tuple(b for b in batch_levels(after.max_batch_size) if b > 64.0)
    assert curve.batch_size == (1.0, 2.0, 8.0, 32.0, 64.0, *above) and above[-1] == after.max_batch_size
    assert curve.measured_batch_range == (2.0, 64.0) and str(after.max_batch_size) in curve.extrapolation


@pytest.mark.shared_data
@pytest.mark.parametrize(("hardware", "top"), [("a100", 319.2035), ("h100", 975.7425)])
def test_documented_command_runs_on_the_real_table(shared_data, tmp_path, hardware, top):
    table = shared_data / "energy" / "mlenergy_v2" / "mlenergy_v2_llm_configs.csv"
    card, out = tmp_path / "card.yaml", tmp_path / "card2.yaml"
    assert tpf_main(["card", "roofline", "--model", "llama-3.1-8b", "--hardware", hardware,
                     "--overhead-preset", "vllm-mlenergy-v2", "--out", str(card)]) == 0
    assert tpf_main(["card", "operating", "--card", str(card), "--mlenergy-v2", str(table), "--out", str(out)]) == 0
    after = load_card(out)
    assert isinstance(after, EnergyCard)
    assert after.operating_curve("vllm").batch_size[-1] == pytest.approx(top, abs=1e-3)
    assert after.valid_range.batch_size[1] == pytest.approx(top, abs=1e-3)
    assert after.max_batch_size == int(np.ceil(top))
