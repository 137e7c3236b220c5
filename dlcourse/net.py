"""Run numpy networks of layers (the given ``dlcourse.layers`` and the student's own ``FC``,
``ReLU``, ...): a network is a list of layers, bottom first; the loss is the caller's too.

    logits = forward_pass(net, x)
    grads = backward_pass(net, loss, logits, y)     # [[param, grad], ..., name] per layer
    sgd_update(grads, lr)                           # param -= lr * grad, in place
    history = train(train_x, train_y, valid_x, valid_y, net, loss, config)
    loss_value, accuracy = evaluate("Test", x, y, net, loss, config)

Labels y are one-hot (N, num_classes). ``config``: ``max_epochs``, ``batch_size`` and
``lr_policy`` {first epoch: {"lr": learning rate}, ...} (e.g. {1: {"lr": 0.1}, 3: {"lr": 0.01}}).
``summary(net)`` tabulates shapes, parameters, receptive fields and memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dlcourse.layers.base import Layer, ParamGrads


def forward_pass(net: Sequence[Layer], inputs: np.ndarray) -> np.ndarray:
    """The output of the last layer (logits) for ``inputs``."""
    output = inputs
    for layer in net:
        output = layer.forward(output)
    return output


def backward_pass(
    net: Sequence[Layer], loss: Any, x: np.ndarray, y: np.ndarray
) -> list[ParamGrads]:
    """Gradients of ``loss`` at logits x and targets y for every parameter, top layer first.

    The loss's own parameter gradients come first (a ``RegularizedLoss`` returns a list of
    them); then each layer with ``has_params`` adds ``backward_params(grad_out)``. The first
    layer's ``backward_inputs`` is skipped: nothing needs the gradient of the input images.
    """
    grads: list[ParamGrads] = []
    grad_out = loss.backward_inputs(x, y)
    if loss.has_params:
        grads += loss.backward_params()
    for depth in reversed(range(len(net))):
        layer = net[depth]
        grad_inputs = layer.backward_inputs(grad_out) if depth else None
        if layer.has_params:
            grads.append(layer.backward_params(grad_out))
        grad_out = grad_inputs
    return grads


def sgd_update(grads: list[ParamGrads], lr: float) -> None:
    """param -= lr * grad for every [param, grad] pair, in place (the layers see the update)."""
    for layer_grads in grads:
        *pairs, name = layer_grads
        for param, grad in pairs:
            if np.shape(grad) != param.shape:
                raise ValueError(
                    f"{name}: a gradient has shape {np.shape(grad)} but its parameter "
                    f"{param.shape}; backward_params must return dL/dparam of the "
                    "parameter's shape"
                )
            param -= lr * grad


def _batches(num_examples: int, batch_size: int) -> range:
    if num_examples % batch_size:
        raise ValueError(
            f"{num_examples} examples do not split into batches of {batch_size}: "
            "choose a batch size that divides the number of examples"
        )
    return range(0, num_examples, batch_size)


def train(
    train_x: np.ndarray,
    train_y: np.ndarray,
    valid_x: np.ndarray,
    valid_y: np.ndarray,
    net: Sequence[Layer],
    loss: Any,
    config: dict[str, Any],
) -> dict[str, list[float]]:
    """Mini-batch SGD for ``config["max_epochs"]`` epochs over shuffled training data.

    The learning rate of epoch e is that of the largest key <= e of ``config["lr_policy"]``.
    Shows a progress bar per epoch and evaluates on the validation set after each.

    Returns:
        history: ``batch_loss`` (every batch), ``train_loss``, ``train_accuracy``,
        ``valid_loss``, ``valid_accuracy``, ``lr`` and ``seconds`` (of training, every epoch).
    """
    batch_size, policy = config["batch_size"], config["lr_policy"]
    if 1 not in policy:
        raise ValueError(
            "config['lr_policy'] needs a learning rate for epoch 1, e.g. {1: {'lr': 0.1}}"
        )
    history: dict[str, list[float]] = {
        key: []
        for key in (
            "batch_loss",
            "train_loss",
            "train_accuracy",
            "valid_loss",
            "valid_accuracy",
            "lr",
            "seconds",
        )
    }
    for epoch in range(1, config["max_epochs"] + 1):
        lr = policy[max(e for e in policy if e <= epoch)]["lr"]
        order = np.random.permutation(len(train_x))
        losses, correct, start_time = [], 0, time.perf_counter()
        bar = tqdm(
            _batches(len(train_x), batch_size), desc=f"epoch {epoch}", unit="batch", leave=False
        )
        for start in bar:
            idx = order[start : start + batch_size]
            batch_x, batch_y = train_x[idx], train_y[idx]
            logits = forward_pass(net, batch_x)
            losses.append(loss.forward(logits, batch_y))
            correct += int((logits.argmax(axis=1) == batch_y.argmax(axis=1)).sum())
            sgd_update(backward_pass(net, loss, logits, batch_y), lr)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        seconds = time.perf_counter() - start_time
        valid_loss, valid_accuracy = evaluate(
            "Validation", valid_x, valid_y, net, loss, config, verbose=False
        )
        for key, value in (
            ("train_loss", np.mean(losses)),
            ("train_accuracy", correct / len(train_x)),
            ("valid_loss", valid_loss),
            ("valid_accuracy", valid_accuracy),
            ("lr", lr),
            ("seconds", seconds),
        ):
            history[key].append(float(value))
        history["batch_loss"] += losses
        print(
            f"epoch {epoch}: lr {lr:g}, train loss {np.mean(losses):.4f}, train accuracy "
            f"{correct / len(train_x):.2%}, validation loss {valid_loss:.4f}, "
            f"accuracy {valid_accuracy:.2%}"
        )
    return history


def evaluate(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    net: Sequence[Layer],
    loss: Any,
    config: dict[str, Any],
    *,
    verbose: bool = True,
) -> tuple[float, float]:
    """(mean loss, accuracy) of the network on x, y, in batches of ``config["batch_size"]``."""
    batch_size = config["batch_size"]
    losses, correct = [], 0
    for start in range(0, len(x), batch_size):  # the last batch may be smaller
        batch_x, batch_y = x[start : start + batch_size], y[start : start + batch_size]
        logits = forward_pass(net, batch_x)
        losses.append(loss.forward(logits, batch_y) * len(batch_x))
        correct += int((logits.argmax(axis=1) == batch_y.argmax(axis=1)).sum())
    mean_loss, accuracy = float(np.sum(losses) / len(x)), correct / len(x)
    if verbose:
        print(f"{name}: loss {mean_loss:.4f}, accuracy {accuracy:.2%}")
    return mean_loss, accuracy


def summary(net: Sequence[Layer]) -> list[dict[str, Any]]:
    """Per layer: name, output shape, parameter count, receptive field and float64 bytes of the
    output (for the batch size the network was built for).

    The receptive field r (input pixels one output pixel sees, per side) and the jump j (input
    pixels between neighbouring outputs) grow as r += (k - 1) j, j *= stride for every layer with
    a k x k window (convolution or pooling); layers without one keep them.
    """
    rows, field, jump = [], 1, 1
    for layer in net:
        k = getattr(layer, "kernel_size", getattr(layer, "pool_size", 1))
        if len(layer.shape) == 4:
            field, jump = field + (k - 1) * jump, jump * getattr(layer, "stride", 1)
        params = sum(
            np.size(p)
            for p in (getattr(layer, "weights", None), getattr(layer, "bias", None))
            if p is not None
        )
        rows.append(
            dict(
                name=layer.name,
                shape=tuple(layer.shape),
                params=int(params),
                receptive_field=field if len(layer.shape) == 4 else None,
                output_bytes=int(np.prod(layer.shape)) * np.dtype(np.float64).itemsize,
            )
        )
    return rows
