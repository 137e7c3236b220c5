"""Lab 2 (convolutional models): reference implementations of every graded task (instructors only).

Each name is the one the notebook's solution cell defines, with the same signature: the layers
``FC`` and ``ReLU``, the losses ``SoftmaxCrossEntropyWithLogits``, ``L2Regularizer`` and
``RegularizedLoss`` (layer contract: ``dlcourse.layers.base``), the PyTorch half
(``MnistConvNet``, ``CifarConvNet``, ``learning_rate``, ``train_epoch``, ``evaluate``, ``worst_k``,
and the ungraded loop ``train``, the notebook's ``train_pytorch``), and the bonus tasks
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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import config
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


# ----------------------------------------------------------------------------- PyTorch models


class MnistConvNet(nn.Module):
    """conv(16, 5) -> pool 2 -> relu -> conv(32, 5) -> pool 2 -> relu -> fc 512 -> relu -> fc 10
    (SAME convolutions); Kaiming (He) normal weights and zero biases, as the numpy network's."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc3 = nn.Linear(32 * 7 * 7, 512)
        self.logits = nn.Linear(512, num_classes)
        _kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 1, 28, 28) -> logits (N, num_classes)."""
        h = torch.relu(F.max_pool2d(self.conv1(x), 2))  # (N, 16, 14, 14)
        h = torch.relu(F.max_pool2d(self.conv2(h), 2))  # (N, 32, 7, 7)
        h = torch.relu(self.fc3(h.flatten(1)))  # (N, 512)
        return self.logits(h)


class CifarConvNet(nn.Module):
    """conv(16, 5) -> relu -> pool 3/2 -> conv(32, 5) -> relu -> pool 3/2 -> fc 256 -> relu
    -> fc 128 -> relu -> fc 10; Kaiming (He) normal weights and zero biases."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc3 = nn.Linear(32 * 7 * 7, 256)
        self.fc4 = nn.Linear(256, 128)
        self.logits = nn.Linear(128, num_classes)
        _kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 3, 32, 32) -> logits (N, num_classes)."""
        h = F.max_pool2d(torch.relu(self.conv1(x)), 3, 2)  # (N, 16, 15, 15)
        h = F.max_pool2d(torch.relu(self.conv2(h)), 3, 2)  # (N, 32, 7, 7)
        h = torch.relu(self.fc3(h.flatten(1)))  # (N, 256)
        h = torch.relu(self.fc4(h))  # (N, 128)
        return self.logits(h)


def _kaiming(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)


# ----------------------------------------------------------------------------- training


def learning_rate(epoch: int, lr_policy: dict[int, float]) -> float:
    """The rate of the largest key <= epoch: the course's ``train.py`` switches to
    ``lr_policy[e]`` at the start of epoch e and keeps it until the next key."""
    return lr_policy[max(key for key in lr_policy if key <= epoch)]


def train_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    weight_decay: float,
    batch_size: int,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> list[float]:
    """One epoch of SGD over x (N, ...) and class indices y (N,) in the given order, batches of
    ``batch_size`` (the last one shorter), mean ``loss_fn`` (cross-entropy), L2 on the weights only
    (``weight_decay`` W added to each weight's gradient), model in training mode.
    Returns each batch's loss, before its step."""
    model.train()
    device = next(model.parameters()).device
    losses = []
    for start in range(0, len(x), batch_size):
        batch_x = x[start : start + batch_size].to(device)
        batch_y = y[start : start + batch_size].to(device)
        loss = loss_fn(model(batch_x), batch_y)
        model.zero_grad()
        loss.backward()
        _sgd_step(model, lr, weight_decay)
        losses.append(loss.item())
    return losses


@torch.no_grad()
def _sgd_step(model: nn.Module, lr: float, weight_decay: float) -> None:
    """W <- W - lr (dL/dW + weight_decay W) for weights, b <- b - lr dL/db for biases: what
    ``torch.optim.SGD`` does with the weights and biases in two groups (written out, so that a
    grader need not import torch.optim's compiler machinery, seconds the first time)."""
    for p in model.parameters():
        step = p.grad + weight_decay * p if p.dim() > 1 else p.grad
        p -= lr * step


def train(
    model: nn.Module,
    train_data: tuple[np.ndarray, np.ndarray],
    valid_data: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    lr_policy: dict[int, float],
    weight_decay: float,
    seed: int = 0,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> dict[str, list[Any]]:
    """``epochs`` of ``train_epoch``, the examples in a new (seeded) order each time, at the rate
    ``learning_rate(epoch, lr_policy)``; after each epoch both sets are evaluated and the first
    convolution's filters saved. The course's notebook-side loop (not graded).

    Returns:
        history: ``batch_loss`` (every batch), ``train_loss``, ``train_accuracy``,
        ``valid_loss``, ``valid_accuracy``, ``lr`` and ``filters`` (numpy (F, C, k, k)) per epoch.
    """
    model.to(config.device())
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.as_tensor(train_data[0]), torch.as_tensor(train_data[1])
    num_classes = int(max(y.max(), valid_data[1].max())) + 1
    history: dict[str, list[Any]] = {key: [] for key in HISTORY}
    for epoch in range(1, epochs + 1):
        lr = learning_rate(epoch, lr_policy)
        order = torch.randperm(len(x), generator=generator)
        losses = train_epoch(
            model,
            x[order],
            y[order],
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            loss_fn=loss_fn,
        )
        on_train = evaluate(model, train_data[0], train_data[1], num_classes)
        on_valid = evaluate(model, valid_data[0], valid_data[1], num_classes)
        conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        history["batch_loss"] += losses
        for key, value in (
            ("train_loss", on_train["loss"]),
            ("train_accuracy", on_train["accuracy"]),
            ("valid_loss", on_valid["loss"]),
            ("valid_accuracy", on_valid["accuracy"]),
            ("lr", lr),
            ("filters", conv.weight.detach().cpu().numpy().copy()),
        ):
            history[key].append(value)
        print(
            f"epoch {epoch}: lr {lr:.3g}, train loss {on_train['loss']:.4f}, accuracy "
            f"{on_train['accuracy']:.2%}; validation loss {on_valid['loss']:.4f}, accuracy "
            f"{on_valid['accuracy']:.2%}"
        )
    return history


HISTORY = (
    "batch_loss",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_accuracy",
    "lr",
    "filters",
)
"""The keys of ``train``'s history."""


# ----------------------------------------------------------------------------- evaluation


def evaluate(
    model: nn.Module, x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int = 500
) -> dict[str, Any]:
    """Mean cross-entropy, the confusion matrix M (rows: true class, columns: predicted) and
    from it accuracy tr M / N, precision M_cc / sum_i M_ic and recall M_cc / sum_j M_cj (0 for
    a class never predicted, or never present). Predicts in eval mode without gradients and
    puts the model back in the mode it was in."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = torch.cat(
            [
                model(torch.as_tensor(x[i : i + batch_size]).to(device)).cpu()
                for i in range(0, len(x), batch_size)
            ]
        )
    model.train(was_training)
    y_tensor = torch.as_tensor(y)
    loss = F.cross_entropy(logits.double(), y_tensor).item()
    predicted = logits.argmax(dim=1).numpy()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (np.asarray(y), predicted), 1)
    hits = np.diag(confusion).astype(np.float64)
    predicted_count, true_count = confusion.sum(axis=0), confusion.sum(axis=1)
    return dict(
        loss=loss,
        confusion=confusion,
        accuracy=float(hits.sum() / confusion.sum()),
        precision=_ratio(hits, predicted_count),
        recall=_ratio(hits, true_count),
    )


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b elementwise, 0 where b is 0."""
    return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)


def worst_k(logits: np.ndarray, y: np.ndarray, k: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(indices (n,), top3 (n, 3)): the n = min(k, number misclassified) misclassified examples
    (argmax of the logits != y) with the largest cross-entropy (the lowest probability of the
    true class), largest first, and each one's three most probable classes, most probable
    first."""
    log_probs = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1)
    losses = -log_probs[torch.arange(len(y)), torch.as_tensor(y)].numpy()
    wrong = np.flatnonzero(np.argmax(logits, axis=1) != y)
    worst = wrong[np.argsort(-losses[wrong], kind="stable")[:k]]
    return worst, np.argsort(-logits[worst], axis=1, kind="stable")[:, :3]
