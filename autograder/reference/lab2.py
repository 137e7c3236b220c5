"""Lab 2 (convolutional models): reference implementations of every graded task (instructors only).

Each name is the one the notebook's solution cell defines, with the same signature: the layers
``FC`` and ``ReLU``, the losses ``SoftmaxCrossEntropyWithLogits``, ``L2Regularizer`` and
``RegularizedLoss`` (layer contract: ``dlcourse.layers.base``), and the bonus tasks
``conv_backward`` (numpy) and ``multiclass_hinge_loss`` (PyTorch). The checks in
``dlcourse.tasks.lab2`` reach them through ``dlcourse.reference``; ``python -m autograder release``
runs the visible test cells with the student's names bound to them. Shipped by source into a
grading kernel when a check needs one (``autograder.rpc``), so this module imports only numpy,
torch and what stays in ``dlcourse``.

Also here, because they are the bonus's answer: ``col2im`` (the adjoint of the given ``im2col``)
and ``NumpyConvolution``, the given ``Convolution`` with its backward pass in numpy (the handout's
layer computes it with PyTorch instead); the benchmark times this one.

Shapes: x (N, D) or (N, C, H, W); logits (N, C); targets y one-hot (N, C); losses are averaged
over the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from dlcourse.layers.base import Layer, ParamGrads, variance_scaling_initializer, zero_init
from dlcourse.layers.conv import Convolution, _convolve_cols, im2col, same_padding, same_size

# ----------------------------------------------------------------------------- layers


class FC(Layer):
    """y = x W^T + b: x (N, D) -> y (N, M), weights W (M, D), bias b (M,).

    dL/dx = dL/dy W (N, D), dL/dW = (dL/dy)^T x (M, D), dL/db = sum_n dL/dy_n (M,).
    """

    def __init__(
        self,
        input_layer,
        num_outputs: int,
        name: str,
        weights_initializer_fn: Callable = variance_scaling_initializer,
        bias_initializer_fn: Callable = zero_init,
    ) -> None:
        N, *rest = input_layer.shape
        num_inputs = int(np.prod(rest))
        self.name, self.has_params, self.shape = name, True, (N, num_outputs)
        self.weights = weights_initializer_fn([num_outputs, num_inputs], fan_in=num_inputs)
        self.bias = bias_initializer_fn([num_outputs])

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x  # (N, D), for backward_params
        return x @ self.weights.T + self.bias  # (N, M)

    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out @ self.weights  # (N, D)

    def backward_params(self, grad_out: np.ndarray) -> ParamGrads:
        return [[self.weights, grad_out.T @ self.x], [self.bias, grad_out.sum(axis=0)], self.name]


class ReLU(Layer):
    """y = max(0, x), elementwise, any shape; dL/dx = dL/dy where x > 0, else 0."""

    def __init__(self, input_layer, name: str) -> None:
        self.name, self.shape, self.has_params = name, tuple(input_layer.shape), False

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.maximum(x, 0)

    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        return np.where(self.x > 0, grad_out, 0)


# ----------------------------------------------------------------------------- losses


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
        return float(self.weight_decay / 2 * np.sum(self.weights**2))

    def backward_params(self) -> ParamGrads:
        return [[self.weights, self.weight_decay * self.weights], self.name]


class RegularizedLoss:
    """data loss + the sum of the regularisers' losses; dL/dx is the data loss's."""

    has_params = True
    name = "RegularizedLoss"

    def __init__(
        self, data_loss: SoftmaxCrossEntropyWithLogits, regularizer_losses: Sequence[L2Regularizer]
    ) -> None:
        self.data_loss, self.regularizer_losses = data_loss, list(regularizer_losses)

    def forward(self, x: np.ndarray, y: np.ndarray) -> float:
        return self.data_loss.forward(x, y) + sum(r.forward() for r in self.regularizer_losses)

    def backward_inputs(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.data_loss.backward_inputs(x, y)

    def backward_params(self) -> list[ParamGrads]:
        """One ``[[W, dL/dW], name]`` per regulariser."""
        return [r.backward_params() for r in self.regularizer_losses]


# ----------------------------------------------------------------------------- bonus: convolution


def col2im(
    cols: np.ndarray, x_shape: tuple[int, ...], kernel_size: int, stride: int = 1
) -> np.ndarray:
    """The adjoint of ``im2col``: adds every patch back where it came from.

    Args:
        cols: (C k k, H' W' N), e.g. dL/dX_col.
        x_shape: (N, C, H, W) of the input ``im2col`` was given.

    Returns:
        (N, C, H, W): each input pixel gets the sum over all patches that contain it.
    """
    N, C, H, W = x_shape
    k = kernel_size
    patches = cols.reshape(C, k, k, same_size(H, stride), same_size(W, stride), N)
    return _add_patches(lambda i, j: patches[:, i, j], x_shape, k, stride, cols.dtype)


def _add_patches(
    offset_rows: Callable[[int, int], np.ndarray],
    x_shape: tuple[int, ...],
    kernel_size: int,
    stride: int,
    dtype: np.dtype,
) -> np.ndarray:
    """col2im given the rows of X_col one kernel offset at a time.

    ``offset_rows(i, j)`` is the (C, H', W', N) block of rows (c, i, j) of a (C k k, H' W' N)
    matrix: what every patch holds at offset (i, j). Returns (N, C, H, W).
    """
    N, C, H, W = x_shape
    k = kernel_size
    (top, bottom), (left, right) = same_padding(H, k, stride), same_padding(W, k, stride)
    H_out, W_out = same_size(H, stride), same_size(W, stride)
    grad = np.zeros((C, H + top + bottom, W + left + right, N), dtype=dtype)  # like im2col's
    for i in range(k):  # k^2 strided additions of whole images, not N H' W' patch additions
        for j in range(k):
            grad[:, i : i + stride * H_out : stride, j : j + stride * W_out : stride] += (
                offset_rows(i, j)
            )
    grad = grad.transpose(3, 0, 1, 2)  # (N, C, H + padding, W + padding), a view
    return grad[:, :, top : top + H, left : left + W]


def _rows(grad_out: np.ndarray) -> np.ndarray:
    """dL/dY as a matrix: (N, F, H', W') -> (F, H' W' N), the layout of Y = W X_col."""
    return grad_out.transpose(1, 2, 3, 0).reshape(grad_out.shape[1], -1)


def _grad_inputs(
    weights: np.ndarray, grad_out: np.ndarray, x_shape: tuple[int, ...], stride: int
) -> np.ndarray:
    """dL/dx = col2im(W^T dL/dY): grad_out (N, F, H', W') -> (N, C, H, W).

    Row block (c, i, j) of W^T dL/dY is W[:, :, i, j]^T dL/dY, so col2im gets it one kernel
    offset at a time: the (C k k, H' W' N) matrix is never stored, which saves most of the
    memory traffic (the same products, the same sum).
    """
    N, C = x_shape[:2]
    grad_y = _rows(grad_out)  # (F, H' W' N)
    kernels = weights.transpose(2, 3, 1, 0)  # (k, k, C, F)
    return _add_patches(
        lambda i, j: (kernels[i, j] @ grad_y).reshape(C, *grad_out.shape[2:], N),
        x_shape,
        weights.shape[-1],
        stride,
        grad_y.dtype,
    )


def _grad_weights(
    cols: np.ndarray, grad_out: np.ndarray, weights_shape: tuple[int, ...]
) -> np.ndarray:
    """dL/dW = dL/dY X_col^T, reshaped to (F, C, k, k)."""
    return (_rows(grad_out) @ cols.T).reshape(weights_shape)


def conv_backward(
    x: np.ndarray, weights: np.ndarray, grad_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx (N, C, H, W), dL/dW (F, C, k, k), dL/db (F,)) of a SAME, stride-1 convolution of
    x (N, C, H, W) with kernels ``weights`` (F, C, k, k), given dL/dy ``grad_out`` (N, F, H, W)."""
    cols = im2col(x, weights.shape[-1])  # (C k k, H W N)
    return (
        _grad_inputs(weights, grad_out, x.shape, 1),
        _grad_weights(cols, grad_out, weights.shape),
        grad_out.sum(axis=(0, 2, 3)),
    )


class NumpyConvolution(Convolution):
    """The given ``Convolution`` with the backward pass in numpy (im2col's columns kept from
    ``forward``, col2im one kernel offset at a time): the instructors' layer for the benchmark."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        self.cols = im2col(x, self.kernel_size, self.stride)  # (C k k, H' W' N)
        return _convolve_cols(self.cols, self.weights, self.bias, x.shape, self.stride)

    def backward_inputs(self, grad_out: np.ndarray) -> np.ndarray:
        return _grad_inputs(self.weights, grad_out, self.x.shape, self.stride)

    def backward_params(self, grad_out: np.ndarray) -> ParamGrads:
        return [
            [self.weights, _grad_weights(self.cols, grad_out, self.weights.shape)],
            [self.bias, grad_out.sum(axis=(0, 2, 3))],
            self.name,
        ]


# ----------------------------------------------------------------------------- bonus: hinge loss


def multiclass_hinge_loss(
    logits: torch.Tensor, target: torch.Tensor, delta: float = 1.0
) -> torch.Tensor:
    """1/N sum_n sum_{j != y_n} max(0, s_nj - s_ny_n + delta) for logits (N, C), target (N,)."""
    correct = logits.gather(1, target[:, None])  # (N, 1) score of the true class
    margins = torch.relu(logits - correct + delta)  # (N, C)
    others = torch.ones_like(margins).scatter(1, target[:, None], 0.0)  # 0 at the true class
    return (margins * others).sum(dim=1).mean()
