"""Per-query against per-category routing between a small and a large model, on held-out questions.

Two options per question: the small model or the large one, each answering
with its full chain of thought; a question's outcome and energy under either
are the recorded ones (correct 0/1, realized energy). A routing is a weight
``w_i`` in [0, 1] per question (the share sent to the large model); its
accuracy is ``mean(w c_large + (1 - w) c_small)``.

* **per category** (what a class-level plan does, classes known): categories
  ranked by the training mean gain ``acc_large - acc_small`` (at equal share)
  or by that gain per joule of extra training-mean energy (at equal energy),
  filled in that order, the last one partly;
* **per query**: questions ranked by the estimator's ``P(correct | large) -
  P(correct | small)`` (at equal share) or by that gain per joule of extra
  predicted energy (at equal energy; questions with no predicted gain last);
* compared at an equal large-model share ``s`` (the same number of questions
  sent to the large model) and at an equal *realized* energy (the per-query
  router filled until its realized energy equals that of the per-category
  plan at share ``s``);
* the difference per-query minus per-category, in accuracy points, with a
  paired bootstrap 95 % interval (questions resampled with replacement, both
  routings' decisions held fixed, ``n_boot`` resamples, percentile interval);
* the oracle (each question to a model that answers it, when one does) and
  the oracle at share ``s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SHARES = (0.2, 0.5)
N_BOOT = 2000


@dataclass(frozen=True)
class RoutingData:
    """Held-out questions: columns 0 = small model, 1 = large model."""

    categories: np.ndarray        # (n,) str, true category
    correct: np.ndarray           # (n, 2) 0/1 realized
    energy_j: np.ndarray          # (n, 2) realized energy
    p_correct: np.ndarray         # (n, 2) estimated
    energy_pred_j: np.ndarray     # (n, 2) estimated energy
    train_means: dict[str, tuple[float, float, float, float]]  # category -> acc small, acc large, e small, e large


def _fill(order: np.ndarray, sizes: np.ndarray, capacity: float) -> np.ndarray:
    """Fractions of items taken in ``order`` until ``capacity`` of their ``sizes`` is used (the last partly)."""
    taken = np.zeros(len(sizes))
    left = capacity
    for item in order:
        if left <= 0:
            break
        size = sizes[item]
        taken[item] = 1.0 if size <= left else (left / size if size > 0 else 1.0)
        left -= size * taken[item]
    return taken


def category_weights(data: RoutingData, share: float | None = None, extra_energy_j: float | None = None) -> np.ndarray:
    """Per-question large-model weights of the per-category plan at a share or at an extra realized energy."""
    names = sorted(set(data.categories.tolist()))
    member = np.array([[c == name for name in names] for c in data.categories], float)   # (n, K)
    means = np.array([data.train_means.get(name, (0.0, 0.0, 0.0, 1.0)) for name in names])
    gain = means[:, 1] - means[:, 0]
    if share is not None:
        order = np.argsort(-gain, kind="stable")
        fractions = _fill(order, member.sum(axis=0), share * len(data.categories))
    else:
        extra = member.T @ (data.energy_j[:, 1] - data.energy_j[:, 0])
        ratio = gain / np.maximum(means[:, 3] - means[:, 2], 1e-9)
        fractions = _fill(np.argsort(-ratio, kind="stable"), extra, float(extra_energy_j or 0.0))
    return member @ fractions


def query_weights(data: RoutingData, share: float | None = None, extra_energy_j: float | None = None) -> np.ndarray:
    """Per-question large-model weights of the per-query router at a share or at an extra realized energy."""
    gain = data.p_correct[:, 1] - data.p_correct[:, 0]
    n = len(gain)
    if share is not None:
        return _fill(np.argsort(-gain, kind="stable"), np.ones(n), share * n)
    extra_pred = np.maximum(data.energy_pred_j[:, 1] - data.energy_pred_j[:, 0], 1e-9)
    score = np.where(gain > 0, gain / extra_pred, gain - 1e9)
    return _fill(np.argsort(-score, kind="stable"), data.energy_j[:, 1] - data.energy_j[:, 0],
                 float(extra_energy_j or 0.0))


def per_question_accuracy(data: RoutingData, weights: np.ndarray) -> np.ndarray:
    return weights * data.correct[:, 1] + (1.0 - weights) * data.correct[:, 0]


def paired_interval(diff: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float]:
    """Percentile 95 % interval of ``mean(diff)`` over questions resampled with replacement."""
    rng = np.random.default_rng(seed)
    means = np.array([diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(n_boot)])
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def _compare(data: RoutingData, query: np.ndarray, category: np.ndarray, n_boot: int) -> dict[str, Any]:
    acc_q, acc_c = per_question_accuracy(data, query), per_question_accuracy(data, category)
    low, high = paired_interval(acc_q - acc_c, n_boot)
    return {"per_query_accuracy": float(acc_q.mean()), "per_category_accuracy": float(acc_c.mean()),
            "difference_points": 100.0 * float((acc_q - acc_c).mean()),
            "interval_95_points": [100.0 * low, 100.0 * high],
            "large_share_per_query": float(query.mean()), "large_share_per_category": float(category.mean()),
            "energy_j_per_query": float(np.mean(query * data.energy_j[:, 1] + (1 - query) * data.energy_j[:, 0])),
            "energy_j_per_category": float(np.mean(category * data.energy_j[:, 1]
                                                   + (1 - category) * data.energy_j[:, 0]))}


def routing_comparison(data: RoutingData, shares: tuple[float, ...] = SHARES, n_boot: int = N_BOOT) -> dict[str, Any]:
    """Per-query against per-category at equal share and equal realized energy, with the oracles."""
    c_small, c_large = data.correct[:, 0], data.correct[:, 1]
    only_large = (c_large > c_small).astype(float)
    out: dict[str, Any] = {
        "n_questions": len(c_small), "all_small_accuracy": float(c_small.mean()),
        "all_large_accuracy": float(c_large.mean()), "oracle_accuracy": float(np.maximum(c_small, c_large).mean()),
        "n_boot": n_boot, "equal_share": {}, "equal_energy": {},
    }
    for share in shares:
        key = f"{share:g}"
        category = category_weights(data, share=share)
        out["equal_share"][key] = _compare(data, query_weights(data, share=share), category, n_boot)
        oracle = _fill(np.argsort(-only_large, kind="stable"), np.ones(len(c_small)), share * len(c_small))
        out["equal_share"][key]["oracle_accuracy"] = float(per_question_accuracy(data, oracle).mean())
        if data.energy_j.any():
            extra = float(np.sum(category * (data.energy_j[:, 1] - data.energy_j[:, 0])))
            out["equal_energy"][key] = _compare(data, query_weights(data, extra_energy_j=extra), category, n_boot)
    return out


def per_query_wins(comparison: dict[str, Any]) -> bool:
    """True when every per-query minus per-category interval (equal share and equal energy) is above zero."""
    rows = [*comparison["equal_share"].values(), *comparison["equal_energy"].values()]
    return bool(rows) and all(row["interval_95_points"][0] > 0 for row in rows)
