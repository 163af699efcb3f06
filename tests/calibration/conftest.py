"""Fixtures of the calibration tests: a fake pynvml module, quiet single-threaded torch."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _single_thread_torch() -> None:
    """Tiny models run faster on one thread, and the test machine's cores are shared."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


class FakeNvmlError(Exception):
    def __init__(self, value: int):
        super().__init__(f"NVML error {value}")
        self.value = value


def make_fake_nvml(
    energy_mj: list[int] | None = None,
    counter_error: int | None = None,
    power_mw: float = 200_000.0,
    init_error: int | None = None,
) -> types.SimpleNamespace:
    """A stand-in for pynvml: counter readings come from ``energy_mj`` in turn.

    ``counter_error`` makes the energy counter raise that NVML code;
    ``init_error`` makes nvmlInit raise.
    """
    readings = list(energy_mj or [0])
    calls = {"counter": 0, "shutdown": 0}

    def raise_if(code: int | None) -> None:
        if code is not None:
            raise FakeNvmlError(code)

    def total_energy(handle: object) -> int:
        raise_if(counter_error)
        value = readings[min(calls["counter"], len(readings) - 1)]
        calls["counter"] += 1
        return value

    return types.SimpleNamespace(
        NVMLError=FakeNvmlError,
        NVML_ERROR_UNINITIALIZED=1, NVML_ERROR_INVALID_ARGUMENT=2, NVML_ERROR_NOT_SUPPORTED=3,
        NVML_ERROR_NO_PERMISSION=4, NVML_ERROR_NOT_FOUND=6, NVML_ERROR_DRIVER_NOT_LOADED=9,
        NVML_ERROR_LIBRARY_NOT_FOUND=12, NVML_ERROR_GPU_IS_LOST=15, NVML_ERROR_UNKNOWN=999,
        NVML_CLOCK_SM=1, NVML_CLOCK_MEM=2,
        calls=calls,
        nvmlInit=lambda: raise_if(init_error),
        nvmlShutdown=lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1),
        nvmlDeviceGetHandleByIndex=lambda index: f"gpu{index}",
        nvmlDeviceGetTotalEnergyConsumption=total_energy,
        nvmlDeviceGetPowerUsage=lambda handle: power_mw,
        nvmlDeviceGetUtilizationRates=lambda handle: types.SimpleNamespace(gpu=87, memory=40),
        nvmlDeviceGetClockInfo=lambda handle, clock: 1980 if clock == 1 else 2619,
        nvmlDeviceGetMaxClockInfo=lambda handle, clock: 1980 if clock == 1 else 2619,
        nvmlDeviceGetEnforcedPowerLimit=lambda handle: 700_000,
        nvmlDeviceGetName=lambda handle: b"NVIDIA H100 80GB HBM3",
        nvmlDeviceGetMemoryInfo=lambda handle: types.SimpleNamespace(total=85_520_809_984),
        nvmlSystemGetDriverVersion=lambda: "550.54.15",
        nvmlSystemGetNVMLVersion=lambda: "12.550.54.15",
    )


@pytest.fixture(name="make_fake_nvml")
def fake_nvml_factory():
    """The :func:`make_fake_nvml` factory."""
    return make_fake_nvml
