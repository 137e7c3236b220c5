"""Convolution by im2col and one matrix product (GEMM), in vectorised numpy.

With a k x k kernel and stride s, output pixel (i, j) sees the patch of the padded input at rows
s i .. s i + k - 1 and columns s j .. s j + k - 1 of every channel. ``im2col`` lays those patches
out as the columns of a matrix X_col (C k k, H' W' N), and the convolution (a cross-correlation,
as in every deep-learning library) is one product with the kernels as rows of W (F, C k k):

    Y = W X_col + b                              (F, H' W' N)

Columns are ordered (i, j, n), the batch last, as in CS231n: then the k^2 copies of im2col move
runs of W' N contiguous numbers, not rows of W' (im2col 1.7x faster on MNIST's shapes).

The layer's backward pass is computed by PyTorch (``torch.nn.grad``), a well-kept library: its
numpy derivation is the lab's bonus task ``conv_backward``, so the course does not hand it out.

SAME padding: H' = ceil(H / s), with the (H' - 1) s + k - H missing rows padded with zeros, half
before and the rest after (as TensorFlow does; for an odd k and s = 1, (k - 1) / 2 each side).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from dlcourse.layers.base import Layer, ParamGrads, variance_scaling_initializer, zero_init


def same_size(size: int, stride: int) -> int:
    """H' = ceil(H / s): the output size of one spatial axis with SAME padding."""
    return -(-size // stride)


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """(before, after): zeros added to one spatial axis of ``size`` for SAME padding."""
    total = max((same_size(size, stride) - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def im2col(x: np.ndarray, kernel_size: int, stride: int = 1) -> np.ndarray:
    """Patches of the SAME-padded x as columns.

    Args:
        x: (N, C, H, W).

    Returns:
        X_col (C k k, H' W' N): column (i, j, n) (row-major) holds the k x k patch of every
        channel under output pixel (i, j) of image n, channel-major like a (F, C, k, k) kernel
        flattened to (F, C k k).
    """
    N, C, H, W = x.shape
    k = kernel_size
    H_out, W_out = same_size(H, stride), same_size(W, stride)
    xp = np.pad(
        x.transpose(1, 2, 3, 0),
        ((0, 0), same_padding(H, k, stride), same_padding(W, k, stride), (0, 0)),
    )  # (C, H+p, W+p, N)
    cols = np.empty((C, k, k, H_out, W_out, N), dtype=x.dtype)
    for i in range(k):  # k^2 strided copies of whole images, not N H' W' patch copies
        for j in range(k):
            cols[:, i, j] = xp[:, i : i + stride * H_out : stride, j : j + stride * W_out : stride]
    return cols.reshape(C * k * k, H_out * W_out * N)


def conv2d(
    x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None = None, stride: int = 1
) -> np.ndarray:
    """SAME-padded convolution (cross-correlation) of x with ``weights``.

    Args:
        x: (N, C, H, W).
        weights: (F, C, k, k).
        bias: (F,) or None.

    Returns:
        (N, F, H', W') with H' = ceil(H / stride), W' = ceil(W / stride).
    """
    return _convolve_cols(im2col(x, weights.shape[-1], stride), weights, bias, x.shape, stride)


def _convolve_cols(
    cols: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray | None,
    x_shape: tuple[int, ...],
    stride: int,
) -> np.ndarray:
    """Y = W X_col + b for X_col (C k k, H' W' N) of an input of ``x_shape`` -> (N, F, H', W')."""
    N, _, H, W = x_shape
    F = len(weights)
    out = weights.reshape(F, -1) @ cols  # (F, H' W' N)
    if bias is not None:
        out += bias[:, None]
    return out.reshape(F, same_size(H, stride), same_size(W, stride), N).transpose(3, 0, 1, 2)


class Convolution(Layer):
    """F filters k x k over all C input channels, SAME padding, any stride.

    Parameters: ``weights`` (F, C, k, k) from ``weights_initializer_fn(shape, fan_in=C k k)``
    and ``bias`` (F,) from ``bias_initializer_fn(shape)``. x: (N, C, H, W) -> (N, F, H', W').
    The forward pass is numpy's im2col + GEMM, the backward pass PyTorch's (``torch.nn.grad``).
    """

    def __init__(
        self,
        input_layer,
        num_filters: int,
        kernel_size: int,
        name: str,
        weights_initializer_fn: Callable = variance_scaling_initializer,
        bias_initializer_fn: Callable = zero_init,
        stride: int = 1,
    ) -> None:
        N, C, H, W = input_layer.shape
        self.name, self.has_params = name, True
        self.kernel_size, self.stride = kernel_size, stride
        self.shape = (N, num_filters, same_size(H, stride), same_size(W, stride))
        fan_in = C * kernel_size**2
        self.weights = weights_initializer_fn(
            (num_filters, C, kernel_size, kernel_size), fan_in=fan_in
        )
        self.bias = bias_initializer_fn((num_filters,))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) -> (N, F, H', W'); keeps x for the backward pass."""
        self.x = x
        return conv2d(x, self.weights, self.bias, self.stride)

    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/dx (N, C, H, W) from grad_out (N, F, H', W'), by ``torch.nn.grad.conv2d_input``."""
        N, C, H, W = self.x.shape
        (top, bottom), (left, right) = self._padding()
        weights, grad_y = _tensors(self.weights, grad_out)
        grad = torch.nn.grad.conv2d_input(
            (N, C, H + top + bottom, W + left + right), weights, grad_y, stride=self.stride
        )
        return grad.numpy()[:, :, top : top + H, left : left + W]  # the padding's gradient dropped

    def backward_params(self, grad_out: np.ndarray) -> ParamGrads:
        """dL/dW (F, C, k, k) by ``torch.nn.grad.conv2d_weight``, dL/db = sums of grad_out (F,)."""
        x_padded = np.pad(self.x, ((0, 0), (0, 0), *self._padding()))  # (N, C, H + p, W + p)
        x_padded, grad_y = _tensors(x_padded, grad_out)
        grad_weights = torch.nn.grad.conv2d_weight(
            x_padded, self.weights.shape, grad_y, stride=self.stride
        )
        return [
            [self.weights, grad_weights.numpy()],
            [self.bias, grad_out.sum(axis=(0, 2, 3))],
            self.name,
        ]

    def _padding(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)): SAME padding of the last input."""
        H, W = self.x.shape[2:]
        return (
            same_padding(H, self.kernel_size, self.stride),
            same_padding(W, self.kernel_size, self.stride),
        )


def _tensors(*arrays: np.ndarray) -> list[torch.Tensor]:
    """The arrays as CPU tensors of their common dtype (sharing memory where it already is)."""
    dtype = np.result_type(*arrays)
    return [torch.from_numpy(np.ascontiguousarray(a, dtype=dtype)) for a in arrays]
