"""Max pooling: the largest value of each p x p window, windows ``stride`` apart, no padding."""

from __future__ import annotations

import numpy as np

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
        H_out, W_out = (x.shape[2] - p) // s + 1, (x.shape[3] - p) // s + 1
        out, self.argmax = None, np.zeros((*x.shape[:2], H_out, W_out), dtype=np.intp)
        for i in range(p):  # p^2 passes over strided views instead of copying every window
            for j in range(p):
                candidate = x[:, :, i : i + s * H_out : s, j : j + s * W_out : s]  # (N, C, H', W')
                if out is None:
                    out = candidate.copy()
                    continue
                better = candidate > out  # strict: a tie keeps the first maximum, as torch does
                np.copyto(out, candidate, where=better)
                np.copyto(self.argmax, i * p + j, where=better)  # row-major position in the window
        return out

    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (N, C, H', W') -> (N, C, H, W), nonzero only at the windows' maxima."""
        p, s = self.pool_size, self.stride
        _, _, H_out, W_out = grad_out.shape
        grad = np.zeros(self.x_shape, dtype=grad_out.dtype)
        for i in range(p):  # p^2 strided passes, one per position in the window
            for j in range(p):
                won = self.argmax == i * p + j  # (N, C, H', W')
                target = grad[:, :, i : i + s * H_out : s, j : j + s * W_out : s]  # a view
                if s >= p:  # windows don't overlap: every input element is in one window at most
                    np.multiply(grad_out, won, out=target)
                else:
                    target += grad_out * won
        return grad
