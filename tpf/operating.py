"""Operating curves: what one replica does as its batch grows, per serving engine.

An :class:`OperatingCurve` belongs to one (model, hardware, serving engine). At
each batch level (the average number of requests decoded together) it holds
the power per GPU (W, between idle and TDP), the replica's output-token
throughput (tokens/s) and so the time per output token ``tpot_s = batch /
throughput``, the energy per output token ``j_per_token = power * gpus /
throughput`` and per request ``j_per_request = j_per_token * n_out_tokens``.

:func:`fit_operating_curve` fits two smooth laws to measured levels and
tabulates them at those levels:

* power per GPU ``p0 + p1 * ln(batch)``, clipped to ``[idle_power_w, tdp_w]``;
* step time ``batch / throughput = t0 + t1 * batch`` with ``t0, t1 >= 0``
  (a decode step reads the weights once, ``t0``, and each sequence's KV cache,
  ``t1``), so throughput never falls with batch.

Its held-out error is leave-one-batch-out: each level is predicted by the fit
to the others and compared with its measurement (``heldout``: mean and max
absolute percentage error of J/token, power and throughput).

A curve is refused (:class:`~tpf.errors.CardError`, naming the field) when its
throughput falls with batch, its power leaves ``[idle, tdp]``, its batch levels
are not ascending, or (on a card) they leave the card's batch range; asking for
a batch outside its levels is refused too, naming the curve's cap (its top level).

A measured curve extended beyond its measured levels (down to batch 1 and up to
the card's KV-cache limit, along the roofline's shape:
:func:`tpf.fit.operating_roofline.extend_curve`) records ``measured_batch_range``
and ``extrapolation``; :meth:`OperatingCurve.label` says whether a batch is
measured or extrapolated. :data:`ENGINE_VERSIONS` lists the engine versions tpf
has fitted presets for, which a card's ``engine_version`` must name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from tpf.errors import CardError, FitError

#: Input tokens of the reference request of a roofline-derived operating curve (a curve
#: without its own ``n_in_tokens``); also the input length the vllm preset was calibrated at
#: (an assumption).
REFERENCE_N_IN_TOKENS = 256.0

ENGINES = ("vllm", "hf_generate")
#: the versions of each engine tpf has a fitted preset for (tpf.fit.presets): vLLM 0.11
#: (ML.ENERGY v3) and the vLLM release ML.ENERGY v2 ran (not recorded in its data);
#: hf_generate carries no version ("").
ENGINE_VERSIONS: dict[str, tuple[str, ...]] = {"vllm": ("0.11", "mlenergy-v2"), "hf_generate": ("",)}


def engine_problems(engine: object, engine_version: object) -> list[str]:
    """What is wrong with a card's ``engine`` and ``engine_version`` (both may be empty: not stated)."""
    if not isinstance(engine, str) or not isinstance(engine_version, str):
        return [f"engine, engine_version: must be texts (quote a version: engine_version: \"0.11\"), "
                f"got {engine!r}, {engine_version!r}"]
    if engine == "":
        return [] if engine_version == "" else [
            f"engine_version: {engine_version!r} given without an engine (engine: one of {ENGINES})"]
    if engine not in ENGINES:
        return [f"engine: must be one of {ENGINES} (or empty), got {engine!r}"]
    known = ENGINE_VERSIONS[engine]
    if engine_version not in known:
        shown = ", ".join(repr(v) for v in known)
        return [f"engine_version: unknown {engine} version {engine_version!r}; known (fitted presets): {shown}"]
    return []


@dataclass(frozen=True)
class OperatingPoint:
    """One batch level of a curve, in SI units."""

    batch_size: float
    power_w: float
    throughput_tokens_per_s: float
    tpot_s: float
    j_per_token: float
    j_per_request: float


@dataclass(frozen=True)
class OperatingCurve:
    """Power, throughput and energy of one replica over batch levels (module doc).

    ``power_w`` is per GPU, ``throughput_tokens_per_s`` the replica's output
    tokens per second, at requests of ``n_out_tokens`` output tokens (and
    ``n_in_tokens`` input tokens; 0 where the data does not say). ``source``:
    ``measured`` or ``estimate``; ``data_rows`` names the rows or the method;
    ``heldout`` is the leave-one-batch-out error of a fitted curve.
    """

    engine: str
    batch_size: tuple[float, ...]
    power_w: tuple[float, ...]
    throughput_tokens_per_s: tuple[float, ...]
    n_out_tokens: float
    tdp_w: float
    idle_power_w: float = 0.0
    gpus: int = 1
    n_in_tokens: float = 0.0
    source: str = "measured"
    data_rows: str = ""
    heldout: dict[str, float] = field(default_factory=dict)
    measured_batch_range: tuple[float, ...] = ()  # (low, high) of the measured levels; () all alike
    extrapolation: str = ""  # how the levels outside measured_batch_range were made

    def __post_init__(self) -> None:
        problems = self.problems("operating_curve")
        if problems:
            raise CardError(problems[0] if len(problems) == 1 else "; ".join(problems))

    def problems(self, where: str, batch_range: tuple[float, float] | None = None) -> list[str]:
        """Every inconsistency, each naming its field and the allowed range."""
        batch, power = np.asarray(self.batch_size, float), np.asarray(self.power_w, float)
        tput = np.asarray(self.throughput_tokens_per_s, float)
        out = []
        if self.engine not in ENGINES:
            out.append(f"{where}.engine: must be one of {ENGINES}, got {self.engine!r}")
        if not (batch.size == power.size == tput.size) or batch.size == 0:
            return out + [f"{where}: batch_size, power_w and throughput_tokens_per_s need one value "
                          f"per level, got {batch.size}, {power.size}, {tput.size}"]
        if np.any(batch < 1) or np.any(np.diff(batch) <= 0):
            out.append(f"{where}.batch_size: levels must be >= 1 and strictly ascending, got {list(batch)}")
        for index in np.flatnonzero((power > self.tdp_w * (1 + 1e-9)) | (power < self.idle_power_w * (1 - 1e-9))):
            out.append(f"{where}.power_w[{index}]: must lie between idle_power_w={self.idle_power_w:g} W "
                       f"and tdp_w={self.tdp_w:g} W per GPU, got {power[index]:g} W")
        if np.any(tput <= 0):
            out.append(f"{where}.throughput_tokens_per_s: must be > 0, got {list(tput)}")
        for index in np.flatnonzero(np.diff(tput) < 0):
            out.append(f"{where}.throughput_tokens_per_s[{index + 1}]: throughput falls with batch "
                       f"({tput[index]:g} at batch {batch[index]:g} -> {tput[index + 1]:g} at "
                       f"batch {batch[index + 1]:g}); a curve must be non-decreasing")
        if not self.n_out_tokens > 0:
            out.append(f"{where}.n_out_tokens: must be > 0, got {self.n_out_tokens}")
        if self.gpus < 1:
            out.append(f"{where}.gpus: must be >= 1, got {self.gpus}")
        measured = self.measured_batch_range
        if measured and (len(measured) != 2 or not 1 <= measured[0] <= measured[1]):
            out.append(f"{where}.measured_batch_range: must be [low, high] with 1 <= low <= high, "
                       f"got {list(measured)}")
        if batch_range is not None and batch.size and (batch[0] < batch_range[0] or batch[-1] > batch_range[1]):
            out.append(f"{where}.batch_size: levels {batch[0]:g}..{batch[-1]:g} lie outside the card's "
                       f"batch range {batch_range[0]:g}..{batch_range[1]:g} (valid_range.batch_size)")
        return out

    def extrapolated(self, batch_size: float) -> bool:
        """Whether ``batch_size`` lies outside the measured levels (priced by the extrapolation)."""
        if not self.measured_batch_range:
            return False
        low, high = self.measured_batch_range
        return not low * (1 - 1e-9) <= batch_size <= high * (1 + 1e-9)

    def label(self, batch_size: float) -> str:
        """``measured`` / ``estimate``, or ``extrapolated below/above measured batch a..b (how)``."""
        if not self.extrapolated(batch_size):
            return self.source
        low, high = self.measured_batch_range
        side = "below" if batch_size < low else "above"
        return f"extrapolated {side} the measured batch {low:g}..{high:g} ({self.extrapolation})"

    def at(self, batch_size: float) -> OperatingPoint:
        """The curve at ``batch_size`` (linear in ln(batch) between levels); outside the levels: an error
        stating the curve's cap (its top level: the KV-cache limit where the curve was extended to it)."""
        levels = np.asarray(self.batch_size, float)
        if not levels[0] * (1 - 1e-9) <= batch_size <= levels[-1] * (1 + 1e-9):
            raise CardError(f"batch_size: {batch_size:g} lies outside the operating curve's levels "
                            f"{levels[0]:g}..{levels[-1]:g} ({self.engine}); the curve's cap is batch "
                            f"{levels[-1]:g}")
        x = np.log(levels)
        power = float(np.interp(np.log(batch_size), x, self.power_w))
        tput = float(np.interp(np.log(batch_size), x, self.throughput_tokens_per_s))
        per_token = power * self.gpus / tput
        return OperatingPoint(float(batch_size), power, tput, float(batch_size) / tput, per_token,
                              per_token * self.n_out_tokens)

    def points(self) -> list[OperatingPoint]:
        return [self.at(b) for b in self.batch_size]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("batch_size", "power_w", "throughput_tokens_per_s"):
            data[name] = [float(v) for v in data[name]]
        data["heldout"] = {k: float(v) for k, v in self.heldout.items()}
        data["measured_batch_range"] = [float(v) for v in self.measured_batch_range]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "operating_curve") -> OperatingCurve:
        try:
            values = dict(data)
            for name in ("batch_size", "power_w", "throughput_tokens_per_s"):
                values[name] = tuple(float(v) for v in values[name])
            values["measured_batch_range"] = tuple(float(v) for v in values.get("measured_batch_range") or ())
            return cls(**values)
        except CardError as exc:
            raise CardError(f"{where}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise CardError(f"{where}: malformed operating curve: {exc!r}") from exc


# --- fitting ------------------------------------------------------------------


@dataclass(frozen=True)
class CurveLaws:
    """Fitted laws: power per GPU ``p0 + p1 ln B`` (clipped), step time ``t0 + t1 B``."""

    p0: float
    p1: float
    t0: float
    t1: float
    idle_power_w: float
    tdp_w: float

    def power_w(self, batch: np.ndarray) -> np.ndarray:
        raw = self.p0 + self.p1 * np.log(np.asarray(batch, float))
        return np.clip(raw, self.idle_power_w, self.tdp_w)

    def throughput(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, float)
        return batch / (self.t0 + self.t1 * batch)


def fit_laws(batch: np.ndarray, power_w: np.ndarray, throughput: np.ndarray, idle_power_w: float,
             tdp_w: float) -> CurveLaws:
    """Least squares for power (in ln batch) and non-negative least squares for step time."""
    design = np.column_stack([np.ones_like(batch), np.log(batch)])
    (p0, p1), *_ = np.linalg.lstsq(design, power_w, rcond=None)
    step_s = batch / throughput
    (t0, t1), _ = nnls(np.column_stack([np.ones_like(batch), batch]) / step_s[:, None], np.ones_like(batch))
    if t0 + t1 <= 0:
        raise FitError("operating curve: the step-time fit is degenerate (no positive time)")
    return CurveLaws(float(p0), float(p1), float(t0), float(t1), idle_power_w, tdp_w)


def leave_one_batch_out(batch: np.ndarray, power_w: np.ndarray, throughput: np.ndarray, gpus: int,
                        idle_power_w: float, tdp_w: float) -> dict[str, float]:
    """Each level predicted by the laws fitted to the other levels (needs >= 3 levels)."""
    per_token, power_err, tput_err = [], [], []
    for index in range(batch.size):
        keep = np.arange(batch.size) != index
        laws = fit_laws(batch[keep], power_w[keep], throughput[keep], idle_power_w, tdp_w)
        b = batch[index:index + 1]
        power, tput = laws.power_w(b)[0], laws.throughput(b)[0]
        measured = power_w[index] * gpus / throughput[index]
        per_token.append(abs(power * gpus / tput - measured) / measured)
        power_err.append(abs(power - power_w[index]) / power_w[index])
        tput_err.append(abs(tput - throughput[index]) / throughput[index])
    return {"j_per_token_mape": float(np.mean(per_token)), "j_per_token_max_ape": float(np.max(per_token)),
            "power_mape": float(np.mean(power_err)), "throughput_mape": float(np.mean(tput_err)),
            "n_levels": float(batch.size)}


def fit_operating_curve(batch_size: Sequence[float], power_w: Sequence[float],
                        throughput_tokens_per_s: Sequence[float], n_out_tokens: float, *, engine: str,
                        tdp_w: float, idle_power_w: float, gpus: int = 1, data_rows: str = "",
                        source: str = "measured") -> OperatingCurve:
    """Fit the laws to measured levels (>= 3), tabulate them there, with leave-one-batch-out error."""
    order = np.argsort(np.asarray(batch_size, float))
    batch = np.asarray(batch_size, float)[order]
    power = np.asarray(power_w, float)[order]
    tput = np.asarray(throughput_tokens_per_s, float)[order]
    if batch.size < 3:
        raise FitError(f"operating curve ({data_rows or engine}): needs >= 3 batch levels, got {batch.size}")
    if np.any(~np.isfinite(power)) or np.any(power <= 0) or np.any(~np.isfinite(tput)) or np.any(tput <= 0):
        raise FitError(f"operating curve ({data_rows or engine}): power_w and throughput must be finite and > 0")
    laws = fit_laws(batch, power, tput, idle_power_w, tdp_w)
    return OperatingCurve(
        engine=engine, batch_size=tuple(float(b) for b in batch),
        power_w=tuple(float(p) for p in laws.power_w(batch)),
        throughput_tokens_per_s=tuple(float(t) for t in laws.throughput(batch)),
        n_out_tokens=float(n_out_tokens), tdp_w=float(tdp_w), idle_power_w=float(idle_power_w),
        gpus=int(gpus), source=source, data_rows=data_rows,
        heldout=leave_one_batch_out(batch, power, tput, gpus, idle_power_w, tdp_w),
    )
