"""The curve families of TPF cards: request energy and duration, and accuracy.

Accuracy families (:data:`ACCURACY_FAMILIES`, evaluated by
:func:`evaluate_accuracy_family`; fitted by :mod:`tpf.fit.accuracy_families`)
share one saturating curve, :func:`saturating`.

Energy and duration families:

Every family is linear in its coefficients: a family is a feature map
``features(n_in, n_out, batch_size) -> (n_points, n_coefficients)`` and a
prediction is ``features @ coefficients``. That keeps fitting exact (least
squares, non-negative where the physics says so) and prediction vectorized.

Targets (units in the names):

* ``energy_j``: GPU energy of one request, in J. A batch window that served
  ``batch_size`` requests contributes ``energy_j_window / batch_size``.
* ``duration_s``: wall time of the window that served the request, in s
  (the request's latency at that batch size, queueing excluded).

Families:

* ``bilinear`` (Wilkins, Keshav, Mortier 2024):
  ``E = a0*n_in + a1*n_out + a2*n_in*n_out``.
* ``phase_quadratic``: prefill plus a sum over decode steps whose cost grows
  with the context length, the attention term:
  ``E = p0 + p1*n_in + p2*n_in**2 + c0*n_out + c1*sum_{k<n_out}(n_in + k)``,
  where the sum is ``n_out*n_in + n_out*(n_out-1)/2``.
* ``<base>+batch``: the base family's features twice, once divided by the batch
  size (the static share, amortized over the batch: ``e_static/B``) and once as
  is (the dynamic share, ``e_dyn``); for durations the second copy is
  multiplied by the batch size instead (a window takes longer when fuller).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tpf.errors import CardError

FloatArray = NDArray[np.float64]


def _as_float(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def bilinear_features(n_in: FloatArray, n_out: FloatArray) -> FloatArray:
    return np.column_stack([n_in, n_out, n_in * n_out])


def phase_quadratic_features(n_in: FloatArray, n_out: FloatArray) -> FloatArray:
    context_sum = n_out * n_in + n_out * (n_out - 1.0) / 2.0
    return np.column_stack([np.ones_like(n_in), n_in, n_in**2, n_out, context_sum])


@dataclass(frozen=True)
class Family:
    """A named feature map; ``coefficient_names`` label the card's coefficients."""

    name: str
    coefficient_names: tuple[str, ...]
    base_features: Callable[[FloatArray, FloatArray], FloatArray]
    batch_aware: bool = False

    @property
    def n_coefficients(self) -> int:
        return len(self.coefficient_names)

    def features(
        self,
        n_in: ArrayLike,
        n_out: ArrayLike,
        batch_size: ArrayLike = 1.0,
        target: str = "energy_j",
    ) -> FloatArray:
        n_in_f, n_out_f = np.broadcast_arrays(_as_float(n_in), _as_float(n_out))
        base = self.base_features(np.ravel(n_in_f), np.ravel(n_out_f))
        if not self.batch_aware:
            return base
        batch = np.broadcast_to(_as_float(batch_size), n_in_f.shape).ravel()[:, None]
        if target == "energy_j":
            return np.hstack([base / batch, base])
        if target == "duration_s":
            return np.hstack([base, base * batch])
        raise ValueError(f"target must be 'energy_j' or 'duration_s', got {target!r}")

    def predict(
        self,
        coefficients: ArrayLike,
        n_in: ArrayLike,
        n_out: ArrayLike,
        batch_size: ArrayLike = 1.0,
        target: str = "energy_j",
    ) -> FloatArray:
        shape = np.broadcast_shapes(np.shape(n_in), np.shape(n_out), np.shape(batch_size))
        n_in_b = np.broadcast_to(_as_float(n_in), shape)
        n_out_b = np.broadcast_to(_as_float(n_out), shape)
        batch_b = np.broadcast_to(_as_float(batch_size), shape)
        prediction = self.features(n_in_b, n_out_b, batch_b, target) @ _as_float(coefficients)
        return prediction.reshape(shape)


_BILINEAR_NAMES = ("a_in_j", "a_out_j", "a_in_out_j")
_PHASE_NAMES = ("p_const_j", "p_in_j", "p_in2_j", "c_step_j", "c_ctx_j")


def _batch_names(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{n}_static" for n in names) + tuple(f"{n}_dyn" for n in names)


FAMILIES: dict[str, Family] = {
    "bilinear": Family("bilinear", _BILINEAR_NAMES, bilinear_features),
    "phase_quadratic": Family("phase_quadratic", _PHASE_NAMES, phase_quadratic_features),
    "bilinear+batch": Family(
        "bilinear+batch", _batch_names(_BILINEAR_NAMES), bilinear_features, batch_aware=True
    ),
    "phase_quadratic+batch": Family(
        "phase_quadratic+batch", _batch_names(_PHASE_NAMES), phase_quadratic_features, batch_aware=True
    ),
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(
            f"unknown curve family {name!r}; known families: {', '.join(sorted(FAMILIES))}"
        ) from None


# --- accuracy families ---------------------------------------------------------


def saturating(x: ArrayLike, a_0: float, a_inf: float, tau: float) -> FloatArray:
    """``a_inf - (a_inf - a_0) * exp(-x / tau)`` for x >= 0 (``a_0`` for x < 0); monotone in x."""
    return a_inf - (a_inf - a_0) * np.exp(-np.maximum(np.asarray(x, np.float64), 0.0) / tau)


def delayed_saturating(x: ArrayLike, a_0: float, a_inf: float, tau: float, b_0: float) -> FloatArray:
    """``a_0`` up to ``x = b_0``, then ``a_inf - (a_inf - a_0) * exp(-(x - b_0) / tau)``."""
    return saturating(np.asarray(x, float) - b_0, a_0, a_inf, tau)


ACCURACY_FAMILIES = (
    "constant", "saturating_budget", "saturating_budget_delayed", "saturating_votes", "interpolated"
)


def evaluate_accuracy_family(family: str, params: dict[str, Any], x: ArrayLike) -> FloatArray:
    """Evaluate an accuracy curve (a fraction in [0, 1]) at ``x``.

    * ``constant``: ``acc``.
    * ``saturating_budget`` (x = CoT budget in tokens):
      ``a_inf - (a_inf - a_0) * exp(-x / tau_tokens)``; monotone in x.
    * ``saturating_budget_delayed`` (x = CoT budget in tokens): ``a_0`` up to
      ``x = b0_tokens``, then ``a_inf - (a_inf - a_0) * exp(-(x - b0_tokens) / tau_tokens)``;
      monotone in x (the saturating curve with its start delayed by ``b0_tokens >= 0``).
    * ``saturating_votes`` (x = vote count k >= 1):
      ``a_inf - (a_inf - a_1) * exp(-(k - 1) / tau_votes)``; monotone in k.
    * ``interpolated``: piecewise-linear through ``knots_x``/``knots_acc``
      (made monotone by the fitter), flat outside the knots.
    """
    x_arr = np.asarray(x, dtype=np.float64)
    if family == "constant":
        return np.full_like(x_arr, float(params["acc"]))
    if family in ("saturating_budget", "saturating_budget_delayed"):
        b0 = float(params["b0_tokens"]) if family == "saturating_budget_delayed" else 0.0
        return saturating(x_arr - b0, float(params["a_0"]), float(params["a_inf"]), float(params["tau_tokens"]))
    if family == "saturating_votes":
        return saturating(x_arr - 1.0, float(params["a_1"]), float(params["a_inf"]), float(params["tau_votes"]))
    if family == "interpolated":
        return np.interp(x_arr, np.asarray(params["knots_x"], float), np.asarray(params["knots_acc"], float))
    raise CardError(f"unknown accuracy family {family!r}; known: {', '.join(ACCURACY_FAMILIES)}")
