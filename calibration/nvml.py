"""The NVML meter: GPU energy from the total-energy counter, or from sampled power.

``nvmlDeviceGetTotalEnergyConsumption`` returns the energy the GPU used since
the driver loaded, in mJ (Volta and newer); a window's energy is the
difference of two readings, with the 64-bit counter's wrap handled. Where the
counter is unsupported the meter falls back to sampling
``nvmlDeviceGetPowerUsage`` (mW) in a thread and integrating by the
trapezoid rule. GPU utilization, SM and memory clocks and the enforced power
limit are read alongside.

pynvml is imported only inside :func:`load_nvml`; tests pass a fake module.
Every ``NVMLError`` is re-raised ``from`` itself as a
:class:`calibration.errors.NvmlError` subclass chosen by its code.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from calibration.errors import (
    NvmlError,
    NvmlGpuLostError,
    NvmlInvalidArgumentError,
    NvmlMissingError,
    NvmlNoPermissionError,
    NvmlNotSupportedError,
    NvmlUninitializedError,
)
from calibration.meters import Measurement, Meter, Window
from tpf.errors import CalibrationError

ENERGY_COUNTER_MODULUS_MJ = 2**64
METHOD_COUNTER = "nvml_energy_counter"
METHOD_SAMPLING = "nvml_power_sampling"

# NVML return-code constant name -> error class
_ERROR_CLASSES: dict[str, type[NvmlError]] = {
    "NVML_ERROR_NOT_SUPPORTED": NvmlNotSupportedError,
    "NVML_ERROR_NO_PERMISSION": NvmlNoPermissionError,
    "NVML_ERROR_UNINITIALIZED": NvmlUninitializedError,
    "NVML_ERROR_GPU_IS_LOST": NvmlGpuLostError,
    "NVML_ERROR_INVALID_ARGUMENT": NvmlInvalidArgumentError,
    "NVML_ERROR_NOT_FOUND": NvmlInvalidArgumentError,
}
_MISSING_LIBRARY_CODES = ("NVML_ERROR_LIBRARY_NOT_FOUND", "NVML_ERROR_DRIVER_NOT_LOADED")

NO_NVML_HINT = (
    "install the NVIDIA driver and nvidia-ml-py (pip install 'tpf[calibrate]') on a machine with an "
    "NVIDIA GPU, replay a recorded log (meter=replay), or ask for the labelled estimate mode "
    "(meter=estimate), whose rows say source=estimate"
)


def load_nvml() -> ModuleType:
    """Import pynvml, or raise :class:`NvmlMissingError` saying what to do."""
    try:
        import pynvml
    except ImportError as exc:
        raise NvmlMissingError(f"NVML is not available (no module pynvml): {NO_NVML_HINT}") from exc
    return pynvml


def map_nvml_error(nvml: Any, exc: BaseException, what: str) -> CalibrationError:
    """The calibration error for an ``NVMLError`` raised by ``what``."""
    code = getattr(exc, "value", None)
    codes = {name: getattr(nvml, name, None) for name in (*_ERROR_CLASSES, *_MISSING_LIBRARY_CODES)}
    if code is not None and code in {codes[name] for name in _MISSING_LIBRARY_CODES}:
        return NvmlMissingError(f"{what}: NVML library or driver not found ({exc}); {NO_NVML_HINT}")
    for name, error_class in _ERROR_CLASSES.items():
        if code is not None and code == codes[name]:
            return error_class(f"{what}: {exc} (NVML code {code})", code)
    return NvmlError(f"{what}: {exc} (NVML code {code})", code)


@contextmanager
def nvml_call(nvml: Any, what: str) -> Iterator[None]:
    """Run NVML calls, turning any ``NVMLError`` into its calibration error class."""
    try:
        yield
    except nvml.NVMLError as exc:
        raise map_nvml_error(nvml, exc, what) from exc


def counter_delta_mj(start_mj: int, end_mj: int, modulus_mj: int = ENERGY_COUNTER_MODULUS_MJ) -> int:
    """Energy between two counter readings (mJ), across at most one wrap."""
    return end_mj - start_mj if end_mj >= start_mj else end_mj + modulus_mj - start_mj


def integrate_power_j(times_s: Sequence[float], power_w: Sequence[float]) -> float:
    """Trapezoid integral of sampled power (W) over time (s), in J."""
    if len(times_s) != len(power_w):
        raise ValueError("times_s and power_w differ in length")
    energy_j = 0.0
    for i in range(1, len(times_s)):
        energy_j += 0.5 * (power_w[i] + power_w[i - 1]) * (times_s[i] - times_s[i - 1])
    return energy_j


class PowerSampler:
    """Samples a power reading (W) in a daemon thread every ``interval_s``."""

    def __init__(self, read_power_w: Callable[[], float], interval_s: float = 0.02):
        self.read_power_w = read_power_w
        self.interval_s = interval_s
        self.times_s: list[float] = []
        self.power_w: list[float] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        self.times_s.append(time.perf_counter())
        self.power_w.append(self.read_power_w())

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                self._sample()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def start(self) -> None:
        self.times_s, self.power_w, self.error = [], [], None
        self._stop.clear()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="tpf-power-sampler", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop sampling without a result."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def stop(self) -> float:
        """Stop sampling and return the integrated energy (J)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise self.error
        self._sample()
        return integrate_power_j(self.times_s, self.power_w)


class NvmlMeter(Meter):
    """Energy of the GPUs ``gpu_indices`` (summed) over each window.

    ``method`` is chosen once, at construction: the energy counter where every
    device supports it, else power sampling (``force_sampling`` picks sampling).
    """

    source = "measured"

    def __init__(
        self,
        gpu_indices: Sequence[int] = (0,),
        nvml: Any = None,
        sampling_interval_s: float = 0.02,
        force_sampling: bool = False,
    ):
        self.nvml = load_nvml() if nvml is None else nvml
        with nvml_call(self.nvml, "nvmlInit"):
            self.nvml.nvmlInit()
        with nvml_call(self.nvml, f"nvmlDeviceGetHandleByIndex({list(gpu_indices)})"):
            self.handles = [self.nvml.nvmlDeviceGetHandleByIndex(i) for i in gpu_indices]
        self.gpu_indices = list(gpu_indices)
        self.method = METHOD_SAMPLING if force_sampling or not self._counter_supported() else METHOD_COUNTER
        self.sampler = PowerSampler(self._power_w, sampling_interval_s)
        self._start_mj: list[int] = []
        self._start_s = math.nan

    def _counter_supported(self) -> bool:
        try:
            self._energy_mj()
        except NvmlNotSupportedError:
            return False
        return True

    def _energy_mj(self) -> list[int]:
        with nvml_call(self.nvml, "nvmlDeviceGetTotalEnergyConsumption"):
            return [int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self.handles]

    def _power_w(self) -> float:
        with nvml_call(self.nvml, "nvmlDeviceGetPowerUsage"):
            return sum(self.nvml.nvmlDeviceGetPowerUsage(h) for h in self.handles) / 1000.0

    def begin_window(self, window: Window) -> None:
        self._start_s = time.perf_counter()
        if self.method == METHOD_COUNTER:
            self._start_mj = self._energy_mj()
        else:
            self.sampler.start()

    def end_window(self) -> Measurement:
        if self.method == METHOD_COUNTER:
            end_mj = self._energy_mj()
            duration_s = time.perf_counter() - self._start_s
            energy_j = sum(counter_delta_mj(s, e) for s, e in zip(self._start_mj, end_mj, strict=True)) / 1000.0
        else:
            energy_j = self.sampler.stop()
            duration_s = time.perf_counter() - self._start_s
        return Measurement(
            duration_s=duration_s,
            energy_j=energy_j,
            avg_power_w=energy_j / duration_s if duration_s > 0 else math.nan,
            method=self.method,
            **self._device_state(),
        )

    def cancel_window(self) -> None:
        if self.method == METHOD_SAMPLING:
            self.sampler.cancel()

    def _device_state(self) -> dict[str, float]:
        """Utilization (mean, %), clocks (first GPU, MHz), power limit (sum, W)."""
        nvml, first = self.nvml, self.handles[0]
        with nvml_call(nvml, "reading utilization, clocks and power limit"):
            utilization = [nvml.nvmlDeviceGetUtilizationRates(h).gpu for h in self.handles]
            limit_mw = sum(nvml.nvmlDeviceGetEnforcedPowerLimit(h) for h in self.handles)
            return {
                "gpu_util_pct": float(sum(utilization)) / len(utilization),
                "sm_clock_mhz": float(nvml.nvmlDeviceGetClockInfo(first, nvml.NVML_CLOCK_SM)),
                "mem_clock_mhz": float(nvml.nvmlDeviceGetClockInfo(first, nvml.NVML_CLOCK_MEM)),
                "power_limit_w": limit_mw / 1000.0,
            }

    def idle_power_w(self, duration_s: float = 5.0) -> float:
        """Mean power of the idle GPUs over ``duration_s`` (call with nothing running)."""
        self.begin_window(Window("idle", 0, 0, 0))
        time.sleep(duration_s)
        return self.end_window().avg_power_w

    def device_info(self) -> dict[str, object]:
        return {**super().device_info(), **nvml_device_info(self.nvml, self.handles)}

    def close(self) -> None:
        self.cancel_window()
        with nvml_call(self.nvml, "nvmlShutdown"):
            self.nvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_device_info(nvml: Any, handles: Sequence[Any]) -> dict[str, object]:
    """GPU names, driver and NVML versions, power limits and clocks, for the metadata."""
    with nvml_call(nvml, "reading device information"):
        gpus = [
            {
                "name": _text(nvml.nvmlDeviceGetName(h)),
                "power_limit_w": nvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0,
                "sm_clock_mhz": nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM),
                "mem_clock_mhz": nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM),
                "max_sm_clock_mhz": nvml.nvmlDeviceGetMaxClockInfo(h, nvml.NVML_CLOCK_SM),
                "max_mem_clock_mhz": nvml.nvmlDeviceGetMaxClockInfo(h, nvml.NVML_CLOCK_MEM),
                "memory_total_bytes": nvml.nvmlDeviceGetMemoryInfo(h).total,
            }
            for h in handles
        ]
        return {
            "gpu_name": gpus[0]["name"],
            "gpu_count": len(gpus),
            "gpus": gpus,
            "driver_version": _text(nvml.nvmlSystemGetDriverVersion()),
            "nvml_version": _text(nvml.nvmlSystemGetNVMLVersion()),
        }
