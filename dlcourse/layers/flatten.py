"""Flatten: the given layer between the convolutional part of a network and its FC layers."""

from __future__ import annotations

import numpy as np

from dlcourse.layers.base import Layer


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
