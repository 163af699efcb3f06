"""Accuracy curve families and their maximum-likelihood fits (used by :mod:`tpf.fit.accuracy`).

Every family here is monotone non-decreasing in its argument ``x`` (a token
budget, or a vote count minus one) and lies in [0, 1]:

* saturating: ``a(x) = a_inf - (a_inf - a_0) * exp(-x / tau)``;
* delayed saturating: ``a(x) = a_0`` for ``x <= b_0``, else
  ``a_inf - (a_inf - a_0) * exp(-(x - b_0) / tau)`` (the saturating family with
  its start moved to ``b_0 >= 0``; ``b_0 = 0`` is the saturating family);
* isotonic: a non-decreasing piecewise-linear curve through the points.

The first two are linear in ``(a_0, a_inf)`` once the shape parameters
(``tau``, and ``b_0``) are fixed: the end points are fitted exactly for each
candidate shape by Fisher scoring under ``0 <= a_0 <= a_inf <= 1``
(:func:`_fit_ends`), and the binomial likelihood is profiled over the shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ZOOM_ROUNDS = 4  # tau search: a 33-point log grid, zoomed 4 times (step / 16 each)
DELAY_GRID_POINTS = 9  # b_0 search, in each interval between budgets: 9 points, tau profiled at
DELAY_ZOOM_ROUNDS = 8  # each, then 9 points on +-1 step around the best, 8 times (step / 4 each)
GRID_POINTS = 33


@dataclass(frozen=True)
class CurvePoints:
    """The pooled points of one curve: x (budget or votes - 1), items and correct counts."""

    x: np.ndarray
    n_items: np.ndarray
    n_correct: np.ndarray

    @property
    def accuracy(self) -> np.ndarray:
        return self.n_correct / self.n_items

    def plus(self, x: float, n_items: float, n_correct: float) -> CurvePoints:
        return CurvePoints(
            np.append(self.x, x), np.append(self.n_items, n_items), np.append(self.n_correct, n_correct)
        )


# --- the saturating and delayed saturating families ------------------------


def _tau_bounds(x: np.ndarray) -> tuple[float, float]:
    positive = x[x > 0]
    low = max(float(positive.min()) / 20.0, 1e-3) if positive.size else 1e-3
    high = max(float(x.max()) * 20.0, 1.0)
    return low, high


def delay_bound(x: np.ndarray) -> float:
    """Upper bound of ``b_0``: the second largest distinct x (at least one point after the start)."""
    distinct = np.unique(x)
    return float(distinct[-2]) if distinct.size >= 2 else 0.0


def _weighted_ends(
    u: np.ndarray, v: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of ``y ~ a_0 * u + a_inf * v`` under ``0 <= a_0 <= a_inf <= 1``.

    One problem per row of ``u, v, w`` (shape ``(n_shapes, n_points)``). The
    optimum is the unconstrained one when feasible, else the best of the optima
    on the three edges (``a_0 = a_inf``, ``a_0 = 0``, ``a_inf = 1``).
    """
    wu, wv = w * u, w * v
    suu, svv, suv = (wu * u).sum(1), (wv * v).sum(1), (wu * v).sum(1)
    suy, svy, sy = wu @ y, wv @ y, w @ y
    with np.errstate(divide="ignore", invalid="ignore"):
        flat = np.clip(sy / w.sum(1), 0, 1)
        zero_start = np.where(svv > 0, np.clip(svy / svv, 0, 1), 0.0)
        full_end = np.where(suu > 0, np.clip((suy - suv) / suu, 0, 1), 1.0)
        det = suu * svv - suv * suv
        free_0, free_inf = (svv * suy - suv * svy) / det, (suu * svy - suv * suy) / det
    ones, zeros = np.ones_like(flat), np.zeros_like(flat)
    starts = np.stack([flat, zeros, full_end, np.nan_to_num(free_0)], axis=1)
    ends = np.stack([flat, zero_start, ones, np.nan_to_num(free_inf)], axis=1)
    feasible = (det > 1e-12 * suu * svv) & (free_0 >= -1e-12) & (free_0 <= free_inf + 1e-12) & (free_inf <= 1 + 1e-12)
    # weighted squared error of each candidate, expanded (the sum of w y^2 is common to all)
    losses = (starts * starts * suu[:, None] + ends * ends * svv[:, None] + 2 * starts * ends * suv[:, None]
              - 2 * starts * suy[:, None] - 2 * ends * svy[:, None])
    losses[:, 3] = np.where(feasible, losses[:, 3], np.inf)
    pick = np.argmin(losses, axis=1)
    rows = np.arange(len(pick))
    start = np.clip(starts[rows, pick], 0, 1)
    return start, np.maximum(np.clip(ends[rows, pick], 0, 1), start)  # a_0 <= a_inf exactly


def _fit_ends_shaped(
    points: CurvePoints, decay: np.ndarray, iterations: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood ``(a_0, a_inf)`` of ``a = a_0 * decay + a_inf * (1 - decay)``, per row.

    ``decay`` (shape ``(n_shapes, n_points)``, values in [0, 1]) is the share of
    ``a_0`` left at each point for one candidate shape. The curve is linear in
    ``(a_0, a_inf)``; Fisher scoring (weighted least squares with weights
    ``n / (p (1 - p))``, re-weighted ``iterations`` times at most) converges to
    the binomial maximum-likelihood estimate. Returns ``a_0``, ``a_inf`` and the
    negative log-likelihood per item of each row.
    """
    y = points.accuracy
    p = np.broadcast_to(np.clip(y, 0.02, 0.98), decay.shape)
    for _ in range(iterations):
        a_0, a_inf = _weighted_ends(decay, 1.0 - decay, y, points.n_items / (p * (1.0 - p)))
        p_new = np.clip(a_0[:, None] * decay + a_inf[:, None] * (1.0 - decay), 1e-6, 1 - 1e-6)
        converged = np.max(np.abs(p_new - p)) < 1e-13
        p = p_new
        if converged:
            break
    curve = np.clip(a_inf[:, None] - (a_inf - a_0)[:, None] * decay, 1e-12, 1 - 1e-12)
    n_wrong = points.n_items - points.n_correct
    loglik = (points.n_correct * np.log(curve) + n_wrong * np.log1p(-curve)).sum(1)
    return a_0, a_inf, -loglik / points.n_items.sum()


def _decay(x: np.ndarray, taus: np.ndarray, delays: np.ndarray | float = 0.0) -> np.ndarray:
    """``exp(-max(x - b_0, 0) / tau)`` for each (tau, b_0) row: shape ``(n_shapes, n_points)``."""
    shifted = x[None, :] - np.reshape(np.asarray(delays, float), (-1, 1))
    return np.exp(-np.maximum(shifted, 0.0) / taus[:, None])


def _fit_ends(
    points: CurvePoints, taus: np.ndarray, iterations: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood ``(a_0, a_inf)`` of the saturating curve for each fixed tau."""
    return _fit_ends_shaped(points, _decay(points.x, taus), iterations)


def fit_saturating(points: CurvePoints, tau_fixed: float | None = None) -> dict[str, float]:
    """Binomial maximum-likelihood fit of ``(a_0, a_inf, tau)`` under ``0 <= a_0 <= a_inf <= 1``.

    The likelihood is profiled over tau: for each tau the end points are fitted
    exactly (:func:`_fit_ends`); tau is searched on a log grid between
    ``min(x > 0) / 20`` and ``20 * max(x)``, then on finer grids around the
    best point (each round narrows the step 16-fold). ``tau_fixed`` fixes tau
    (the fallback rule). Returns ``{"a_0", "a_inf", "tau"}``.
    """
    if tau_fixed is not None:
        a_0, a_inf, _ = _fit_ends(points, np.asarray([float(tau_fixed)]))
        return {"a_0": float(a_0[0]), "a_inf": float(a_inf[0]), "tau": float(tau_fixed)}
    low, high = np.log(_tau_bounds(points.x))
    grid = np.linspace(low, high, GRID_POINTS)
    for _ in range(ZOOM_ROUNDS):
        nll = _fit_ends(points, np.exp(grid), iterations=4)[2]
        best = int(np.argmin(nll))
        step = grid[1] - grid[0]
        grid = np.linspace(max(grid[best] - step, low), min(grid[best] + step, high), GRID_POINTS)
    log_tau = _parabola_vertex(grid, _fit_ends(points, np.exp(grid), iterations=4)[2])
    a_0, a_inf, _ = _fit_ends(points, np.asarray([math.exp(log_tau)]))
    return {"a_0": float(a_0[0]), "a_inf": float(a_inf[0]), "tau": math.exp(log_tau)}


def fit_delayed(points: CurvePoints, shape_fixed: tuple[float, float] | None = None) -> dict[str, float]:
    """Binomial maximum-likelihood fit of the delayed saturating curve ``(a_0, a_inf, tau, b_0)``.

    Bounds: ``0 <= a_0 <= a_inf <= 1``, ``tau`` between ``min(x > 0) / 20`` and
    ``20 * max(x)``, ``0 <= b_0 <=`` the second largest distinct x. The
    likelihood is profiled over ``(b_0, tau)`` (:func:`_search_delay_shape`):
    ``b_0`` is searched in each interval between consecutive budgets, tau is
    profiled at each ``b_0`` as in :func:`fit_saturating`. ``shape_fixed =
    (tau, b_0)`` fixes the shape (the fallback rule). Returns ``{"a_0", "a_inf", "tau", "b_0"}``.
    """
    if shape_fixed is not None:
        tau, b_0 = float(shape_fixed[0]), float(shape_fixed[1])
    else:
        tau, b_0 = _search_delay_shape(points)
    a_0, a_inf, _ = _fit_ends_shaped(points, _decay(points.x, np.asarray([tau]), b_0))
    return {"a_0": float(a_0[0]), "a_inf": float(a_inf[0]), "tau": tau, "b_0": b_0}


def _search_delay_shape(points: CurvePoints) -> tuple[float, float]:
    """``(tau, b_0)`` of the best profiled likelihood.

    The profile is smooth in ``b_0`` between consecutive budgets and may have a
    minimum in each such interval, so every interval of ``[0, delay_bound]`` is
    searched apart: a grid of DELAY_GRID_POINTS, zoomed DELAY_ZOOM_ROUNDS times
    around its best point, tau profiled at each ``b_0``. Among (numerically)
    equal likelihoods the smallest ``b_0`` wins.
    """
    edges = _delay_intervals(points.x)
    low, high = edges[:-1], edges[1:]
    fractions = np.linspace(0.0, 1.0, DELAY_GRID_POINTS)
    rows = np.arange(low.size)
    for _ in range(DELAY_ZOOM_ROUNDS + 1):
        delays = low[:, None] + (high - low)[:, None] * fractions[None, :]
        log_taus, nll = (a.reshape(delays.shape) for a in _profile_tau(points, delays.ravel()))
        best = _first_minimum(nll)
        centre, step = delays[rows, best], (high - low) / (DELAY_GRID_POINTS - 1)
        low, high = np.maximum(centre - step, edges[:-1]), np.minimum(centre + step, edges[1:])
    winner = int(_first_minimum(nll[rows, best][None, :])[0])
    return math.exp(float(log_taus[winner, best[winner]])), float(centre[winner])


def _delay_intervals(x: np.ndarray) -> np.ndarray:
    """Edges of the b_0 intervals: 0, the budgets below :func:`delay_bound`, and that bound."""
    bound = delay_bound(x)
    inner = np.unique(x[(x > 0) & (x < bound)])
    return np.concatenate([[0.0], inner, [bound]])


def _first_minimum(values: np.ndarray) -> np.ndarray:
    """Per row, the first index whose value is within 1e-12 (relative) of the row's minimum."""
    floor = values.min(axis=1, keepdims=True)
    return np.argmax(values <= floor + 1e-12 * np.abs(floor), axis=1)


def _profile_tau(points: CurvePoints, delays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each b_0 of ``delays``: the best log tau (a log grid zoomed ZOOM_ROUNDS times) and its NLL."""
    low, high = np.log(_tau_bounds(points.x))
    grids = np.tile(np.linspace(low, high, GRID_POINTS), (delays.size, 1))
    rows = np.arange(delays.size)
    for _ in range(ZOOM_ROUNDS + 1):
        nll = _fit_ends_shaped(
            points, _decay(points.x, np.exp(grids.ravel()), np.repeat(delays, GRID_POINTS)), iterations=4
        )[2].reshape(grids.shape)
        best = np.argmin(nll, axis=1)
        centre, step = grids[rows, best], grids[:, 1] - grids[:, 0]
        lows, highs = np.maximum(centre - step, low), np.minimum(centre + step, high)
        grids = lows[:, None] + (highs - lows)[:, None] * np.linspace(0.0, 1.0, GRID_POINTS)[None, :]
    return centre, nll[rows, best]


def _parabola_vertex(grid: np.ndarray, values: np.ndarray) -> float:
    """The minimum of the parabola through the best grid point and its neighbours."""
    best = int(np.argmin(values))
    if best in (0, len(grid) - 1):
        return float(grid[best])
    x0, x1 = grid[best - 1], grid[best]
    y0, y1, y2 = values[best - 1], values[best], values[best + 1]
    curvature = y0 - 2 * y1 + y2
    if curvature <= 0:
        return float(x1)
    return float(x1 + 0.5 * (x1 - x0) * (y0 - y2) / curvature)


# --- the interpolated (isotonic) family ------------------------------------


def fit_isotonic(points: CurvePoints) -> dict[str, list[float]]:
    """Weighted isotonic regression (pool adjacent violators), weights ``n_items``.

    Returns the knots of a non-decreasing piecewise-linear curve.
    """
    order = np.argsort(points.x, kind="stable")
    xs = points.x[order]
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for value, weight in zip(points.accuracy[order], points.n_items[order], strict=True):
        blocks.append([value * weight, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, weight_sum, count = blocks.pop()
            blocks[-1] = [blocks[-1][0] + total, blocks[-1][1] + weight_sum, blocks[-1][2] + count]
    fitted = [b[0] / b[1] for b in blocks for _ in range(int(b[2]))]
    return {"knots_x": [float(x) for x in xs], "knots_acc": [float(a) for a in fitted]}
