"""Accuracy curve fitting: accuracy table -> :class:`~tpf.cards.AccuracyCard`.

One curve per (model, category, strategy):

* ``zero_shot``: a constant, the pooled ``sum(n_correct) / sum(n_items)``.
* ``cot``: ``a(b) = a_inf - (a_inf - a_0) * exp(-b / tau_tokens)`` in the token
  budget ``b`` (family ``saturating_budget``).
* ``mv``: ``a(k) = a_inf - (a_inf - a_1) * exp(-(k - 1) / tau_votes)`` in the
  vote count ``k`` (family ``saturating_votes``).

Saturating curves are fitted by maximum binomial likelihood (each point is
``n_correct`` successes out of ``n_items``) under the bounds
``0 <= a_0 <= a_inf <= 1`` and ``tau > 0``, so every fitted curve is monotone
non-decreasing. With fewer than three distinct budgets (or vote counts) the
shape is not identifiable and a documented fallback applies:

1. the zero-shot accuracy of the same (model, category) is added as the point
   at ``b = 0`` (for ``mv`` without a reasoning budget, as the point at
   ``k = 1``: one vote is a zero-shot answer), unless the curve already has it;
2. ``tau`` is fixed at a prior (:class:`AccuracyPriors`), and only ``a_0`` and
   ``a_inf`` are fitted.

Such curves carry ``params["fallback"]`` naming the rule and ``source:
estimate``. Every curve carries its leave-one-x-out mean absolute error
(``heldout_mae``: each distinct budget or vote count is predicted by a curve
fitted without it) where it has at least two distinct points; the card's
intervals are Wilson score intervals for the curve's ``n_items``.

The optional family ``interpolated`` (``family="interpolated"``) fits a
monotone piecewise-linear curve instead (weighted isotonic regression through
the points), for data whose shape is not exponential; ``family="auto"``
keeps, per curve, whichever of the two has the smaller held-out error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tpf.cards import STRATEGIES, AccuracyCard, AccuracyCurve
from tpf.errors import DataError, FitError
from tpf.schema import aggregate_accuracy, validate_accuracy

# Prior time constants for the fallback rule; curves using them say so.
# Tokens: the tau of the saturating curve fitted to the MMLU-Pro CoT truncation
# curve of Llama-3.1-8B-Instruct over all categories (budgets 0..512 words),
# 92.5 tokens (benchmarks/accuracy_fit_mmlu_pro.py). Votes: an assumption (no
# vote-count curve was available): 63% of the majority-vote gain by 4 votes,
# 99% by 16.
DEFAULT_TAU_TOKENS = 92.0
DEFAULT_TAU_VOTES = 3.0
FIT_FAMILIES = ("saturating", "interpolated", "auto")
MIN_POINTS_FOR_SHAPE = 3
ZOOM_ROUNDS = 4  # tau search: a 33-point log grid, zoomed 4 times (step / 16 each)

CurveKey = tuple[str, str, str]


@dataclass(frozen=True)
class AccuracyPriors:
    """Time constants used when a curve has too few points to fit its shape.

    ``tau_tokens`` (tokens) for chain-of-thought curves, ``tau_votes`` (votes)
    for majority-vote curves; ``per_curve_tau`` overrides either for one
    (model, category, strategy), with ``per_curve_note`` saying where it came from.
    """

    tau_tokens: float = DEFAULT_TAU_TOKENS
    tau_votes: float = DEFAULT_TAU_VOTES
    per_curve_tau: Mapping[CurveKey, float] = field(default_factory=dict)
    per_curve_note: Mapping[CurveKey, str] = field(default_factory=dict)

    def tau(self, key: CurveKey) -> float:
        if key in self.per_curve_tau:
            return float(self.per_curve_tau[key])
        return self.tau_votes if key[2] == "mv" else self.tau_tokens

    def note(self, key: CurveKey) -> str:
        if key in self.per_curve_note:
            return self.per_curve_note[key]
        unit = "votes" if key[2] == "mv" else "tokens"
        return f"default prior tau = {self.tau(key):g} {unit}"


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


# --- the saturating family ---------------------------------------------------


def saturating(x: np.ndarray, a_0: float, a_inf: float, tau: float) -> np.ndarray:
    """``a_inf - (a_inf - a_0) * exp(-x / tau)`` for x >= 0 (x = budget, or votes - 1)."""
    return a_inf - (a_inf - a_0) * np.exp(-np.maximum(x, 0.0) / tau)


def _tau_bounds(x: np.ndarray) -> tuple[float, float]:
    positive = x[x > 0]
    low = max(float(positive.min()) / 20.0, 1e-3) if positive.size else 1e-3
    high = max(float(x.max()) * 20.0, 1.0)
    return low, high


def _weighted_ends(
    u: np.ndarray, v: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of ``y ~ a_0 * u + a_inf * v`` under ``0 <= a_0 <= a_inf <= 1``.

    One problem per row of ``u, v, w`` (shape ``(n_taus, n_points)``). The
    optimum is the unconstrained one when feasible, else the best of the optima
    on the three edges (``a_0 = a_inf``, ``a_0 = 0``, ``a_inf = 1``).
    """
    suu, svv, suv = (w * u * u).sum(1), (w * v * v).sum(1), (w * u * v).sum(1)
    suy, svy, sy = (w * u * y).sum(1), (w * v * y).sum(1), (w * y).sum(1)
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
    residual = y[None, :, None] - starts[:, None, :] * u[:, :, None] - ends[:, None, :] * v[:, :, None]
    losses = (w[:, :, None] * residual**2).sum(1)
    losses[:, 3] = np.where(feasible, losses[:, 3], np.inf)
    pick = np.argmin(losses, axis=1)
    rows = np.arange(len(pick))
    return np.clip(starts[rows, pick], 0, 1), np.clip(ends[rows, pick], 0, 1)


def _fit_ends(
    points: CurvePoints, taus: np.ndarray, iterations: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood ``(a_0, a_inf)`` for each fixed tau, and the likelihoods.

    For a fixed tau the curve is linear in ``(a_0, a_inf)``; Fisher scoring
    (weighted least squares with weights ``n / (p (1 - p))``, re-weighted
    ``iterations`` times at most) converges to the binomial maximum-likelihood
    estimate.
    """
    decay = np.exp(-np.maximum(points.x, 0.0)[None, :] / taus[:, None])
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
    grid = np.linspace(low, high, 33)
    for _ in range(ZOOM_ROUNDS):
        nll = _fit_ends(points, np.exp(grid), iterations=4)[2]
        best = int(np.argmin(nll))
        step = grid[1] - grid[0]
        grid = np.linspace(max(grid[best] - step, low), min(grid[best] + step, high), 33)
    log_tau = _parabola_vertex(grid, _fit_ends(points, np.exp(grid), iterations=4)[2])
    a_0, a_inf, _ = _fit_ends(points, np.asarray([math.exp(log_tau)]))
    return {"a_0": float(a_0[0]), "a_inf": float(a_inf[0]), "tau": math.exp(log_tau)}


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


# --- one curve --------------------------------------------------------------


@dataclass(frozen=True)
class CurveRule:
    """How one curve is fitted: the family, whether tau is fixed, and why."""

    family: str  # "saturating" or "interpolated"
    tau_fixed: float | None = None
    fallback: str = ""


def _choose_rule(points: CurvePoints, family: str, prior_tau: float, prior_note: str) -> CurveRule:
    if len(np.unique(points.x)) >= MIN_POINTS_FOR_SHAPE:
        return CurveRule(family)
    return CurveRule("saturating", prior_tau, f"fewer than {MIN_POINTS_FOR_SHAPE} distinct points: "
                     f"tau fixed at {prior_tau:g} ({prior_note})")


def _predict(points: CurvePoints, rule: CurveRule, x_new: np.ndarray) -> np.ndarray:
    if rule.family == "interpolated":
        knots = fit_isotonic(points)
        return np.interp(x_new, knots["knots_x"], knots["knots_acc"])
    params = fit_saturating(points, rule.tau_fixed)
    return saturating(x_new, params["a_0"], params["a_inf"], params["tau"])


def leave_one_x_out_mae(points: CurvePoints, rule: CurveRule, prior_tau: float) -> float | None:
    """Mean absolute error at each distinct x, predicted by a fit without that x.

    Defined for curves with at least three distinct points (with two, leaving
    one out leaves nothing to learn a slope from: ``None``). A held-out fit left
    with fewer than three distinct points uses the fallback rule (tau fixed at
    ``prior_tau``).
    """
    if len(np.unique(points.x)) < MIN_POINTS_FOR_SHAPE:
        return None
    errors = []
    for x_out in np.unique(points.x):
        held = points.x == x_out
        rest = CurvePoints(points.x[~held], points.n_items[~held], points.n_correct[~held])
        if rest.x.size == 0:
            continue
        rest_rule = rule if len(np.unique(rest.x)) >= MIN_POINTS_FOR_SHAPE else CurveRule(
            "saturating", rule.tau_fixed if rule.tau_fixed is not None else prior_tau
        )
        observed = points.n_correct[held].sum() / points.n_items[held].sum()
        errors.append(abs(float(_predict(rest, rest_rule, np.asarray([x_out]))[0]) - observed))
    return float(np.mean(errors)) if errors else None


def _curve_params(points: CurvePoints, rule: CurveRule, strategy: str) -> tuple[str, dict[str, Any]]:
    if rule.family == "interpolated":
        knots = fit_isotonic(points)
        if strategy == "mv":
            knots["knots_x"] = [x + 1.0 for x in knots["knots_x"]]
        return "interpolated", dict(knots)
    fit = fit_saturating(points, rule.tau_fixed)
    if strategy == "mv":
        return "saturating_votes", {"a_inf": fit["a_inf"], "a_1": fit["a_0"], "tau_votes": fit["tau"]}
    return "saturating_budget", {"a_inf": fit["a_inf"], "a_0": fit["a_0"], "tau_tokens": fit["tau"]}


# --- the table --------------------------------------------------------------


def _pooled_points(rows: pd.DataFrame, x_column: str | None, x_offset: float = 0.0) -> CurvePoints:
    if x_column is None:
        return CurvePoints(np.zeros(1), np.asarray([float(rows["n_items"].sum())]),
                           np.asarray([float(rows["n_correct"].sum())]))
    grouped = rows.groupby(x_column, sort=True)[["n_items", "n_correct"]].sum()
    return CurvePoints(grouped.index.to_numpy(float) - x_offset, grouped["n_items"].to_numpy(float),
                       grouped["n_correct"].to_numpy(float))


def _anchor(table: pd.DataFrame, key: CurveKey, rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows that give a curve's point at x = 0: zero-shot for cot and mv without a budget."""
    model, category, strategy = key
    same = table[(table["model"] == model) & (table["category"] == category)]
    if strategy == "cot":
        return same[same["strategy"] == "zero_shot"], "zero_shot accuracy as the point at budget 0"
    budgets = rows["budget_tokens"].unique()
    if budgets[0] == 0:
        return same[same["strategy"] == "zero_shot"], "zero_shot accuracy as the point at 1 vote"
    cot = same[(same["strategy"] == "cot") & (same["budget_tokens"] == budgets[0])]
    return cot, f"cot accuracy at budget {budgets[0]:g} as the point at 1 vote"


def _constant_heldout_mae(groups: CurvePoints) -> float | None:
    """Zero-shot rows at several budgets: each group's accuracy predicted by the others' pooled one."""
    if len(groups.x) < 2:
        return None
    rest_items = groups.n_items.sum() - groups.n_items
    rest_correct = groups.n_correct.sum() - groups.n_correct
    return float(np.abs(rest_correct / rest_items - groups.accuracy).mean())


def _fit_one(table: pd.DataFrame, key: CurveKey, rows: pd.DataFrame, family: str,
             priors: AccuracyPriors, source: str) -> AccuracyCurve:
    model, category, strategy = key
    if strategy == "zero_shot":
        points = _pooled_points(rows, None)
        heldout = _constant_heldout_mae(_pooled_points(rows, "budget_tokens"))
        return AccuracyCurve(model, category, strategy, "constant", {"acc": float(points.accuracy[0])},
                             n_items=int(points.n_items[0]), heldout_mae=heldout, source=source)
    if strategy == "mv" and rows["budget_tokens"].nunique() > 1:
        raise FitError(f"{model}/{category}/mv: rows carry several budget_tokens "
                       f"{sorted(rows['budget_tokens'].unique())}; a card holds one mv curve per "
                       "(model, category): split the table or keep one budget")
    x_column, x_offset = ("votes", 1.0) if strategy == "mv" else ("budget_tokens", 0.0)
    points = _pooled_points(rows, x_column, x_offset)
    params_extra: dict[str, Any] = {}
    if len(np.unique(points.x)) < MIN_POINTS_FOR_SHAPE and not np.any(points.x == 0):
        anchor_rows, anchor_note = _anchor(table, key, rows)
        if len(anchor_rows):
            points = points.plus(0.0, float(anchor_rows["n_items"].sum()), float(anchor_rows["n_correct"].sum()))
            params_extra["anchor"] = anchor_note
    prior_tau = priors.tau(key)
    rule = _choose_rule(points, "saturating" if family == "auto" else family, prior_tau, priors.note(key))
    heldout = leave_one_x_out_mae(points, rule, prior_tau)
    if family == "auto" and not rule.fallback:
        other = CurveRule("interpolated")
        other_mae = leave_one_x_out_mae(points, other, prior_tau)
        if heldout is None or (other_mae is not None and other_mae < heldout):
            rule, heldout = other, other_mae
    card_family, params = _curve_params(points, rule, strategy)
    if rule.fallback:
        params_extra["fallback"] = rule.fallback
    x_low, x_high = float(points.x.min() + x_offset), float(points.x.max() + x_offset)
    return AccuracyCurve(
        model, category, strategy, card_family, {**params, **params_extra},
        n_items=int(points.n_items.min()), x_range=(x_low, x_high),
        budget_tokens=int(rows["budget_tokens"].iloc[0]) if strategy == "mv" else 0,
        heldout_mae=heldout, source="estimate" if rule.fallback else source,
    )


def fit_accuracy(
    table: pd.DataFrame,
    *,
    priors: AccuracyPriors | None = None,
    family: str = "saturating",
    source: str = "measured",
    data_sha256: str = "",
    provenance: Mapping[str, Any] | None = None,
    table_name: str = "<accuracy table>",
) -> AccuracyCard:
    """Fit one curve per (model, category, strategy) of an accuracy table.

    ``table`` holds aggregated rows (``n_items``, ``n_correct``) or per-item
    rows (``item_id``, ``correct``); it is validated first (``DataError``
    naming ``table_name``, row and column). ``family`` is ``saturating``
    (default), ``interpolated`` or ``auto`` for cot and mv curves; ``source``
    labels curves not fitted by a fallback rule.
    """
    if family not in FIT_FAMILIES:
        raise FitError(f"family must be one of {FIT_FAMILIES}, got {family!r}")
    priors = priors or AccuracyPriors()
    data = aggregate_accuracy(validate_accuracy(table, table_name))
    curves = []
    for (model, category, strategy), rows in data.groupby(["model", "category", "strategy"], sort=True):
        key = (str(model), str(category), str(strategy))
        curves.append(_fit_one(data, key, rows, family, priors, source))
    if not curves:
        raise DataError(f"{table_name}: no rows to fit")
    return AccuracyCard(curves=curves, data_sha256=data_sha256, provenance=dict(provenance or {}),
                        fit_quality=_fit_quality(curves, family))


def _fit_quality(curves: list[AccuracyCurve], family: str) -> dict[str, Any]:
    maes = [c.heldout_mae for c in curves if c.heldout_mae is not None]
    return {
        "method": f"binomial maximum likelihood, family={family}; held-out error = leave-one-x-out MAE",
        "n_curves": len(curves),
        "n_fallback_curves": sum(1 for c in curves if "fallback" in c.params),
        "mean_heldout_mae": float(np.mean(maes)) if maes else None,
        "max_heldout_mae": float(np.max(maes)) if maes else None,
    }


# --- using a card -----------------------------------------------------------


def predict_accuracy(card: AccuracyCard, points: pd.DataFrame, table_name: str = "<points>") -> pd.DataFrame:
    """Add ``accuracy_pred``, ``accuracy_lo``, ``accuracy_hi`` (95% Wilson), ``in_range``, ``source``.

    ``points`` needs ``model, category, strategy``; ``budget_tokens`` defaults
    to 0 and ``votes`` to 1. Rows whose curve the card lacks raise a
    ``DataError`` listing them.
    """
    missing = [c for c in ("model", "category", "strategy") if c not in points.columns]
    if missing:
        raise DataError(f"{table_name}: missing column(s) {missing}; present: {list(points.columns)}")
    out = points.copy()
    budgets = pd.to_numeric(out.get("budget_tokens", pd.Series(0, index=out.index)), errors="coerce")
    votes = pd.to_numeric(out.get("votes", pd.Series(1, index=out.index)), errors="coerce")
    problems = []
    results = []
    for position, (row, budget, vote) in enumerate(zip(out.itertuples(index=False), budgets, votes, strict=True)):
        key = (str(row.model), str(row.category), str(row.strategy))
        if key[2] not in STRATEGIES:
            problems.append(f"row {position + 1}, column strategy: must be one of {STRATEGIES}, got {key[2]!r}")
            continue
        if not card.has(*key):
            problems.append(f"row {position + 1}: the card has no curve for {key}")
            continue
        x = 0.0 if key[2] == "zero_shot" else vote if key[2] == "mv" else budget
        if not np.isfinite(x):
            column = "votes" if key[2] == "mv" else "budget_tokens"
            problems.append(f"row {position + 1}, column {column}: not a number")
            continue
        curve = card.curve(*key)
        low, high = curve.interval(x)
        inside = key[2] == "zero_shot" or curve.x_range[0] <= x <= curve.x_range[1]
        results.append((position, float(curve.accuracy(x)), float(low), float(high), bool(inside), curve.source))
    if problems:
        raise DataError(f"{table_name}: " + "; ".join(problems[:20])
                        + (f"; and {len(problems) - 20} more" if len(problems) > 20 else ""))
    columns = ["accuracy_pred", "accuracy_lo", "accuracy_hi", "in_range", "source"]
    values = pd.DataFrame([r[1:] for r in results], columns=columns, index=out.index)
    return pd.concat([out, values], axis=1)


def card_options(
    card: AccuracyCard,
    cot_budgets_tokens: tuple[int, ...] = (64, 128, 256, 512),
    votes: tuple[int, ...] = (16,),
    models: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """The accuracy of every option the card can price: one row per (model, category, strategy, x).

    Only curves present in the card yield rows (a model without a cot curve
    offers no cot option); cot budgets and vote counts outside a curve's
    fitted range are left out. Columns: ``model, category, strategy,
    budget_tokens, votes, accuracy, accuracy_lo, accuracy_hi, source``.
    """
    rows = []
    for curve in card.curves:
        if models is not None and curve.model not in models:
            continue
        if curve.strategy == "zero_shot":
            grid = [(0, 1)]
        elif curve.strategy == "cot":
            grid = [(b, 1) for b in cot_budgets_tokens if curve.x_range[0] <= b <= curve.x_range[1]]
        else:
            grid = [(curve.budget_tokens, k) for k in votes if curve.x_range[0] <= k <= curve.x_range[1]]
        for budget, vote in grid:
            x = vote if curve.strategy == "mv" else budget
            low, high = curve.interval(x)
            rows.append((curve.model, curve.category, curve.strategy, budget, vote,
                         float(curve.accuracy(x)), float(low), float(high), curve.source))
    return pd.DataFrame(rows, columns=["model", "category", "strategy", "budget_tokens", "votes",
                                       "accuracy", "accuracy_lo", "accuracy_hi", "source"])
