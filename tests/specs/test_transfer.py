"""Transfer of a card between GPUs by roofline ratios."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tpf.errors import CardError, ConfigError
from tpf.fit.roofline import roofline_card, roofline_point
from tpf.fit.transfer import transfer_card, transfer_values


@pytest.fixture(scope="module")
def a100_card():
    return roofline_card("llama-3.1-8b", "a100_40gb")


def test_same_hardware_gives_the_same_card(a100_card):
    same = transfer_card(a100_card, "NVIDIA A100-SXM4-40GB")
    assert same.hardware == "a100_40gb" and same.source == "estimate"
    assert same.method == "transfer from a100_40gb (split)"
    n_in, n_out, batch = np.meshgrid([16, 300, 4096], [1, 100, 2048], [1, 7, 74])
    np.testing.assert_allclose(same.energy_j(n_in, n_out, batch),
                               a100_card.energy_j(n_in, n_out, batch), rtol=1e-6)
    np.testing.assert_allclose(same.duration_s(n_in, n_out, batch),
                               a100_card.duration_s(n_in, n_out, batch), rtol=1e-6)
    assert same.max_batch_size == a100_card.max_batch_size


def test_transfer_of_a_roofline_card_is_the_target_roofline(a100_card):
    h100 = transfer_card(a100_card, "h100_sxm", method="ratio")
    direct = roofline_card("llama-3.1-8b", "h100_sxm")
    for point in ((128, 1, 1), (512, 256, 1), (1024, 512, 32)):
        assert float(h100.energy_j(*point)) == pytest.approx(float(direct.energy_j(*point)), rel=0.1)
        assert float(h100.duration_s(*point)) < float(a100_card.duration_s(*point))
    assert h100.idle_power_w == 105 and h100.max_batch_size > a100_card.max_batch_size


def test_split_equals_ratio_when_the_measurement_is_as_fast_as_the_roofline():
    args = ("llama-3.1-8b", "a100_40gb", "h100_sxm", [512.0], [256.0], [16.0])
    roof = roofline_point("llama-3.1-8b", "a100_40gb", 512, 256, 16)
    measured_j, measured_s = [1.3 * roof.energy_j], [0.8 * roof.duration_s]
    ratio = transfer_values(*args, measured_j, measured_s, method="ratio")
    split = transfer_values(*args, measured_j, measured_s, method="split")
    np.testing.assert_allclose(split[0], ratio[0])


def test_split_keeps_host_bound_time_and_scales_its_energy_by_idle_power():
    roof_a = roofline_point("llama-3.1-8b", "a100_40gb", 512, 256, 16)
    roof_h = roofline_point("llama-3.1-8b", "h100_sxm", 512, 256, 16)
    host_s, host_j = 5.0, 40.0
    energy, duration = transfer_values(
        "llama-3.1-8b", "a100_40gb", "h100_sxm", [512.0], [256.0], [16.0],
        [roof_a.energy_j + host_j], [roof_a.duration_s + host_s], method="split")
    assert duration[0] == pytest.approx(roof_h.duration_s + host_s)
    assert energy[0] == pytest.approx(roof_h.energy_j + host_j * 105 / 60)


def test_transfer_errors(a100_card):
    with pytest.raises(CardError, match="known models"):
        transfer_card(dataclasses.replace(a100_card, model="mystery-9b"), "h100_sxm")
    with pytest.raises(ConfigError, match="known hardwares"):
        transfer_card(a100_card, "tpu")
    with pytest.raises(ConfigError, match="transfer.method"):
        transfer_values("llama-3.1-8b", "a100_40gb", "h100_sxm", [1], [1], [1], [1.0], method="x")
