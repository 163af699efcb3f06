"""Linear heads fitted by L-BFGS on sparse features: softmax, logistic and ridge.

Each fit minimizes the mean loss over rows plus ``l2 / 2 * ||W||^2`` (the last
feature, the bias, is not penalized) with ``scipy.optimize.minimize``
(L-BFGS-B). scipy is needed to fit only; prediction is plain numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

MAX_ITERATIONS = 300
LossFn = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _minimize(loss_and_grad: LossFn, n_params: int) -> np.ndarray:
    from scipy.optimize import minimize

    result = minimize(loss_and_grad, np.zeros(n_params), jac=True, method="L-BFGS-B",
                      options={"maxiter": MAX_ITERATIONS})
    return np.asarray(result.x)


def _penalty(weights: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    penalized = weights.copy()
    penalized[-1] = 0.0  # the bias row
    return 0.5 * l2 * float(np.sum(penalized * penalized)), l2 * penalized


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def sigmoid(scores: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * scores))


def fit_softmax(features: Any, labels: np.ndarray, n_classes: int, l2: float) -> np.ndarray:
    """Weights (n_features, n_classes) of a multinomial logistic regression."""
    n_rows, n_features = features.shape
    onehot = np.zeros((n_rows, n_classes))
    onehot[np.arange(n_rows), labels] = 1.0

    def loss_and_grad(flat: np.ndarray) -> tuple[float, np.ndarray]:
        weights = flat.reshape(n_features, n_classes)
        scores = features @ weights
        scores -= scores.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scores).sum(axis=1, keepdims=True))
        loss = -float(np.sum(onehot * (scores - log_norm))) / n_rows
        grad = features.T @ (np.exp(scores - log_norm) - onehot) / n_rows
        penalty, penalty_grad = _penalty(weights, l2)
        return loss + penalty, (np.asarray(grad) + penalty_grad).ravel()

    return _minimize(loss_and_grad, n_features * n_classes).reshape(n_features, n_classes)


def fit_logistic(features: Any, labels: np.ndarray, l2: float) -> np.ndarray:
    """Weights (n_features,) of a binary logistic regression (labels 0/1)."""
    n_rows = features.shape[0]
    target = labels.astype(float)

    def loss_and_grad(weights: np.ndarray) -> tuple[float, np.ndarray]:
        scores = features @ weights
        loss = float(np.sum(np.logaddexp(0.0, scores) - target * scores)) / n_rows
        grad = features.T @ (sigmoid(scores) - target) / n_rows
        penalty, penalty_grad = _penalty(weights, l2)
        return loss + penalty, np.asarray(grad) + penalty_grad

    return _minimize(loss_and_grad, features.shape[1])


def fit_ridge(features: Any, target: np.ndarray, l2: float) -> np.ndarray:
    """Weights (n_features,) of a least-squares fit with an L2 penalty."""
    n_rows = features.shape[0]

    def loss_and_grad(weights: np.ndarray) -> tuple[float, np.ndarray]:
        residual = features @ weights - target
        loss = 0.5 * float(residual @ residual) / n_rows
        grad = features.T @ residual / n_rows
        penalty, penalty_grad = _penalty(weights, l2)
        return loss + penalty, np.asarray(grad) + penalty_grad

    return _minimize(loss_and_grad, features.shape[1])
