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
2. ``tau`` (and, where the prior gives one, the delayed start ``b0``) is fixed
   at a prior (:class:`AccuracyPriors`), and only ``a_0`` and ``a_inf`` are fitted.

Such curves carry ``params["fallback"]`` naming the rule and ``source:
estimate``. Every curve carries its leave-one-x-out mean absolute error
(``heldout_mae``: each distinct budget or vote count is predicted by a curve
fitted without it) where it has at least two distinct points; the card's
intervals are Wilson score intervals for the curve's ``n_items``.

``family="delayed"`` fits cot curves with a delayed start instead (family
``saturating_budget_delayed``): ``a(b) = a_0`` for ``b <= b0``, else
``a_inf - (a_inf - a_0) * exp(-(b - b0) / tau_tokens)``, with ``b0 >= 0``
bounded by the second largest budget; it needs at least four distinct budgets
(with three the saturating family is kept and ``params["family_note"]`` says
so) and leaves mv curves saturating. The optional family ``interpolated``
(``family="interpolated"``) fits a monotone piecewise-linear curve (weighted
isotonic regression through the points). ``family="auto"`` keeps, per curve,
whichever of saturating, delayed (cot curves with at least four distinct
budgets only) and interpolated has the smallest held-out error, ties going to
the earlier one, and records every candidate's error in
``params["auto_heldout_mae"]``. The family math lives in
:mod:`tpf.fit.accuracy_families`.
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
from tpf.families import delayed_saturating, saturating
from tpf.fit.accuracy_families import (
    CurvePoints,
    fit_delayed,
    fit_isotonic,
    fit_saturating,
)
from tpf.schema import aggregate_accuracy, validate_accuracy

# Prior time constants for the fallback rule; curves using them say so.
# Tokens: the tau of the saturating curve fitted to the MMLU-Pro CoT truncation
# curve of Llama-3.1-8B-Instruct over all categories (budgets 0..512 words),
# 92.5 tokens (benchmarks/accuracy_fit_mmlu_pro.py). Votes: an assumption (no
# vote-count curve was available): 63% of the majority-vote gain by 4 votes,
# 99% by 16.
DEFAULT_TAU_TOKENS = 92.0
DEFAULT_TAU_VOTES = 3.0
FIT_FAMILIES = ("saturating", "delayed", "interpolated", "auto")
DEFAULT_FAMILY = "auto"  # the family of least held-out error per curve, as energy fitting does
AUTO_CANDIDATES = ("saturating", "delayed", "interpolated")  # in this order; ties keep the first
MIN_POINTS_FOR_SHAPE = 3
MIN_POINTS_FOR_DELAY = 4

CurveKey = tuple[str, str, str]


@dataclass(frozen=True)
class AccuracyPriors:
    """Curve shapes used when a curve has too few points to fit its shape.

    ``tau_tokens`` (tokens) for chain-of-thought curves, ``tau_votes`` (votes)
    for majority-vote curves; ``per_curve_tau`` overrides either for one
    (model, category, strategy), with ``per_curve_note`` saying where it came from.
    ``per_curve_b0_tokens`` gives a cot curve a delayed start ``b0`` (tokens;
    default 0): its fallback curve is then ``saturating_budget_delayed``.
    """

    tau_tokens: float = DEFAULT_TAU_TOKENS
    tau_votes: float = DEFAULT_TAU_VOTES
    per_curve_tau: Mapping[CurveKey, float] = field(default_factory=dict)
    per_curve_note: Mapping[CurveKey, str] = field(default_factory=dict)
    per_curve_b0_tokens: Mapping[CurveKey, float] = field(default_factory=dict)

    def tau(self, key: CurveKey) -> float:
        if key in self.per_curve_tau:
            return float(self.per_curve_tau[key])
        return self.tau_votes if key[2] == "mv" else self.tau_tokens

    def b0(self, key: CurveKey) -> float:
        return float(self.per_curve_b0_tokens.get(key, 0.0)) if key[2] == "cot" else 0.0

    def note(self, key: CurveKey) -> str:
        if key in self.per_curve_note:
            return self.per_curve_note[key]
        unit = "votes" if key[2] == "mv" else "tokens"
        return f"default prior tau = {self.tau(key):g} {unit}"


# --- one curve --------------------------------------------------------------


@dataclass(frozen=True)
class CurveRule:
    """How one curve is fitted: the family, whether its shape is fixed, and why.

    ``family`` is ``saturating``, ``delayed`` or ``interpolated``; ``tau_fixed``
    (and for ``delayed`` ``b0_fixed``) fix the shape under the fallback rule;
    ``note`` says why a requested family was replaced by another.
    """

    family: str
    tau_fixed: float | None = None
    fallback: str = ""
    b0_fixed: float = 0.0
    note: str = ""


def _shape_rule(n_distinct: int, family: str, strategy: str) -> CurveRule:
    """The rule for a curve with at least MIN_POINTS_FOR_SHAPE distinct points."""
    if family != "delayed":
        return CurveRule(family)
    if strategy != "cot":
        return CurveRule("saturating", note="the delayed family applies to cot curves only")
    if n_distinct < MIN_POINTS_FOR_DELAY:
        return CurveRule("saturating", note=f"fewer than {MIN_POINTS_FOR_DELAY} distinct budgets: "
                         "b0 not fitted (saturating family)")
    return CurveRule("delayed")


def _choose_rule(points: CurvePoints, family: str, key: CurveKey, priors: AccuracyPriors) -> CurveRule:
    n_distinct = len(np.unique(points.x))
    if n_distinct >= MIN_POINTS_FOR_SHAPE:
        return _shape_rule(n_distinct, family, key[2])
    tau, b0 = priors.tau(key), priors.b0(key)
    prefix = f"fewer than {MIN_POINTS_FOR_SHAPE} distinct points: "
    if b0 > 0:
        return CurveRule("delayed", tau, prefix + f"tau fixed at {tau:g} and b0 at {b0:g} tokens "
                         f"({priors.note(key)})", b0_fixed=b0)
    return CurveRule("saturating", tau, prefix + f"tau fixed at {tau:g} ({priors.note(key)})")


def _fit_params(points: CurvePoints, rule: CurveRule) -> dict[str, Any]:
    """``{"a_0", "a_inf", "tau"[, "b_0"]}`` or the isotonic knots, fitted under ``rule``."""
    if rule.family == "interpolated":
        return dict(fit_isotonic(points))
    if rule.family == "delayed":
        fixed = None if rule.tau_fixed is None else (rule.tau_fixed, rule.b0_fixed)
        return fit_delayed(points, fixed)
    return fit_saturating(points, rule.tau_fixed)


def _predict(points: CurvePoints, rule: CurveRule, x_new: np.ndarray) -> np.ndarray:
    fit = _fit_params(points, rule)
    if rule.family == "interpolated":
        return np.interp(x_new, fit["knots_x"], fit["knots_acc"])
    if rule.family == "delayed":
        return delayed_saturating(x_new, fit["a_0"], fit["a_inf"], fit["tau"], fit["b_0"])
    return saturating(x_new, fit["a_0"], fit["a_inf"], fit["tau"])


def _rule_without_one(rule: CurveRule, n_distinct: int, prior_tau: float) -> CurveRule:
    """The rule for a held-out fit left with ``n_distinct`` distinct points."""
    if rule.tau_fixed is not None:
        return rule
    if n_distinct < MIN_POINTS_FOR_SHAPE:
        return CurveRule("saturating", prior_tau)
    if rule.family == "delayed" and n_distinct < MIN_POINTS_FOR_DELAY:
        return CurveRule("saturating")
    return rule


def leave_one_x_out_mae(points: CurvePoints, rule: CurveRule, prior_tau: float) -> float | None:
    """Mean absolute error at each distinct x, predicted by a fit without that x.

    Defined for curves with at least three distinct points (with two, leaving
    one out leaves nothing to learn a slope from: ``None``). A held-out fit left
    with fewer than three distinct points uses the fallback rule (tau fixed at
    ``prior_tau``); a delayed fit left with three uses the saturating family.
    """
    if len(np.unique(points.x)) < MIN_POINTS_FOR_SHAPE:
        return None
    errors = []
    for x_out in np.unique(points.x):
        held = points.x == x_out
        rest = CurvePoints(points.x[~held], points.n_items[~held], points.n_correct[~held])
        if rest.x.size == 0:
            continue
        rest_rule = _rule_without_one(rule, len(np.unique(rest.x)), prior_tau)
        observed = points.n_correct[held].sum() / points.n_items[held].sum()
        errors.append(abs(float(_predict(rest, rest_rule, np.asarray([x_out]))[0]) - observed))
    return float(np.mean(errors)) if errors else None


def _auto_rule(
    points: CurvePoints, strategy: str, prior_tau: float
) -> tuple[CurveRule, float | None, dict[str, float]]:
    """The candidate family with the smallest leave-one-x-out error (ties keep the earlier one).

    Candidates, in order: saturating, delayed (cot curves with at least
    MIN_POINTS_FOR_DELAY distinct budgets only), interpolated. Returns the
    rule, its error and every candidate's error.
    """
    n_distinct = len(np.unique(points.x))
    families = [f for f in AUTO_CANDIDATES
                if f != "delayed" or (strategy == "cot" and n_distinct >= MIN_POINTS_FOR_DELAY)]
    maes = {f: leave_one_x_out_mae(points, CurveRule(f), prior_tau) for f in families}
    best = min(families, key=lambda f: (math.inf if maes[f] is None else maes[f], families.index(f)))
    return CurveRule(best), maes[best], {f: m for f, m in maes.items() if m is not None}


def _curve_params(points: CurvePoints, rule: CurveRule, strategy: str) -> tuple[str, dict[str, Any]]:
    fit = _fit_params(points, rule)
    if rule.family == "interpolated":
        if strategy == "mv":
            fit["knots_x"] = [x + 1.0 for x in fit["knots_x"]]
        return "interpolated", fit
    if strategy == "mv":
        return "saturating_votes", {"a_inf": fit["a_inf"], "a_1": fit["a_0"], "tau_votes": fit["tau"]}
    params = {"a_inf": fit["a_inf"], "a_0": fit["a_0"], "tau_tokens": fit["tau"]}
    if rule.family == "delayed":
        return "saturating_budget_delayed", {**params, "b0_tokens": fit["b_0"]}
    return "saturating_budget", params


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
                             n_items=int(points.n_items[0]), heldout_mae=heldout, source=source,
                             points=_point_list(points, 0.0))
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
    rule = _choose_rule(points, "saturating" if family == "auto" else family, key, priors)
    if family == "auto" and not rule.fallback:
        rule, heldout, scores = _auto_rule(points, strategy, prior_tau)
        params_extra["auto_heldout_mae"] = scores
    else:
        heldout = leave_one_x_out_mae(points, rule, prior_tau)
    card_family, params = _curve_params(points, rule, strategy)
    if rule.fallback:
        params_extra["fallback"] = rule.fallback
    if rule.note:
        params_extra["family_note"] = rule.note
    x_low, x_high = float(points.x.min() + x_offset), float(points.x.max() + x_offset)
    return AccuracyCurve(
        model, category, strategy, card_family, {**params, **params_extra},
        n_items=int(points.n_items.min()), x_range=(x_low, x_high),
        budget_tokens=int(rows["budget_tokens"].iloc[0]) if strategy == "mv" else 0,
        heldout_mae=heldout, source="estimate" if rule.fallback else source,
        points=_point_list(points, x_offset),
    )


def _point_list(points: CurvePoints, x_offset: float) -> list[list[float]]:
    """``[x, accuracy, n_items]`` per pooled point, x in the curve's own argument."""
    return [[float(x + x_offset), float(acc), float(n)]
            for x, acc, n in zip(points.x, points.accuracy, points.n_items, strict=True)]


def fit_accuracy(
    table: pd.DataFrame,
    *,
    priors: AccuracyPriors | None = None,
    family: str = DEFAULT_FAMILY,
    source: str = "measured",
    data_sha256: str = "",
    provenance: Mapping[str, Any] | None = None,
    table_name: str = "<accuracy table>",
) -> AccuracyCard:
    """Fit one curve per (model, category, strategy) of an accuracy table.

    ``table`` holds aggregated rows (``n_items``, ``n_correct``) or per-item
    rows (``item_id``, ``correct``); it is validated first (``DataError``
    naming ``table_name``, row and column). ``family`` is ``saturating``
    (default), ``delayed`` (cot curves with >= 4 distinct budgets; others stay
    saturating), ``interpolated`` or ``auto`` (smallest leave-one-x-out error);
    ``source`` labels curves not fitted by a fallback rule.
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
            problems.append(f"row {position + 1}: {_missing_curve(card, *key)}")
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


def _missing_curve(card: AccuracyCard, model: str, category: str, strategy: str) -> str:
    """Which of model, category and strategy the card lacks (the first missing one named)."""
    for column, value, known in (
        ("model", model, {c.model for c in card.curves}),
        ("category", category, {c.category for c in card.curves if c.model == model}),
        ("strategy", strategy, {c.strategy for c in card.curves if (c.model, c.category) == (model, category)}),
    ):
        if value not in known:
            return (f"column {column}: {value!r} is not in the accuracy card"
                    f"{' for model ' + repr(model) if column != 'model' else ''}; "
                    f"it has {', '.join(sorted(known))}")
    return f"the card has no curve for {(model, category, strategy)}"
