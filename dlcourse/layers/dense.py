"""Flatten, fully connected layer and ReLU (students write FC and ReLU themselves in Lab 2;
these references serve the course's tests, checks and benchmarks)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlcourse.layers.base import Layer, ParamGrads, variance_scaling_initializer, zero_init


class Flatten(Layer):
    """x (N, C, H, W) (or any (N, ...)) -> (N, C H W); the backward pass reshapes back."""

    def __init__(self, input_layer, name: str) -> None:
        self.name = name
        self.shape = (input_layer.shape[0], int(np.prod(input_layer.shape[1:])))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x_shape = x.shape
        return x.reshape(len(x), -1)  # (N, C H W)

    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out.reshape(self.x_shape)  # (N, C, H, W)


class FC(Layer):
    """y = x W^T + b: x (N, D) -> y (N, M), weights W (M, D), bias b (M,).

    dL/dx = dL/dy W (N, D), dL/dW = (dL/dy)^T x (M, D), dL/db = sum_n dL/dy_n (M,).
    """

    def __init__(self, input_layer, num_outputs: int, name: str,
                 weights_initializer_fn: Callable = variance_scaling_initializer,
                 bias_initializer_fn: Callable = zero_init) -> None:
        N, *rest = input_layer.shape
        num_inputs = int(np.prod(rest))
        self.name, self.has_params, self.shape = name, True, (N, num_outputs)
        self.weights = weights_initializer_fn((num_outputs, num_inputs), fan_in=num_inputs)
        self.bias = bias_initializer_fn((num_outputs,))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x  # (N, D)
        return x @ self.weights.T + self.bias  # (N, M)

    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out @ self.weights  # (N, D)

    def backward_params(self, grad_out: np.ndarray) -> ParamGrads:
        return [[self.weights, grad_out.T @ self.x], [self.bias, grad_out.sum(axis=0)], self.name]


class ReLU(Layer):
    """y = max(0, x), elementwise, any shape; dL/dx = dL/dy where x > 0, else 0."""

    def __init__(self, input_layer, name: str) -> None:
        self.name, self.shape = name, tuple(input_layer.shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.maximum(x, 0)

    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        return np.where(self.x > 0, grad_out, 0)
