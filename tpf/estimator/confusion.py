"""Planning with estimated classes: what a class-level option delivers when the router's classes are predicted.

A plan whose classes come from the text estimator serves a query of true class
``c`` with the split of its *predicted* class. With the estimator's held-out
confusion counts ``N[c, k]`` (true ``c``, predicted ``k``) and the planned mix
of true classes ``pi_c``, a query predicted as ``k`` is of class ``c`` with
probability ``P(c | k) = N[c, k] / n_c * pi_c / sum_c'(...)``, so an option's
figures for the routed class ``k`` are ``sum_c P(c | k) * figure[c, o]``
(:func:`routed_class_figures`). A planner fed these figures plans on what the
router will deliver (assuming a query's outcome depends on its true class, not
on how it was misread); :func:`misrouting_cost` says how much accuracy the
misreading costs a given split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_counts(true_labels: Sequence[str], predicted_labels: Sequence[str],
                     classes: Sequence[str]) -> np.ndarray:
    """``N[c, k]``: rows of true class ``c`` predicted as ``k`` (labels outside ``classes`` are ignored)."""
    index = {name: i for i, name in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)))
    for true, predicted in zip(true_labels, predicted_labels, strict=True):
        if true in index and predicted in index:
            counts[index[true], index[predicted]] += 1
    return counts


def true_given_predicted(counts: np.ndarray, mix: np.ndarray | None = None) -> np.ndarray:
    """``P[k, c] = P(true c | predicted k)`` for the true-class mix ``mix`` (default: the counts' own).

    A predicted class that never occurs is taken at its word (``P[k, k] = 1``).
    """
    per_true = counts.sum(axis=1, keepdims=True)
    read_as = np.divide(counts, per_true, out=np.zeros_like(counts), where=per_true > 0)  # P(k | c)
    weights = per_true.ravel() / per_true.sum() if mix is None else np.asarray(mix, float)
    joint = read_as * weights[:, None]  # (c, k)
    column = joint.sum(axis=0)
    posterior = np.where(column > 0, joint / np.where(column > 0, column, 1.0), 0.0).T  # (k, c)
    never = column <= 0
    posterior[never] = np.eye(len(column))[never]
    return posterior


def routed_class_figures(figures: np.ndarray, counts: np.ndarray, mix: np.ndarray | None = None) -> np.ndarray:
    """Per routed (predicted) class and option: the expected figure (accuracy, energy) over true classes."""
    return true_given_predicted(counts, mix) @ np.asarray(figures, float)


def misrouting_cost(shares: np.ndarray, accuracy: np.ndarray, counts: np.ndarray,
                    mix: np.ndarray | None = None) -> float:
    """Accuracy lost when split ``shares[k, o]`` is applied to predicted instead of true classes.

    ``accuracy[c, o]`` per true class; the result is (planned as if classes were
    known) minus (delivered through the confusion), in accuracy 0-1, weighted by ``mix``.
    """
    per_true = counts.sum(axis=1)
    weights = per_true / per_true.sum() if mix is None else np.asarray(mix, float)
    read_as = np.divide(counts, per_true[:, None], out=np.zeros_like(counts), where=per_true[:, None] > 0)
    planned = np.sum(shares * accuracy, axis=1)
    delivered = np.einsum("ck,ko,co->c", read_as, shares, accuracy)
    return float(weights @ (planned - delivered))
