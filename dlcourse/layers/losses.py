"""Softmax cross-entropy, L2 regularisation and their sum (students write these in Lab 2; the
references serve the course's tests, checks and benchmarks).

Logits x (N, C), targets y one-hot (N, C); losses are averaged over the batch.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlcourse.layers.base import ParamGrads


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log softmax of (N, C), stable: x - m - log sum exp(x - m) with m the row max."""
    shifted = x - x.max(axis=1, keepdims=True)  # (N, C), each row's largest entry is 0
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class SoftmaxCrossEntropyWithLogits:
    """L = -1/N sum_n y_n . log softmax(x_n);  dL/dx = (softmax(x) - y) / N."""

    has_params = False
    name = "SoftmaxCrossEntropyWithLogits"

    def forward(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(-np.sum(y * log_softmax(x)) / len(x))

    def backward_inputs(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (np.exp(log_softmax(x)) - y) / len(x)  # (N, C)


class L2Regularizer:
    """L = weight_decay / 2 * ||W||^2 (squared Frobenius norm);  dL/dW = weight_decay * W.

    Holds a reference to the layer's weight array, so it sees the updates of training.
    """

    has_params = True

    def __init__(self, weights: np.ndarray, weight_decay: float, name: str) -> None:
        self.weights, self.weight_decay, self.name = weights, weight_decay, name

    def forward(self) -> float:
        return float(self.weight_decay / 2 * np.sum(self.weights ** 2))

    def backward_params(self) -> ParamGrads:
        return [[self.weights, self.weight_decay * self.weights], self.name]


class RegularizedLoss:
    """data loss + the sum of the regularisers' losses; dL/dx is the data loss's."""

    has_params = True
    name = "RegularizedLoss"

    def __init__(self, data_loss: SoftmaxCrossEntropyWithLogits,
                 regularizer_losses: Sequence[L2Regularizer]) -> None:
        self.data_loss, self.regularizer_losses = data_loss, list(regularizer_losses)

    def forward(self, x: np.ndarray, y: np.ndarray) -> float:
        return self.data_loss.forward(x, y) + sum(r.forward() for r in self.regularizer_losses)

    def backward_inputs(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.data_loss.backward_inputs(x, y)

    def backward_params(self) -> list[ParamGrads]:
        """One ``[[W, dL/dW], name]`` per regulariser."""
        return [r.backward_params() for r in self.regularizer_losses]
