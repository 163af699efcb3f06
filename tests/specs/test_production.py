"""Token production function: both ceilings by hand."""

from __future__ import annotations

import dataclasses

import pytest

from tpf.errors import CardError, ConfigError
from tpf.fit.roofline import roofline_card
from tpf.production import production_ceiling, token_production_rate
from tpf.specs import model_architecture


def test_rate_by_hand_compute_binds():
    # K_eff/c_tok = 1e15/1e10 = 1e5; P_IT/e_tok = 1e4/0.05 = 2e5
    rate, compute, energy, binding = token_production_rate(1e15, 1e10, 1e4, 0.05, 0.5)
    assert (compute, energy, binding) == (1e5, 2e5, "compute")
    assert rate == pytest.approx(5e4)


def test_rate_by_hand_energy_binds():
    rate, compute, energy, binding = token_production_rate(1e15, 1e10, 1e4, 0.2, 0.5)
    assert (energy, binding) == (5e4, "energy")
    assert rate == pytest.approx(2.5e4)


def test_energy_binds_under_a_small_facility_cap():
    result = production_ceiling("llama-3.1-8b", "l40s", 8, 1_300.0, 1.3, 0.6, 2048, 16)
    assert result.it_power_w == pytest.approx(1_000.0)
    assert result.binding == "energy"
    assert result.tokens_per_s == pytest.approx(1_000.0 / result.energy_per_token_j * 0.6)
    assert result.flops_per_token == model_architecture("llama-3.1-8b").flops_per_token(2048)
    assert result.is_estimate


def test_compute_binds_under_a_large_facility_cap():
    result = production_ceiling("llama-3.1-8b", "l40s", 8, 1e6, 1.2, 0.5, 2048, 16)
    assert result.binding == "compute"
    assert result.tokens_per_s == pytest.approx(result.compute_ceiling_tokens_per_s * 0.5)
    # memory-bound decode: the effective compute stays below the peak
    assert result.effective_flops_per_s < 0.5 * result.peak_flops_per_s
    assert result.compute_ceiling_tokens_per_s == pytest.approx(8 * 16 / result.decode_step_s)


def test_card_and_roofline_agree_for_a_roofline_card():
    card = roofline_card("llama-3.2-1b", "l40s")
    with_card = production_ceiling("llama-3.2-1b", "l40s", 4, 5e3, 1.3, 0.6, 1024, 8, card=card)
    without = production_ceiling("llama-3.2-1b", "l40s", 4, 5e3, 1.3, 0.6, 1024, 8)
    assert with_card.energy_per_token_j == pytest.approx(without.energy_per_token_j, rel=0.15)
    assert with_card.energy_per_token_source.startswith("card")
    with pytest.raises(CardError, match="the card is for 'llama-3.2-1b'"):
        production_ceiling("llama-3.1-8b", "l40s", 4, 5e3, 1.3, 0.6, 1024, 8, card=card)
    outside = production_ceiling("llama-3.2-1b", "l40s", 4, 5e3, 1.3, 0.6, 1024, 8,
                                 card=dataclasses.replace(card, max_batch_size=1))
    assert outside.in_card_range  # range, not max batch, decides coverage


def test_bad_inputs_are_all_reported():
    with pytest.raises(ConfigError) as info:
        production_ceiling("llama-3.1-8b", "l40s", 0, -1.0, 0.9, 1.5, 0, 0)
    text = str(info.value)
    for name in ("gpus", "facility_power_w", "pue", "utilization", "context_tokens", "batch_size"):
        assert f"ceiling.{name}" in text
