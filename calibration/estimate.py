"""Roofline estimates of a window's time and energy (labelled estimate mode).

A thin adapter from a sweep :class:`~calibration.meters.Window` to
:func:`tpf.fit.roofline.roofline_point`, used by
:class:`~calibration.meters.EstimateMeter` and by the dry run that predicts how
long a GPU sweep takes. Every number it returns is an estimate, never a
measurement. tpf.fit.roofline (numpy, scipy) is imported only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpf.specs import ModelArch

if TYPE_CHECKING:
    from calibration.meters import Window

# Host and kernel-launch time per forward pass of eager PyTorch + transformers,
# per layer (s). An assumption (no measurement behind it) used for the dry-run
# duration estimate: about 13 ms per pass for a 32-layer model.
EAGER_OVERHEAD_PER_LAYER_S = 4e-4


def roofline_assumptions(arch: ModelArch, eager: bool = True, **overrides: Any) -> Any:
    """Roofline assumptions for a window run by eager transformers (``eager``) or a serving engine."""
    from tpf.fit.roofline import RooflineAssumptions

    overhead_s = arch.num_hidden_layers * EAGER_OVERHEAD_PER_LAYER_S if eager else 0.0
    return RooflineAssumptions(**{"step_overhead_s": overhead_s, **overrides})


def estimate_window(
    arch: ModelArch, hardware: str, window: Window, assumptions: Any = None
) -> tuple[float, float]:
    """Estimated ``(duration_s, energy_j)`` of one window (all ``batch_size`` requests)."""
    from tpf.fit.roofline import roofline_point

    point = roofline_point(
        arch, hardware, max(window.n_in_tokens, 1), max(window.n_out_tokens, 1),
        max(window.batch_size, 1), assumptions=assumptions,
    )
    batch = max(window.batch_size, 1)
    if window.phase == "prefill":
        return point.prefill_s, point.prefill_energy_j * batch
    if window.phase == "decode":
        return point.decode_s, point.decode_energy_j * batch
    return point.duration_s, point.energy_j * batch
