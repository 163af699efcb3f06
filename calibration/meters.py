"""The energy meter seam: one interface, three meters.

A meter measures windows: ``begin_window(window)`` ... ``end_window() ->
Measurement``. The caller synchronizes the device before each call, so a
window covers exactly the work inside it.

* :class:`calibration.nvml.NvmlMeter` measures (``source = measured``).
* :class:`ReplayMeter` returns windows read from a recorded measurement log,
  for tests and for re-running a pipeline; its rows say ``method = replay``
  and ``source = replay``: it never claims to measure.
* :class:`EstimateMeter` returns roofline estimates; its rows say
  ``method = estimate_roofline`` and ``source = estimate``.

Units: s, J, W, MHz, percent; SI everywhere else.
"""

from __future__ import annotations

import csv
import math
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from calibration.errors import ReplayLogError
from calibration.estimate import estimate_window, roofline_assumptions
from tpf.errors import CalibrationError
from tpf.specs import ModelArch

PHASES = ("prefill", "decode", "total")


@dataclass(frozen=True)
class Window:
    """What runs inside a window: ``batch_size`` requests of ``n_in_tokens`` in.

    ``phase`` is ``prefill`` (one forward over the prompt, producing the first
    token), ``decode`` (``n_out_tokens - 1`` decode steps after the prefill),
    or ``total`` (prefill and decode in one window).
    """

    phase: str
    n_in_tokens: int
    n_out_tokens: int
    batch_size: int = 1


@dataclass(frozen=True)
class Measurement:
    """One measured (or replayed, or estimated) window."""

    duration_s: float
    energy_j: float
    avg_power_w: float
    gpu_util_pct: float = math.nan
    sm_clock_mhz: float = math.nan
    mem_clock_mhz: float = math.nan
    power_limit_w: float = math.nan
    method: str = ""


class Meter(ABC):
    """A window energy meter. ``source`` goes into every row it produces."""

    source: str = "measured"
    method: str = ""

    @abstractmethod
    def begin_window(self, window: Window) -> None:
        """Start measuring ``window``; the caller has synchronized the device."""

    @abstractmethod
    def end_window(self) -> Measurement:
        """Stop measuring the open window and return what it used."""

    def cancel_window(self) -> None:
        """Drop the open window without a measurement (after an error inside it)."""
        return None

    def revise_window(self, window: Window) -> None:
        """Say what the open window turned out to hold (tokens generated are known only at its end).

        A measuring meter ignores it; the replay and estimate meters use it.
        """
        return None

    def idle_power_w(self, duration_s: float = 5.0) -> float:
        """Power of the idle device, W; NaN where the meter cannot know it."""
        return math.nan

    def device_info(self) -> dict[str, object]:
        """What the meter knows of the device, for the run's metadata."""
        return {"meter": type(self).__name__, "method": self.method, "source": self.source}

    def close(self) -> None:
        """Release the meter's resources."""
        return None


class _DeclaredWindowMeter(Meter):
    """A meter that derives each window's numbers from what the window declares it holds."""

    _window: Window | None = None

    def begin_window(self, window: Window) -> None:
        self._window = window

    def cancel_window(self) -> None:
        self._window = None

    def revise_window(self, window: Window) -> None:
        self._window = window

    def _close_window(self) -> Window:
        """The open window, now closed."""
        window, self._window = self._window, None
        if window is None:
            raise CalibrationError("end_window() called without begin_window()")
        return window


class ReplayMeter(_DeclaredWindowMeter):
    """Returns windows read from a measurement log (a measurement table CSV).

    Rows are matched on ``(phase, n_in_tokens, n_out_tokens, batch_size)``;
    repeated requests for one key walk through its rows in file order and
    start over at the end. Warm-up rows and rows whose status is not ``ok``
    are ignored.
    """

    source = "replay"
    method = "replay"

    def __init__(self, log_path: str | Path):
        self.log_path = Path(log_path)
        self._rows = _read_replay_log(self.log_path)
        self._idle_w = _first_idle_power_w(self.log_path)
        self._next_index: dict[tuple[str, int, int, int], int] = defaultdict(int)

    def end_window(self) -> Measurement:
        window = self._close_window()
        key = (window.phase, window.n_in_tokens, window.n_out_tokens, window.batch_size)
        rows = self._rows.get(key)
        if not rows:
            raise ReplayLogError(
                f"{self.log_path}: no row for phase={window.phase}, n_in_tokens={window.n_in_tokens}, "
                f"n_out_tokens={window.n_out_tokens}, batch_size={window.batch_size}; "
                f"the log covers {len(self._rows)} windows"
            )
        index = self._next_index[key]
        self._next_index[key] = index + 1
        return rows[index % len(rows)]

    def idle_power_w(self, duration_s: float = 5.0) -> float:
        return self._idle_w

    def device_info(self) -> dict[str, object]:
        return {**super().device_info(), "replay_log": str(self.log_path)}


_REPLAY_REQUIRED = ("phase", "n_in_tokens", "n_out_tokens", "batch_size", "energy_j", "duration_s")


def _read_replay_log(path: Path) -> dict[tuple[str, int, int, int], list[Measurement]]:
    if not path.is_file():
        raise ReplayLogError(f"replay log {path} does not exist")
    rows: dict[tuple[str, int, int, int], list[Measurement]] = defaultdict(list)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _REPLAY_REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ReplayLogError(f"{path}: missing column(s) {', '.join(missing)}")
        for line_number, row in enumerate(reader, start=2):
            if row.get("status", "ok") not in ("ok", "") or row.get("warmup", "").lower() == "true":
                continue
            key, measurement = _replay_row(path, line_number, row)
            rows[key].append(measurement)
    return dict(rows)


def _replay_row(
    path: Path, line_number: int, row: dict[str, str]
) -> tuple[tuple[str, int, int, int], Measurement]:
    try:
        key = (row["phase"], int(row["n_in_tokens"]), int(row["n_out_tokens"]), int(row["batch_size"]))
        energy_j, duration_s = float(row["energy_j"]), float(row["duration_s"])
    except ValueError as exc:
        raise ReplayLogError(f"{path}, line {line_number}: {exc}") from exc
    if not (energy_j >= 0 and duration_s > 0):
        raise ReplayLogError(
            f"{path}, line {line_number}: energy_j must be >= 0 and duration_s > 0, "
            f"got {energy_j} and {duration_s}"
        )
    measurement = Measurement(
        duration_s=duration_s,
        energy_j=energy_j,
        avg_power_w=energy_j / duration_s,
        gpu_util_pct=_float_or_nan(row.get("gpu_util_pct")),
        sm_clock_mhz=_float_or_nan(row.get("sm_clock_mhz")),
        mem_clock_mhz=_float_or_nan(row.get("mem_clock_mhz")),
        power_limit_w=_float_or_nan(row.get("power_limit_w")),
        method="replay",
    )
    return key, measurement


def _float_or_nan(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _first_idle_power_w(path: Path) -> float:
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            value = _float_or_nan(row.get("idle_power_w"))
            if math.isfinite(value):
                return value
    return math.nan


class EstimateMeter(_DeclaredWindowMeter):
    """Labelled estimate mode: roofline time and energy of each window (tpf.fit.roofline).

    Nothing is measured. Every row says ``source = estimate`` and
    ``method = estimate_roofline``; use it to rehearse a sweep on a machine
    without a GPU or to predict how long a GPU run takes. ``hardware`` names a
    shipped hardware spec (e.g. ``h100_sxm``).
    """

    source = "estimate"
    method = "estimate_roofline"

    def __init__(self, architecture: ModelArch, hardware: str, assumptions: Any = None):
        from tpf.specs import hardware_spec

        self.architecture = architecture
        self.hardware = hardware_spec(hardware)
        self.assumptions = assumptions if assumptions is not None else roofline_assumptions(architecture)

    def end_window(self) -> Measurement:
        window = self._close_window()
        duration_s, energy_j = estimate_window(self.architecture, self.hardware.key, window, self.assumptions)
        return Measurement(
            duration_s=duration_s,
            energy_j=energy_j,
            avg_power_w=energy_j / duration_s,
            power_limit_w=self.hardware.tdp_w,
            method=self.method,
        )

    def idle_power_w(self, duration_s: float = 5.0) -> float:
        return self.hardware.idle_power_w

    def device_info(self) -> dict[str, object]:
        return {
            **super().device_info(),
            "gpu_name": self.hardware.name,
            "hardware_spec": self.hardware.key,
            "roofline_assumptions": asdict(self.assumptions),
            "note": "estimate mode: nothing was measured; every row is a roofline estimate",
        }
