"""Operating curves of unmeasured GPUs: from the roofline, or carried over from another GPU.

ESTIMATES, labelled so (``source: estimate``). At each batch level ``B`` a
window of ``B`` requests of :data:`REFERENCE_N_IN_TOKENS` input and
:data:`REFERENCE_N_OUT_TOKENS` output tokens is priced by the roofline
(:func:`tpf.fit.roofline.roofline_point`) with a serving engine's preset: power
per GPU is the window's energy over its duration and GPU count, throughput is
``B * n_out`` over the duration.

:func:`transfer_operating_curve` carries a (measured) curve to another GPU:
each level's power and throughput are multiplied by the roofline's ratios
between the two GPUs at that level (power then clipped to the target's idle and
TDP; throughput kept non-decreasing in batch).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tpf.fit.roofline import RooflineAssumptions, roofline_point
from tpf.operating import ENGINES, REFERENCE_N_IN_TOKENS, OperatingCurve
from tpf.specs import HardwareSpec, ModelArch

REFERENCE_N_OUT_TOKENS = 256.0


def batch_levels(max_batch: int) -> tuple[float, ...]:
    """1, 2, 4, ... up to ``max_batch`` (included)."""
    levels = [float(2 ** k) for k in range(int(np.log2(max(max_batch, 1))) + 1)]
    return tuple(sorted({*levels, float(max_batch)}))


def _power_and_throughput(arch: ModelArch, hw: HardwareSpec, gpus: int, a: RooflineAssumptions,
                          batch: float, n_in: float, n_out: float) -> tuple[float, float]:
    point = roofline_point(arch, hw, n_in, n_out, batch, gpus, a)
    window_j = point.energy_j * batch
    return window_j / point.duration_s / gpus, batch * n_out / point.duration_s


def roofline_operating_curve(arch: ModelArch, hw: HardwareSpec, gpus: int, a: RooflineAssumptions,
                             engine: str, max_batch: int, method: str) -> OperatingCurve:
    """The roofline's operating curve at :func:`batch_levels` (an estimate)."""
    levels = batch_levels(max_batch)
    values = [_power_and_throughput(arch, hw, gpus, a, b, REFERENCE_N_IN_TOKENS, REFERENCE_N_OUT_TOKENS)
              for b in levels]
    power = np.clip([v[0] for v in values], hw.idle_power_w, hw.tdp_w)
    throughput = np.maximum.accumulate([v[1] for v in values])
    return OperatingCurve(
        engine=engine, batch_size=levels, power_w=tuple(float(p) for p in power),
        throughput_tokens_per_s=tuple(float(t) for t in throughput),
        n_out_tokens=REFERENCE_N_OUT_TOKENS, n_in_tokens=REFERENCE_N_IN_TOKENS, tdp_w=hw.tdp_w,
        idle_power_w=hw.idle_power_w, gpus=gpus, source="estimate",
        data_rows=f"ESTIMATE: {method} on {hw.key}, {gpus} GPU",
    )


def engine_of_preset(preset: str | None) -> str | None:
    """The serving engine a roofline overhead preset stands for (None: no engine)."""
    from tpf.fit.presets import OVERHEAD_PRESETS, resolve_preset

    if preset is None or resolve_preset(preset) not in OVERHEAD_PRESETS:
        return None
    engine = OVERHEAD_PRESETS[resolve_preset(preset)].engine
    return engine if engine in ENGINES else None


def transfer_operating_curve(curve: OperatingCurve, arch: ModelArch, source: HardwareSpec,
                             target: HardwareSpec, a: RooflineAssumptions) -> OperatingCurve:
    """``curve`` carried from ``source`` to ``target`` by roofline ratios per level (an estimate)."""
    n_in = curve.n_in_tokens or REFERENCE_N_IN_TOKENS
    power, throughput = [], []
    for batch, p_src, t_src in zip(curve.batch_size, curve.power_w, curve.throughput_tokens_per_s, strict=True):
        p_from, t_from = _power_and_throughput(arch, source, curve.gpus, a, batch, n_in, curve.n_out_tokens)
        p_to, t_to = _power_and_throughput(arch, target, curve.gpus, a, batch, n_in, curve.n_out_tokens)
        power.append(p_src * p_to / p_from)
        throughput.append(t_src * t_to / t_from)
    return OperatingCurve(
        engine=curve.engine, batch_size=curve.batch_size,
        power_w=tuple(float(p) for p in np.clip(power, target.idle_power_w, target.tdp_w)),
        throughput_tokens_per_s=tuple(float(t) for t in np.maximum.accumulate(throughput)),
        n_out_tokens=curve.n_out_tokens, n_in_tokens=curve.n_in_tokens, tdp_w=target.tdp_w,
        idle_power_w=target.idle_power_w, gpus=curve.gpus, source="estimate",
        data_rows=f"ESTIMATE: transferred from {source.key} by roofline ratios; from: {curve.data_rows}",
    )


def extend_curve(curve: OperatingCurve, arch: ModelArch, hw: HardwareSpec, a: RooflineAssumptions,
                 max_batch: int, low_batch: float = 1.0) -> OperatingCurve:
    """``curve`` (measured levels) extended to ``low_batch .. max_batch`` along the roofline's shape.

    Below the smallest measured level ``b0`` the power per GPU falls toward idle as the roofline's
    does, ``idle + (P(b0) - idle) * (R(b) - idle) / (R(b0) - idle)``, and throughput scales as the
    roofline's, ``T(b0) * R_T(b) / R_T(b0)``; above the largest level ``bn`` up to ``max_batch`` (the
    cap: the card's KV-cache limit) power and throughput follow the roofline's ratios to ``bn``
    (power clipped to idle..TDP, throughput non-decreasing). The added levels are labelled
    extrapolated (``measured_batch_range``); the measured ones are unchanged.
    """
    if curve.measured_batch_range:
        return curve
    n_in = curve.n_in_tokens or REFERENCE_N_IN_TOKENS
    first, last = curve.batch_size[0], curve.batch_size[-1]
    below = [b for b in batch_levels(int(first)) if low_batch <= b < first * (1 - 1e-9)]
    above = [b for b in batch_levels(max_batch) if b > last * (1 + 1e-9)]
    if not below and not above:
        return curve

    def roof(batch: float) -> tuple[float, float]:
        return _power_and_throughput(arch, hw, curve.gpus, a, batch, n_in, curve.n_out_tokens)

    idle = curve.idle_power_w
    (p_first, t_first), (p_last, t_last) = roof(first), roof(last)
    low_p = [idle + (curve.power_w[0] - idle) * (roof(b)[0] - idle) / max(p_first - idle, 1e-9) for b in below]
    low_t = [curve.throughput_tokens_per_s[0] * roof(b)[1] / t_first for b in below]
    high_p = [curve.power_w[-1] * roof(b)[0] / p_last for b in above]
    high_t = [curve.throughput_tokens_per_s[-1] * roof(b)[1] / t_last for b in above]
    power = np.clip([*low_p, *curve.power_w, *high_p], idle, curve.tdp_w)
    throughput = np.maximum.accumulate([*low_t, *curve.throughput_tokens_per_s, *high_t])
    return dataclasses.replace(
        curve, batch_size=(*below, *curve.batch_size, *above), power_w=tuple(float(p) for p in power),
        throughput_tokens_per_s=tuple(float(t) for t in throughput), measured_batch_range=(first, last),
        extrapolation=f"roofline shape on {hw.key}, {curve.gpus} GPU; cap batch {max(max_batch, last):g}")
