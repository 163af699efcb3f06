"""Transfer a measured energy card from one GPU to another by roofline ratios.

An ESTIMATE, labelled so on the card (``source: estimate``,
``method: transfer from <hardware> (<ratio|split>)``).

Two methods, both point by point at ``x = (n_in, n_out, batch_size)``, with
``E_roof``/``T_roof`` the roofline energy per request and window time
(:mod:`tpf.fit.roofline`) of the same model on each GPU:

* ``ratio``: ``E_to = E_src * E_roof_to / E_roof_from`` and
  ``T_to = T_src * T_roof_to / T_roof_from``. The ratio's prefill
  (compute-bound) and decode (memory-bound) parts weigh in as they do at that
  point: a long prompt scales by the compute and power ratios, a long
  generation by the bandwidth and power ratios.
* ``split`` (needs the source's duration): the measured time is split into a
  GPU-bound part ``t_gpu = min(T_src, T_roof_from)``, which scales with the
  roofline, and a host-bound remainder ``T_src - t_gpu`` (scheduling, launches,
  Python), assumed the same on both GPUs. The energy drawn while the host is
  the bottleneck is ``E_host = max(0, min(E_src - E_roof_from * t_gpu / T_roof_from,
  E_src * (T_src - t_gpu) / T_src))`` (what the roofline leaves unexplained, at
  most the host-bound share of the time) and scales with the boards' idle
  power; the rest, ``E_src - E_host``, scales by the roofline energy ratio.
  When the measurement is as fast as the roofline, ``split`` equals ``ratio``.

The transferred points are refitted with the card's own family on a grid inside
the card's valid range, so the result has the standard form; ``fit_quality``
records that refit's error against the transferred points.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, replace

import numpy as np

from tpf.cards import CurveFit, EnergyCard
from tpf.errors import CardError, ConfigError
from tpf.families import FloatArray
from tpf.fit.operating_roofline import transfer_operating_curve
from tpf.fit.roofline import (
    RooflineAssumptions,
    fit_family_relative,
    kv_budget_bytes,
    roofline_grid,
)
from tpf.specs import HardwareSpec, ModelArch, hardware_spec, model_architecture

TRANSFER_METHODS = ("ratio", "split")


def transfer_values(
    model: str | ModelArch,
    from_hardware: str | HardwareSpec,
    to_hardware: str | HardwareSpec,
    n_in: FloatArray,
    n_out: FloatArray,
    batch_size: FloatArray,
    energy_j: FloatArray,
    duration_s: FloatArray | None = None,
    gpus: int = 1,
    assumptions: RooflineAssumptions | None = None,
    method: str = "split",
) -> tuple[FloatArray, FloatArray | None]:
    """Energy per request (J) and window time (s) on ``to_hardware`` from values measured on
    ``from_hardware`` at the same points; ``duration_s`` None gives None back (and forces ``ratio``)."""
    if method not in TRANSFER_METHODS:
        raise ConfigError(f"transfer.method: must be one of {TRANSFER_METHODS}, got {method!r}")
    arrays = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (n_in, n_out, batch_size)]
    n_in_a, n_out_a, batch_a = np.broadcast_arrays(*arrays)
    src, dst = hardware_spec(from_hardware), hardware_spec(to_hardware)
    e_from, t_from = roofline_grid(model, src, n_in_a, n_out_a, batch_a, gpus, assumptions)
    e_to, t_to = roofline_grid(model, dst, n_in_a, n_out_a, batch_a, gpus, assumptions)
    energy = np.asarray(energy_j, dtype=np.float64)
    if duration_s is None:
        return energy * e_to / e_from, None
    duration = np.asarray(duration_s, dtype=np.float64)
    if method == "ratio":
        return energy * e_to / e_from, duration * t_to / t_from
    t_gpu = np.minimum(duration, t_from)
    host_s = duration - t_gpu
    e_host = np.minimum(energy - e_from * t_gpu / t_from, energy * host_s / duration)
    e_host = np.maximum(e_host, 0.0)
    host_power_ratio = dst.idle_power_w / src.idle_power_w if src.idle_power_w > 0 else 1.0
    energy_to = (energy - e_host) * e_to / e_from + e_host * host_power_ratio
    return energy_to, t_gpu * t_to / t_from + host_s


def _card_grid(card: EnergyCard) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A log-spaced grid over the card's valid range (integer token counts, 8 x 8 x up to 8)."""

    def axis(low: float, high: float, count: int) -> FloatArray:
        return np.unique(np.round(np.geomspace(max(low, 1.0), max(high, 1.0), count)))

    vr = card.valid_range
    grid = np.array(np.meshgrid(
        axis(*vr.n_in_tokens, 8), axis(*vr.n_out_tokens, 8), axis(*vr.batch_size, 8), indexing="ij"
    )).reshape(3, -1)
    return grid[0], grid[1], grid[2]


def _refit(curve: CurveFit, n_in: FloatArray, n_out: FloatArray, batch: FloatArray,
           values: FloatArray) -> tuple[CurveFit, dict[str, float]]:
    nonnegative = all(c >= 0 for c in curve.coefficients)
    coefficients, quality = fit_family_relative(
        curve.family, curve.target, n_in, n_out, batch, values, nonnegative=nonnegative
    )
    return CurveFit(curve.family, coefficients, curve.target), quality


def _scaled_max_batch(card: EnergyCard, arch: ModelArch, source: HardwareSpec,
                      target: HardwareSpec, a: RooflineAssumptions) -> int:
    """The card's max batch size scaled by the KV-cache memory left on each GPU."""
    gpus = card.gpus_per_replica
    ratio = kv_budget_bytes(arch, target, gpus, a) / kv_budget_bytes(arch, source, gpus, a)
    return max(1, int(card.max_batch_size * ratio))


def transfer_card(
    card: EnergyCard,
    to_hardware: str | HardwareSpec,
    assumptions: RooflineAssumptions | None = None,
    method: str = "split",
) -> EnergyCard:
    """Rescale ``card`` (measured on ``card.hardware``) to ``to_hardware``; see the module docstring."""
    try:
        arch = model_architecture(card.model)
        source = hardware_spec(card.hardware)
    except ConfigError as exc:
        raise CardError(f"transfer of card {card.model}@{card.hardware}: {exc}") from exc
    target = hardware_spec(to_hardware)
    a = assumptions or RooflineAssumptions()
    n_in, n_out, batch = _card_grid(card)
    if card.duration is None:
        method = "ratio"
    source_energy = card.energy_j(n_in, n_out, batch)
    source_duration = card.duration_s(n_in, n_out, batch) if card.duration is not None else None
    new_energy, new_duration = transfer_values(
        arch, source, target, n_in, n_out, batch, source_energy, source_duration,
        card.gpus_per_replica, a, method,
    )
    energy, e_quality = _refit(card.energy, n_in, n_out, batch, new_energy)
    fit_quality = {f"{energy.family} energy_j vs transferred points": e_quality}
    duration = None
    if card.duration is not None and new_duration is not None:
        duration, d_quality = _refit(card.duration, n_in, n_out, batch, new_duration)
        fit_quality[f"{duration.family} duration_s vs transferred points"] = d_quality
    e_ratio = new_energy / source_energy
    provenance = {
        "method": f"transfer from {source.key} (tpf.fit.transfer, method {method})",
        "from_card": {"hardware": card.hardware, "source": card.source, "method": card.method,
                      "data_sha256": card.data_sha256},
        "energy_ratio_range": [float(e_ratio.min()), float(e_ratio.max())],
        "hardware_sources": list(target.sources),
        "assumptions": asdict(a),
        "from_provenance": copy.deepcopy(card.provenance),
    }
    return replace(
        card,
        hardware=target.key,
        energy=energy,
        duration=duration,
        idle_power_w=target.idle_power_w,
        max_batch_size=_scaled_max_batch(card, arch, source, target, a),
        source="estimate",
        method=f"transfer from {source.key} ({method})",
        fit_quality=fit_quality,
        provenance=provenance,
        notes=(f"ESTIMATE: {card.source} card of {card.model} on {source.key} rescaled to "
               f"{target.key} by roofline ratios, method {method} (tpf.fit.transfer)"),
        # published anchors belong to the source GPU; operating curves are carried by roofline ratios
        anchors=[],
        operating_curves=[transfer_operating_curve(c, arch, source, target, a) for c in card.operating_curves],
    )
