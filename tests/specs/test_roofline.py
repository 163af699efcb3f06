"""Roofline points and cards: hand-checked phases, monotonicity, batching, shipped cards."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tpf.cards import load_card
from tpf.errors import CardError, ConfigError
from tpf.fit.roofline import (
    OVERHEAD_PRESETS,
    SHIPPED_CARDS,
    SHIPPED_PRESET,
    RooflineAssumptions,
    method_label,
    roofline_assumptions,
    roofline_card,
    roofline_point,
    shipped_card_name,
    shipped_cards_dir,
    write_shipped_cards,
)
from tpf.specs import HardwareSpec, hardware_spec, model_architecture

TOY_GPU = HardwareSpec(
    key="toy", name="Toy", form_factor="test", tdp_w=300.0, idle_power_w=100.0,
    idle_power_w_source="estimate", dense_tensor_flops_per_s=1e12, tensor_dtype="bf16",
    memory_bandwidth_bytes_per_s=1e9, memory_gb=100.0, sources=("test",),
)


def test_long_prefill_is_compute_bound_at_full_power_by_hand():
    arch = model_architecture("llama-3.2-1b")
    a = RooflineAssumptions(compute_efficiency=0.5, bandwidth_efficiency=1.0)
    point = roofline_point(arch, TOY_GPU, 4096, 1, 1, assumptions=a)
    t_compute = arch.prefill_flops(4096) / (1e12 * 0.5)
    t_memory = (arch.weight_bytes() + 4096 * arch.kv_cache_bytes_per_token()) / 1e9
    assert t_compute > t_memory
    assert point.duration_s == pytest.approx(t_compute)
    # compute load 1 -> power = tdp (the memory share is capped)
    assert point.energy_j == pytest.approx(300.0 * t_compute)
    assert point.decode_energy_j == 0.0


def test_decode_step_is_memory_bound_by_hand():
    arch = model_architecture("llama-3.2-1b")
    a = RooflineAssumptions(bandwidth_efficiency=0.5, memory_power_share=0.5)
    one = roofline_point(arch, TOY_GPU, 100, 1, 1, assumptions=a)
    two = roofline_point(arch, TOY_GPU, 100, 2, 1, assumptions=a)
    step_bytes = arch.weight_bytes() + 101 * arch.kv_cache_bytes_per_token()
    step_s = step_bytes / (1e9 * 0.5)
    step_flops = arch.flops_per_token(101)
    load = 0.5 + 1.0 * (step_flops / (1e12 * 0.5)) / step_s
    assert two.duration_s - one.duration_s == pytest.approx(step_s)
    assert two.energy_j - one.energy_j == pytest.approx((100 + 200 * load) * step_s)


def test_step_overhead_costs_idle_power():
    base = roofline_point("llama-3.2-1b", "l40s", 100, 10, 1)
    slow = roofline_point("llama-3.2-1b", "l40s", 100, 10, 1,
                          assumptions=RooflineAssumptions(step_overhead_s=0.01))
    assert slow.duration_s - base.duration_s == pytest.approx(10 * 0.01)
    assert slow.energy_j - base.energy_j == pytest.approx(10 * 0.01 * hardware_spec("l40s").idle_power_w)


def test_overhead_power_share_and_request_overhead_by_hand():
    hw = hardware_spec("l40s")
    base = roofline_point("llama-3.2-1b", hw, 100, 10, 4)
    a = RooflineAssumptions(step_overhead_s=0.02, request_overhead_s=0.3, overhead_power_share=0.25)
    slow = roofline_point("llama-3.2-1b", hw, 100, 10, 4, assumptions=a)
    power_w = hw.idle_power_w + 0.25 * (hw.tdp_w - hw.idle_power_w)
    # 10 passes (prefill + 9 steps) and one request overhead per window, shared by the batch of 4
    assert slow.duration_s - base.duration_s == pytest.approx(10 * 0.02 + 0.3)
    assert slow.energy_j - base.energy_j == pytest.approx(power_w * (10 * 0.02 + 0.3) / 4)
    assert slow.prefill_s - base.prefill_s == pytest.approx(0.02 + 0.3)


def test_without_kv_cache_each_step_is_a_prefill_of_the_sequence():
    arch = model_architecture("llama-3.2-1b")
    a = RooflineAssumptions(kv_cache=False, compute_efficiency=1.0, bandwidth_efficiency=1.0)
    one = roofline_point(arch, TOY_GPU, 100, 1, 1, assumptions=a)
    two = roofline_point(arch, TOY_GPU, 100, 2, 1, assumptions=a)
    step_s = max(arch.prefill_flops(101) / 1e12, arch.weight_bytes() / 1e9)
    assert two.duration_s - one.duration_s == pytest.approx(step_s)
    cached = roofline_point(arch, "l40s", 2000, 50, 1)
    uncached = roofline_point(arch, "l40s", 2000, 50, 1, assumptions=RooflineAssumptions(kv_cache=False))
    assert uncached.prefill_energy_j == pytest.approx(cached.prefill_energy_j)
    assert uncached.decode_energy_j > 5 * cached.decode_energy_j


def test_presets_and_method_labels():
    assert roofline_assumptions("none") == RooflineAssumptions()
    assert method_label(RooflineAssumptions()) == "roofline"
    hf = roofline_assumptions("hf_generate")
    assert hf.step_overhead_s == OVERHEAD_PRESETS["hf_generate"].step_overhead_s > 0
    assert method_label(hf) == "roofline+overhead (hf_generate, calibrated on Wilkins 2024 A100)"
    assert "custom" in method_label(RooflineAssumptions(step_overhead_s=0.001))
    assert method_label(RooflineAssumptions(kv_cache=False)) == "roofline (no KV cache)"
    assert roofline_assumptions("hf_generate", compute_efficiency=0.4).step_overhead_s == hf.step_overhead_s


def test_bad_preset_and_overrides_are_reported():
    with pytest.raises(ConfigError, match=r"overhead_preset: must be one of \['hf_generate', 'none', 'vllm', 'vllm-0.11', 'vllm-mlenergy-v2'\]"):
        roofline_assumptions("tgi")
    with pytest.raises(ConfigError, match="unknown assumption.*step_overhead_ms"):
        roofline_assumptions("none", step_overhead_ms=3)
    with pytest.raises(ConfigError) as info:
        RooflineAssumptions(overhead_power_share=2.0, request_overhead_s=-1.0, kv_cache="yes")  # type: ignore[arg-type]
    assert all(k in str(info.value) for k in ("overhead_power_share", "request_overhead_s", "kv_cache"))


def test_hf_generate_overhead_narrows_the_table1_gap():
    """EuroMLSys'25 Table 1 prints energy(8B)/energy(1B) of 1.36..1.65 at batch 1, one token."""
    def ratio(a: RooflineAssumptions) -> float:
        big = roofline_point("llama-3.1-8b", "l40s", 128, 1, 1, assumptions=a).energy_j
        return big / roofline_point("llama-3.2-1b", "l40s", 128, 1, 1, assumptions=a).energy_j

    pure, hf = ratio(roofline_assumptions("none")), ratio(roofline_assumptions("hf_generate"))
    assert pure > 6 and 1.65 < hf < pure - 1


@pytest.fixture(scope="module")
def card_8b():
    return roofline_card("llama-3.1-8b", "l40s")


def test_card_is_a_labelled_estimate(card_8b):
    assert card_8b.source == "estimate" and card_8b.method == "roofline"
    assert "ESTIMATE" in card_8b.notes
    assert card_8b.idle_power_w == hardware_spec("l40s").idle_power_w
    assert card_8b.fit_quality and all(q["mape"] < 0.1 for q in card_8b.fit_quality.values())


def test_card_energy_is_monotone_in_tokens(card_8b):
    n_in = np.geomspace(16, 4096, 25)
    n_out = np.geomspace(1, 2048, 25)
    for batch in (1, 8, 64):
        assert np.all(np.diff(card_8b.energy_j(n_in, 64, batch)) > 0)
        assert np.all(np.diff(card_8b.energy_j(512, n_out, batch)) > 0)
        assert np.all(np.diff(card_8b.duration_s(512, n_out, batch)) > 0)


def test_per_token_energy_falls_and_window_grows_with_batch(card_8b):
    batch = np.array([1, 2, 4, 8, 16, 32, 64])
    assert np.all(np.diff(card_8b.energy_per_token_j(512, 256, batch)) < 0)
    assert np.all(np.diff(card_8b.duration_s(512, 256, batch)) > 0)
    points = [roofline_point("llama-3.1-8b", "l40s", 512, 256, b).energy_j for b in batch]
    assert np.all(np.diff(points) < 0)


def test_card_tracks_the_roofline(card_8b):
    for n_in, n_out, batch in ((128, 1, 1), (512, 256, 1), (1024, 512, 16)):
        exact = roofline_point("llama-3.1-8b", "l40s", n_in, n_out, batch).energy_j
        assert float(card_8b.energy_j(n_in, n_out, batch)) == pytest.approx(exact, rel=0.15)


def test_max_batch_size_from_memory(card_8b):
    arch = model_architecture("llama-3.1-8b")
    budget = 0.9 * 48e9 - arch.weight_bytes()
    assert card_8b.max_batch_size == int(budget // (arch.kv_cache_bytes_per_token() * 2048))
    assert card_8b.valid_range.batch_size[1] == card_8b.max_batch_size


def test_model_that_does_not_fit_is_refused_with_the_gpu_count():
    with pytest.raises(CardError, match=r"do not fit in 1 x l40s .*gpus >= 4"):
        roofline_card("llama-3.1-70b", "l40s")
    card = roofline_card("llama-3.1-70b", "h100_sxm", gpus=2)
    assert card.gpus_per_replica == 2


def test_bad_assumptions_are_reported():
    with pytest.raises(ConfigError) as info:
        RooflineAssumptions(compute_efficiency=1.5, memory_power_share=-0.1)
    assert "compute_efficiency" in str(info.value) and "memory_power_share" in str(info.value)


def test_shipped_cards_are_reproducible(tmp_path):
    written = write_shipped_cards(tmp_path)
    assert len(written) == len(SHIPPED_CARDS)
    for model, hardware in SHIPPED_CARDS[:2]:
        name = shipped_card_name(model, hardware)
        shipped = yaml.safe_load((shipped_cards_dir() / name).read_text())
        fresh = yaml.safe_load((tmp_path / name).read_text())
        np.testing.assert_allclose(fresh["energy"]["coefficients"],
                                   shipped["energy"]["coefficients"], rtol=1e-6, atol=1e-15)
        assert fresh["data_sha256"] == shipped["data_sha256"]
        card = load_card(shipped_cards_dir() / name)
        assert card.source == "estimate" and card.model == model and card.hardware == hardware
        assert card.method == method_label(roofline_assumptions(SHIPPED_PRESET))
        assert card.method == "roofline+overhead (hf_generate, calibrated on Wilkins 2024 A100)"
        assert card.provenance["assumptions"]["step_overhead_s"] == OVERHEAD_PRESETS["hf_generate"].step_overhead_s
