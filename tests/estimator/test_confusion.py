"""Planning with estimated classes: confusion, routed figures and the cost of misrouting, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tpf.estimator.confusion import (
    confusion_counts,
    misrouting_cost,
    routed_class_figures,
    true_given_predicted,
)


def test_counts_and_posterior_by_hand() -> None:
    counts = confusion_counts(["a", "a", "a", "a", "b", "b", "x"], ["a", "a", "a", "b", "b", "b", "a"], ["a", "b"])
    assert counts.tolist() == [[3.0, 1.0], [0.0, 2.0]]
    posterior = true_given_predicted(counts)
    # predicted a: always a; predicted b: 1 of 3 is a
    np.testing.assert_allclose(posterior, [[1.0, 0.0], [1 / 3, 2 / 3]])
    # a mix of 50/50 true classes: P(b read | a) = 1/4, P(b read | b) = 1 -> P(a | b read) = 0.125 / 0.625
    np.testing.assert_allclose(true_given_predicted(counts, np.array([0.5, 0.5]))[1], [0.2, 0.8])


def test_routed_figures_and_misrouting_cost() -> None:
    counts = np.array([[3.0, 1.0], [0.0, 2.0]])
    accuracy = np.array([[0.9, 0.5], [0.2, 0.6]])  # true class x option
    routed = routed_class_figures(accuracy, counts)
    np.testing.assert_allclose(routed[1], [(0.9 + 2 * 0.2) / 3, (0.5 + 2 * 0.6) / 3])
    shares = np.array([[1.0, 0.0], [0.0, 1.0]])  # class a -> option 0, class b -> option 1
    # a read as b (1 of 4) gets option 1: 0.5 instead of 0.9; weights 4/6 and 2/6
    assert misrouting_cost(shares, accuracy, counts) == pytest.approx(4 / 6 * 0.25 * 0.4)
    assert misrouting_cost(shares, accuracy, np.diag([4.0, 2.0])) == 0.0


def test_a_predicted_class_never_seen_is_taken_at_its_word() -> None:
    posterior = true_given_predicted(np.array([[2.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_allclose(posterior[1], [0.0, 1.0])
