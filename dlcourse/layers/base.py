"""The layer contract of Lab 2, and the initialisers layers create their parameters with.

Every layer of a network ``net = [layer, layer, ...]`` has

- ``name`` (str) and ``has_params`` (bool);
- ``shape``: the output shape for the batch it was built for, e.g. ``(N, 16, 28, 28)``;
  a layer is built from the layer below it, ``input_layer``, of which it only reads ``.shape``
  (so the first layer is built from an input array);
- ``forward(x) -> y``: keeps what the backward pass needs (the input, an argmax, ...);
- ``backward_inputs(grad_out) -> grad_x``: dL/dx from dL/dy of the last ``forward``;
- ``backward_params(grad_out) -> [[param, grad], ..., name]`` (layers with parameters only):
  each parameter array with dL/dparam of the same shape, then the layer's name.

Losses have ``forward(x, y) -> float`` and ``backward_inputs(x, y) -> dL/dx`` instead, and
``backward_params() -> [[param, grad], ..., name]`` when they have parameters (regularisers).
Shapes: x (N, C, H, W) for images, (N, D) for vectors; y one-hot (N, num_classes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

ParamGrads = list[Any]
"""``[[param, grad], ..., name]`` as ``backward_params`` returns it."""


def variance_scaling_initializer(
    shape: Sequence[int], fan_in: int, factor: float = 2.0
) -> np.ndarray:
    """He initialisation: N(0, factor / fan_in), keeps activations' variance through ReLUs."""
    return np.random.normal(0.0, np.sqrt(factor / fan_in), size=tuple(shape))


def zero_init(shape: Sequence[int], fan_in: int | None = None) -> np.ndarray:
    """Zeros of ``shape`` (biases)."""
    return np.zeros(tuple(shape))


class Layer(ABC):
    """A layer of a numpy network; see the module docstring for the contract."""

    name: str
    has_params: bool = False
    shape: tuple[int, ...]

    @abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = f(x), remembering what the backward pass needs."""

    @abstractmethod
    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/dx (shape of x) from dL/dy (shape of y)."""

    def backward_params(self, grad_out: np.ndarray) -> ParamGrads:
        """``[[param, dL/dparam], ..., name]``; only layers with ``has_params``."""
        raise NotImplementedError(f"{type(self).__name__} has no parameters")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, shape={self.shape})"
