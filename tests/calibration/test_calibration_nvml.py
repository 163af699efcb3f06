"""The NVML meter's code paths that need no GPU, through a fake pynvml module."""

from __future__ import annotations

import sys
import time

import pytest

from calibration import errors
from calibration.meters import Window
from calibration.nvml import (
    METHOD_COUNTER,
    METHOD_SAMPLING,
    NvmlMeter,
    counter_delta_mj,
    integrate_power_j,
    load_nvml,
    map_nvml_error,
)
from calibration.pipeline import hardware_label
from tpf.errors import CalibrationError

WINDOW = Window("total", 16, 8, 1)


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (3, errors.NvmlNotSupportedError),
        (4, errors.NvmlNoPermissionError),
        (1, errors.NvmlUninitializedError),
        (15, errors.NvmlGpuLostError),
        (2, errors.NvmlInvalidArgumentError),
        (12, errors.NvmlMissingError),
        (9, errors.NvmlMissingError),
        (999, errors.NvmlError),
    ],
)
def test_each_nvml_code_maps_to_its_error_class(code, error_class, make_fake_nvml):
    nvml = make_fake_nvml()
    mapped = map_nvml_error(nvml, nvml.NVMLError(code), "nvmlDeviceGetPowerUsage")
    assert type(mapped) is error_class
    assert isinstance(mapped, CalibrationError)
    assert "nvmlDeviceGetPowerUsage" in str(mapped)


def test_nvml_error_is_raised_from_the_original(make_fake_nvml):
    nvml = make_fake_nvml(energy_mj=[0, 5000])
    meter = NvmlMeter(nvml=nvml)
    meter.begin_window(WINDOW)
    nvml.nvmlDeviceGetTotalEnergyConsumption = lambda handle: (_ for _ in ()).throw(nvml.NVMLError(15))
    with pytest.raises(errors.NvmlGpuLostError) as caught:
        meter.end_window()
    assert isinstance(caught.value.__cause__, nvml.NVMLError)
    assert caught.value.code == 15


def test_missing_driver_library_says_what_to_do(make_fake_nvml):
    with pytest.raises(errors.NvmlMissingError, match="meter=estimate"):
        NvmlMeter(nvml=make_fake_nvml(init_error=12))


def test_missing_pynvml_module_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    with pytest.raises(errors.NvmlMissingError, match="nvidia-ml-py"):
        load_nvml()


def test_counter_delta_handles_one_wrap():
    assert counter_delta_mj(1000, 4000) == 3000
    assert counter_delta_mj(2**64 - 1000, 500) == 1500
    assert counter_delta_mj(90, 10, modulus_mj=100) == 20


def test_counter_window_energy_across_the_wrap(make_fake_nvml):
    nvml = make_fake_nvml(energy_mj=[0, 2**64 - 1000, 500])  # first reading: the support probe
    meter = NvmlMeter(nvml=nvml)
    assert meter.method == METHOD_COUNTER
    meter.begin_window(WINDOW)
    measurement = meter.end_window()
    assert measurement.energy_j == pytest.approx(1.5)
    assert measurement.method == METHOD_COUNTER
    assert measurement.gpu_util_pct == 87
    assert measurement.sm_clock_mhz == 1980 and measurement.mem_clock_mhz == 2619
    assert measurement.power_limit_w == 700
    assert measurement.avg_power_w == pytest.approx(1.5 / measurement.duration_s)


def test_two_gpus_add_their_energy(make_fake_nvml):
    nvml = make_fake_nvml(energy_mj=[0, 0, 1000, 1000, 3000, 4000])
    meter = NvmlMeter(gpu_indices=(0, 1), nvml=nvml)
    meter.begin_window(WINDOW)
    assert meter.end_window().energy_j == pytest.approx(2.0 + 3.0)
    assert meter._device_state()["power_limit_w"] == 1400


def test_unsupported_counter_falls_back_to_power_sampling(make_fake_nvml):
    meter = NvmlMeter(nvml=make_fake_nvml(counter_error=3, power_mw=250_000), sampling_interval_s=0.005)
    assert meter.method == METHOD_SAMPLING
    meter.begin_window(WINDOW)
    time.sleep(0.05)
    measurement = meter.end_window()
    assert measurement.method == METHOD_SAMPLING
    # constant 250 W: the integral is 250 W times the sampled span, which lies inside the window
    assert 0 < measurement.energy_j <= 250 * measurement.duration_s + 1e-9
    assert measurement.energy_j == pytest.approx(250 * measurement.duration_s, rel=0.2)


def test_other_counter_errors_are_not_taken_for_unsupported(make_fake_nvml):
    with pytest.raises(errors.NvmlNoPermissionError):
        NvmlMeter(nvml=make_fake_nvml(counter_error=4))


def test_force_sampling_and_cancel_stop_the_thread(make_fake_nvml):
    meter = NvmlMeter(nvml=make_fake_nvml(energy_mj=[0, 1, 2]), force_sampling=True, sampling_interval_s=0.005)
    assert meter.method == METHOD_SAMPLING
    meter.begin_window(WINDOW)
    meter.cancel_window()
    assert meter.sampler._thread is None


def test_trapezoid_integral_is_exact_on_piecewise_linear_power():
    assert integrate_power_j([0.0, 1.0, 2.0], [100.0, 200.0, 100.0]) == pytest.approx(300.0)
    assert integrate_power_j([5.0], [100.0]) == 0.0


def test_idle_power_and_device_info(make_fake_nvml):
    nvml = make_fake_nvml(counter_error=3, power_mw=60_000)
    meter = NvmlMeter(nvml=nvml, sampling_interval_s=0.005)
    assert meter.idle_power_w(duration_s=0.03) == pytest.approx(60.0, rel=0.01)
    info = meter.device_info()
    assert info["gpu_name"] == "NVIDIA H100 80GB HBM3"
    assert info["driver_version"] == "550.54.15" and info["nvml_version"] == "12.550.54.15"
    assert info["gpus"][0]["power_limit_w"] == 700
    assert hardware_label("auto", meter) == "h100_sxm"  # NVML name -> shipped hardware id
    meter.close()
    assert nvml.calls["shutdown"] == 1
