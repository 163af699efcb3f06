"""Energy cards name their serving engine and version; presets per version; B200 cards."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from tpf.cards import EnergyCard, load_card, save_card
from tpf.cli import main as tpf_main
from tpf.errors import CardError
from tpf.fit.presets import OVERHEAD_PRESETS, PRESET_ALIASES
from tpf.fit.roofline import method_label, roofline_assumptions, roofline_card
from tpf.specs import hardware_spec


def test_vllm_is_the_newest_fitted_version_and_older_ones_stay_selectable():
    assert PRESET_ALIASES["vllm"] == "vllm-0.11"
    assert roofline_assumptions("vllm") == roofline_assumptions("vllm-0.11")
    assert roofline_assumptions("vllm") != roofline_assumptions("vllm-mlenergy-v2")
    card = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm"))
    old = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm-mlenergy-v2"))
    assert (card.engine, card.engine_version) == ("vllm", "0.11")
    assert (old.engine, old.engine_version) == ("vllm", "mlenergy-v2")
    assert "vllm-0.11" in method_label(roofline_assumptions("vllm"))
    # the card states the rows its preset rests on and the preset's leave-one-model-out error
    assert card.provenance["overhead_preset_rows"] == OVERHEAD_PRESETS["vllm-0.11"].calibrated_on
    assert "leave-one-model-out" in card.provenance["overhead_preset_heldout"]
    assert card.energy_j(256, 600, 8) != old.energy_j(256, 600, 8)


def test_engine_fields_round_trip_and_hf_generate_has_no_version(tmp_path):
    card = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm"))
    loaded = load_card(save_card(card, tmp_path / "c.yaml"))
    assert isinstance(loaded, EnergyCard) and (loaded.engine, loaded.engine_version) == ("vllm", "0.11")
    hf = roofline_card("llama-3.2-1b", "l40s", 1, roofline_assumptions("hf_generate"))
    assert (hf.engine, hf.engine_version) == ("hf_generate", "")
    assert roofline_card("llama-3.2-1b", "l40s").engine == ""  # pure roofline: no engine stated


@pytest.mark.parametrize(("engine", "version", "message"), [
    ("vllm", "0.99", r"engine_version: unknown vllm version '0.99'; known \(fitted presets\): '0.11'"),
    ("vllm", 0.11, r"engine, engine_version: must be texts \(quote a version"),
    ("tgi", "", r"engine: must be one of"),
    ("", "0.11", r"engine_version: '0.11' given without an engine"),
])
def test_unknown_engine_or_version_is_refused_on_load_naming_the_field(tmp_path, engine, version, message):
    card = roofline_card("llama-3.1-8b", "h100_sxm", 1, roofline_assumptions("vllm"))
    path = save_card(card, tmp_path / "c.yaml")
    data = yaml.safe_load(path.read_text())
    data["engine"], data["engine_version"] = engine, version
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CardError, match=message):
        load_card(path)
    with pytest.raises(CardError, match=message):
        dataclasses.replace(card, engine=engine, engine_version=version)


def test_b200_is_in_the_catalog_with_sources_and_labelled_estimates():
    b200 = hardware_spec("NVIDIA B200")
    assert (b200.tdp_w, b200.memory_gb) == (1000.0, 180.0)
    assert b200.dense_tensor_flops_per_s == pytest.approx(36e15 / 8 / 2)  # HGX B200 sparse total, 8 GPUs
    assert b200.memory_bandwidth_bytes_per_s == pytest.approx(64e12 / 8)
    assert any("HGX" in s for s in b200.sources) and b200.embodied_source == "estimate"
    assert b200.is_idle_power_estimate


@pytest.mark.parametrize(("model", "gpus"), [("llama-3.1-8b", 1), ("llama-3.1-70b", 2)])
def test_b200_cards_are_written_by_the_cli(tmp_path, model, gpus, capsys):
    out = tmp_path / "card.yaml"
    assert tpf_main(["card", "roofline", "--model", model, "--hardware", "b200", "--gpus", str(gpus),
                     "--overhead-preset", "vllm", "--out", str(out)]) == 0
    card = load_card(out)
    assert isinstance(card, EnergyCard) and card.hardware == "b200" and card.engine_version == "0.11"
    assert card.operating_curve("vllm").batch_size[0] == 1.0
