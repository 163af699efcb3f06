"""Operating curves over batch: fit, held-out error, validation, roofline and transfer estimates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tpf.cards import EnergyCard, load_card, save_card
from tpf.errors import CardError, DataError, FitError
from tpf.fit.importers import import_mlenergy_v1
from tpf.fit.roofline import roofline_assumptions, roofline_card
from tpf.fit.transfer import transfer_card
from tpf.operating import OperatingCurve, fit_operating_curve

BATCH = np.array([8.0, 16.0, 32.0, 64.0, 128.0])


def exact_levels():
    """Power 150 + 20 ln B (W) and step time 0.02 + 0.0001 B (s): the fitted laws, exactly."""
    power = 150.0 + 20.0 * np.log(BATCH)
    throughput = BATCH / (0.02 + 0.0001 * BATCH)
    return power, throughput


def test_fit_recovers_exact_laws_and_leave_one_batch_out_is_zero():
    power, throughput = exact_levels()
    curve = fit_operating_curve(BATCH, power, throughput, 200.0, engine="vllm", tdp_w=400, idle_power_w=60)
    assert curve.heldout["j_per_token_mape"] < 1e-9
    point = curve.at(32.0)
    assert point.power_w == pytest.approx(150 + 20 * np.log(32))
    assert point.tpot_s == pytest.approx(0.02 + 0.0032)
    assert point.j_per_token == pytest.approx(point.power_w / point.throughput_tokens_per_s)
    assert point.j_per_request == pytest.approx(200 * point.j_per_token)


def test_leave_one_batch_out_sees_a_level_off_the_law():
    power, throughput = exact_levels()
    throughput = throughput * np.array([1, 1, 1.2, 1, 1])
    curve = fit_operating_curve(BATCH, power, throughput, 200.0, engine="vllm", tdp_w=400, idle_power_w=60)
    assert curve.heldout["j_per_token_max_ape"] > 0.1


def test_bad_curves_are_refused_naming_the_field():
    good = dict(engine="vllm", batch_size=(8.0, 16.0, 32.0), power_w=(200.0, 250.0, 300.0),
                throughput_tokens_per_s=(500.0, 900.0, 1500.0), n_out_tokens=100.0, tdp_w=400.0, idle_power_w=60.0)
    OperatingCurve(**good)
    with pytest.raises(CardError, match=r"throughput_tokens_per_s\[2\]: throughput falls with batch"):
        OperatingCurve(**{**good, "throughput_tokens_per_s": (500.0, 900.0, 800.0)})
    with pytest.raises(CardError, match=r"power_w\[1\]: must lie between idle_power_w=60 W and tdp_w=400 W"):
        OperatingCurve(**{**good, "power_w": (200.0, 450.0, 300.0)})
    with pytest.raises(CardError, match="batch_size: levels must be >= 1 and strictly ascending"):
        OperatingCurve(**{**good, "batch_size": (8.0, 4.0, 32.0)})
    with pytest.raises(CardError, match="engine"):
        OperatingCurve(**{**good, "engine": "tgi"})
    curve = OperatingCurve(**good)
    with pytest.raises(CardError, match="batch_size: 64 lies outside the operating curve's levels 8..32"):
        curve.at(64.0)


def test_card_refuses_levels_outside_its_batch_range_and_round_trips(tmp_path):
    card = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm"))
    (curve,) = card.operating_curves
    too_wide = dataclasses.replace(curve, batch_size=(*curve.batch_size[:-1], 5000.0))
    with pytest.raises(CardError, match=r"operating_curves\[0\].batch_size: levels .* outside the card's batch range"):
        dataclasses.replace(card, operating_curves=[too_wide])
    loaded = load_card(save_card(card, tmp_path / "card.yaml"))
    assert isinstance(loaded, EnergyCard)
    assert loaded.operating_curve("vllm") == curve
    with pytest.raises(CardError, match="no operating curve for engine 'hf_generate'"):
        loaded.operating_curve("hf_generate")


def test_vllm_roofline_curve_is_an_estimate_whose_power_rises_with_batch():
    card = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm"))
    curve = card.operating_curve("vllm")
    assert curve.source == "estimate" and "ESTIMATE" in curve.data_rows
    assert np.all(np.diff(curve.power_w) > 0)
    per_token = [p.j_per_token for p in curve.points()]
    assert per_token == sorted(per_token, reverse=True)
    assert roofline_card("llama-3.1-8b", "h100_sxm").operating_curves == []  # preset none: no engine


def test_transfer_carries_the_curve_to_the_target_gpu_as_an_estimate():
    card = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm"))
    moved = transfer_card(card, "a100_40gb", roofline_assumptions("vllm"))
    curve = moved.operating_curve("vllm")
    assert curve.tdp_w == 400.0 and max(curve.power_w) <= 400.0
    assert "transferred from h100_sxm" in curve.data_rows and curve.source == "estimate"
    assert moved.anchors == []


def test_fit_needs_three_levels():
    with pytest.raises(FitError, match=">= 3 batch levels"):
        fit_operating_curve([1, 2], [100, 110], [10, 20], 10.0, engine="vllm", tdp_w=400, idle_power_w=60)


def test_mlenergy_v1_importer(tmp_path):
    pd.DataFrame({"model": ["a/b-7B"], "throughput": [30.0], "response_length": [250.0], "latency": [8.0],
                  "energy": [2000.0]}).to_csv(tmp_path / "A40_chat_benchmark.csv", index=False)
    table = import_mlenergy_v1([tmp_path], {"chat": 300.0})
    row = table.iloc[0]
    assert (row["hardware"], row["energy_j"], row["duration_s"], row["batch_size"]) == ("A40", 2000.0, 8.0, 1.0)
    with pytest.raises(DataError, match="no n_in_tokens given for task 'chat'"):
        import_mlenergy_v1([tmp_path], {"code": 300.0})
    (tmp_path / "A40_chat_benchmark.csv").write_text("model,energy\nx,1\n")
    with pytest.raises(DataError, match="throughput"):
        import_mlenergy_v1([tmp_path], 300.0)


@pytest.mark.shared_data
def test_mlenergy_v2_llama_curves_hold_out_within_ten_percent(shared_data):
    from tpf.fit.operating_fit import mlenergy_v2_curves

    path = shared_data / "energy" / "mlenergy_v2" / "mlenergy_v2_llm_configs.csv"
    curves = mlenergy_v2_curves(path, models=["llama-3.1-8b", "llama-3.1-70b"])
    assert {(c.model, c.hardware) for c in curves} >= {("llama-3.1-8b", "a100_40gb"), ("llama-3.1-8b", "h100_sxm")}
    for measured in curves:
        assert measured.curve.heldout["j_per_token_mape"] < 0.10
        assert "lines" in measured.curve.data_rows


def test_operating_points_price_queries_through_the_curve():
    from tpf.cost.query import TokenRule, operating_factors, operating_point_costs, price_query

    card = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm"))
    # the factors are the card's family fit against its own roofline points at the reference request:
    # within the fit's error (the vllm-0.11 card spans batch 1..528, duration worst level 5.0 % off)
    for level in card.operating_curve("vllm").batch_size:
        factor_e, factor_d = operating_factors(card, "vllm", level)
        assert factor_e == pytest.approx(1.0, abs=0.05) and factor_d == pytest.approx(1.0, abs=0.06)
    costs = operating_point_costs(card, "vllm", "law", "cot", 256, 1, 500.0, TokenRule(1.0))
    energy = [c.energy_j for c in costs]
    latency = [c.latency_s for c in costs]
    assert energy == sorted(energy, reverse=True) and latency == sorted(latency)
    assert all("vllm operating curve at batch" in c.energy_basis for c in costs)
    # a curve twice as power-hungry doubles the price at every batch level
    curve = card.operating_curve("vllm")
    hungry = dataclasses.replace(card, operating_curves=[dataclasses.replace(
        curve, power_w=tuple(min(2 * p, curve.tdp_w) for p in curve.power_w))])
    level = curve.batch_size[2]
    base = price_query(card, "law", "cot", 256, 1, 500.0, TokenRule(1.0), level, "vllm").energy_j
    doubled = price_query(hungry, "law", "cot", 256, 1, 500.0, TokenRule(1.0), level, "vllm").energy_j
    assert doubled / base == pytest.approx(hungry.operating_curve("vllm").at(level).power_w / curve.at(level).power_w)


def test_a_card_file_with_a_bad_curve_is_refused_naming_file_and_field(tmp_path):
    import yaml

    card = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm"))
    path = save_card(card, tmp_path / "card.yaml")
    data = yaml.safe_load(path.read_text())
    data["operating_curves"][0]["power_w"][3] = 900.0
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CardError, match=r"card.yaml: operating_curves\[0\]: operating_curve.power_w\[3\]: "
                                        r"must lie between idle_power_w=105 W and tdp_w=700 W"):
        load_card(path)
