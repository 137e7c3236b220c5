"""Lab 2's given code: data preparation, the numpy MNIST network built from layers, and the
course's training plot. The PyTorch models, their training and their evaluation are the
student's (graded: ``dlcourse.tasks.lab2``).

MNIST:    conv(16, 5) -> pool(2) -> relu -> conv(32, 5) -> pool(2) -> relu
          -> fc 512 -> relu -> fc 10
Convolutions use SAME padding and stride 1; pool(p) is p x p max pooling with stride p.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from dlcourse import layers

# ----------------------------------------------------------------------------- data preparation


def to_float_images(images: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, C) -> values in [0, 1] as (N, C, H, W)."""
    x = images.astype(dtype) / 255
    return x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)


def subtract_mean(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Every array minus the mean pixel of ``train`` (one number, as for MNIST)."""
    mean = train.mean()
    return [x - mean for x in (train, *others)]


def standardize_channels(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """(x - mean) / std per channel, both from ``train`` (N, C, H, W)."""
    mean = train.mean(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    std = train.std(axis=(0, 2, 3), keepdims=True)
    return [(x - mean) / std for x in (train, *others)]


# ----------------------------------------------------------------------------- numpy network


def numpy_mnist_net(
    inputs: np.ndarray, *, FC: type, ReLU: type, Convolution: type = layers.Convolution
) -> list[layers.Layer]:
    """The lab's MNIST network from the given layers and the caller's ``FC`` and ``ReLU``
    classes (the notebook passes the student's: the course gives no FC or ReLU);
    ``inputs`` (N, 1, 28, 28) fixes the batch shape. ``Convolution``: the given layer, or one
    with the same constructor (the benchmark's numpy-backward reference)."""
    net: list[Any] = [Convolution(inputs, 16, 5, "conv1")]
    net += [layers.MaxPooling(net[-1], "pool1", pool_size=2, stride=2)]
    net += [ReLU(net[-1], "relu1")]
    net += [Convolution(net[-1], 32, 5, "conv2")]
    net += [layers.MaxPooling(net[-1], "pool2", pool_size=2, stride=2)]
    net += [ReLU(net[-1], "relu2")]
    net += [layers.Flatten(net[-1], "flatten3")]
    net += [FC(net[-1], 512, "fc3")]
    net += [ReLU(net[-1], "relu3")]
    net += [FC(net[-1], 10, "logits")]
    return net


# ----------------------------------------------------------------------------- plots


def plot_training_progress(history: dict[str, list[Any]], title: str = "") -> plt.Figure:
    """The course's ``plot_training_progress``: cross-entropy and accuracy on the training and
    validation sets, and the learning rate, per epoch, from a history with the keys
    ``train_loss``, ``valid_loss``, ``train_accuracy``, ``valid_accuracy`` and ``lr``."""
    epochs = np.arange(1, len(history["lr"]) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3))
    for ax, key, name in (
        (axes[0], "loss", "cross-entropy"),
        (axes[1], "accuracy", "accuracy"),
    ):
        ax.plot(epochs, history[f"train_{key}"], "o-", label="train")
        ax.plot(epochs, history[f"valid_{key}"], "o-", label="validation")
        ax.set(xlabel="epoch", title=name)
        ax.legend()
    axes[2].plot(epochs, history["lr"], "o-")
    axes[2].set(xlabel="epoch", title="learning rate", yscale="log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
