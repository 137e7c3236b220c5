"""Max pooling: the largest value of each p x p window, windows ``stride`` apart, no padding."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlcourse.layers.base import Layer


class MaxPooling(Layer):
    """x (N, C, H, W) -> (N, C, H', W') with H' = (H - p) // stride + 1 (as torch's MaxPool2d).

    The gradient of a max is 1 at the (first) largest element of its window and 0 elsewhere, so
    backward_inputs routes each dL/dy to the input element that was the window's maximum; where
    windows overlap (stride < p), an input element collects the gradients of every window it won.
    """

    def __init__(self, input_layer, name: str, pool_size: int = 2, stride: int = 2) -> None:
        N, C, H, W = input_layer.shape
        self.name, self.pool_size, self.stride = name, pool_size, stride
        self.shape = (N, C, (H - pool_size) // stride + 1, (W - pool_size) // stride + 1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Window maxima (N, C, H', W'); keeps which element of each window won."""
        p, s = self.pool_size, self.stride
        self.x_shape = x.shape
        windows = sliding_window_view(x, (p, p), axis=(2, 3))[:, :, ::s, ::s]  # (N, C, H', W', p, p)
        windows = windows.reshape(*windows.shape[:4], p * p)  # (N, C, H', W', p p), a copy
        self.argmax = windows.argmax(axis=-1)  # (N, C, H', W'), row-major index in the window
        return np.take_along_axis(windows, self.argmax[..., None], axis=-1)[..., 0]

    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (N, C, H', W') -> (N, C, H, W), nonzero only at the windows' maxima."""
        p, s = self.pool_size, self.stride
        _, _, H_out, W_out = grad_out.shape
        grad = np.zeros(self.x_shape, dtype=grad_out.dtype)
        for i in range(p):  # p^2 strided additions, one per position in the window
            for j in range(p):
                won = self.argmax == i * p + j  # (N, C, H', W')
                grad[:, :, i:i + s * H_out:s, j:j + s * W_out:s] += np.where(won, grad_out, 0)
        return grad
