"""The token production function (TPF) of a GPU fleet under a facility power cap.

From the energy-to-token position paper (``../shared/seeds/004_*``)::

    tokens_per_s = min(K_eff / c_tok, P_IT / e_tok) * U,    P_IT = P_facility / PUE

* ``K_eff`` (FLOP/s): effective compute of the fleet at the operating point,
  ``gpus * batch_size * c_tok / t_step``, where ``t_step`` is the time of one
  decode step of the batch (mean over ``DECODE_TOKENS`` steps), from the card's
  duration curve or, without one, the roofline. A compute-bound step gives
  ``gpus * dense_tensor_flops_per_s * compute_efficiency``; a memory-bound one
  (decode at small batch) less, which is why it is "effective";
* ``c_tok`` (FLOP/token): forward FLOPs of one generated token at the context
  length (:meth:`tpf.specs.ModelArch.flops_per_token`);
* ``P_IT`` (W): the power the IT equipment may draw, the facility power over PUE;
* ``e_tok`` (J/token): GPU energy of one generated token at (context, batch):
  the decode energy of ``DECODE_TOKENS`` further output tokens after a prompt of
  ``context_tokens``, per token, from an energy card or, without one, from the
  roofline (an estimate);
* ``U`` (0..1): utilization, the share of time the fleet produces tokens.

The first term is the compute ceiling, the second the energy ceiling; the
smaller one binds. Tokens here are generated (output) tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tpf.cards import EnergyCard
from tpf.errors import CardError, ConfigError
from tpf.fit.roofline import RooflineAssumptions, roofline_point
from tpf.specs import HardwareSpec, ModelArch, hardware_spec, model_architecture

DECODE_TOKENS = 16  # output tokens over which e_tok is averaged


@dataclass(frozen=True)
class ProductionCeiling:
    """Both ceilings, which binds, the resulting rate, and every input (units in the names)."""

    model: str
    hardware: str
    gpus: int
    facility_power_w: float
    pue: float
    utilization: float
    context_tokens: float
    batch_size: float
    it_power_w: float
    effective_flops_per_s: float
    flops_per_token: float
    energy_per_token_j: float
    energy_per_token_source: str
    decode_step_s: float
    peak_flops_per_s: float
    compute_ceiling_tokens_per_s: float
    energy_ceiling_tokens_per_s: float
    binding: str
    tokens_per_s: float
    gpu_power_at_compute_ceiling_w: float
    is_estimate: bool
    in_card_range: bool = True


def token_production_rate(
    effective_flops_per_s: float,
    flops_per_token: float,
    it_power_w: float,
    energy_per_token_j: float,
    utilization: float,
) -> tuple[float, float, float, str]:
    """``(tokens_per_s, compute_ceiling, energy_ceiling, binding)``; ``binding`` is
    ``compute`` or ``energy`` (``compute`` on a tie)."""
    compute_ceiling = effective_flops_per_s / flops_per_token
    energy_ceiling = it_power_w / energy_per_token_j
    binding = "compute" if compute_ceiling <= energy_ceiling else "energy"
    return min(compute_ceiling, energy_ceiling) * utilization, compute_ceiling, energy_ceiling, binding


def _input_problems(gpus: int, facility_power_w: float, pue: float, utilization: float,
                    context_tokens: float, batch_size: float) -> list[str]:
    checks = [
        ("gpus", gpus, gpus >= 1 and float(gpus).is_integer(), "an integer >= 1"),
        ("facility_power_w", facility_power_w, facility_power_w > 0, "> 0"),
        ("pue", pue, pue >= 1, ">= 1"),
        ("utilization", utilization, 0 < utilization <= 1, "in (0, 1]"),
        ("context_tokens", context_tokens, context_tokens >= 1, ">= 1"),
        ("batch_size", batch_size, batch_size >= 1, ">= 1"),
    ]
    return [f"ceiling.{name}: must be {rule}, got {value}" for name, value, ok, rule in checks if not ok]


@dataclass(frozen=True)
class DecodeStep:
    """One decode step at (context, batch): J per generated token and s per step of the batch."""

    energy_per_token_j: float
    step_s: float
    source: str
    in_card_range: bool = True


def decode_step(
    arch: ModelArch, hw: HardwareSpec, context_tokens: float, batch_size: float,
    card: EnergyCard | None = None, assumptions: RooflineAssumptions | None = None,
) -> DecodeStep:
    """Mean decode step over ``DECODE_TOKENS`` output tokens after a prompt of ``context_tokens``.

    From the card's energy and duration curves (differences between ``n_out =
    1 + DECODE_TOKENS`` and ``n_out = 1``), or from the roofline without a card.
    A card without a duration curve takes the step time from the roofline.
    """
    longer = 1.0 + DECODE_TOKENS
    base = roofline_point(arch, hw, context_tokens, 1.0, batch_size, assumptions=assumptions)
    more = roofline_point(arch, hw, context_tokens, longer, batch_size, assumptions=assumptions)
    roof_step_s = (more.duration_s - base.duration_s) / DECODE_TOKENS
    if card is None:
        energy = (more.energy_j - base.energy_j) / DECODE_TOKENS
        return DecodeStep(energy, roof_step_s, "roofline (estimate)")
    energy = _card_difference(card.energy_j, context_tokens, longer, batch_size) / DECODE_TOKENS
    step_s = roof_step_s
    if card.duration is not None:
        step_s = _card_difference(card.duration_s, context_tokens, longer, batch_size) / DECODE_TOKENS
    covered = bool(card.in_range(context_tokens, longer, batch_size))
    return DecodeStep(energy, step_s, f"card ({card.source}, {card.method})", covered)


def _card_difference(curve: Callable[..., Any], context: float, longer: float, batch: float) -> float:
    difference = float(curve(context, longer, batch)) - float(curve(context, 1.0, batch))
    if difference <= 0:
        raise CardError(
            f"the card predicts no decode cost at context {context:g}, batch {batch:g} "
            f"(difference {difference:.3g}); cannot derive a per-token figure"
        )
    return difference


def _check_card(card: EnergyCard, arch: ModelArch, hw: HardwareSpec) -> None:
    problems = []
    if model_architecture(card.model).name != arch.name:
        problems.append(f"card.model: the card is for {card.model!r}, the ceiling for {arch.name!r}")
    if hardware_spec(card.hardware).key != hw.key:
        problems.append(f"card.hardware: the card is for {card.hardware!r}, the ceiling for {hw.key!r}")
    if problems:
        raise CardError("; ".join(problems))


def production_ceiling(
    model: str | ModelArch,
    hardware: str | HardwareSpec,
    gpus: int,
    facility_power_w: float,
    pue: float,
    utilization: float,
    context_tokens: float,
    batch_size: float,
    card: EnergyCard | None = None,
    assumptions: RooflineAssumptions | None = None,
) -> ProductionCeiling:
    """Evaluate the token production function at one operating point (see the module docstring)."""
    problems = _input_problems(gpus, facility_power_w, pue, utilization, context_tokens, batch_size)
    if problems:
        raise ConfigError(problems)
    arch, hw = model_architecture(model), hardware_spec(hardware)
    a = assumptions or RooflineAssumptions()
    if card is not None:
        _check_card(card, arch, hw)
    step = decode_step(arch, hw, context_tokens, batch_size, card, a)
    e_tok = step.energy_per_token_j
    c_tok = arch.flops_per_token(context_tokens)
    k_eff = gpus * batch_size * c_tok / step.step_s
    it_power_w = facility_power_w / pue
    rate, compute_ceiling, energy_ceiling, binding = token_production_rate(
        k_eff, c_tok, it_power_w, e_tok, utilization
    )
    return ProductionCeiling(
        model=arch.name, hardware=hw.key, gpus=int(gpus), facility_power_w=facility_power_w,
        pue=pue, utilization=utilization, context_tokens=context_tokens, batch_size=batch_size,
        it_power_w=it_power_w, effective_flops_per_s=k_eff, flops_per_token=c_tok,
        energy_per_token_j=e_tok, energy_per_token_source=step.source,
        decode_step_s=step.step_s, peak_flops_per_s=gpus * hw.dense_tensor_flops_per_s,
        compute_ceiling_tokens_per_s=compute_ceiling, energy_ceiling_tokens_per_s=energy_ceiling,
        binding=binding, tokens_per_s=rate,
        gpu_power_at_compute_ceiling_w=compute_ceiling * e_tok,
        is_estimate=card is None or card.is_estimate, in_card_range=step.in_card_range,
    )
