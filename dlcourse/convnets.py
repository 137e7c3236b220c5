"""Lab 2's networks: the numpy MNIST network built from layers, and the PyTorch models for MNIST
and CIFAR-10 with their training loop and evaluation (used by the notebook and the benchmark).

MNIST:    conv(16, 5) -> pool(2) -> relu -> conv(32, 5) -> pool(2) -> relu
          -> fc 512 -> relu -> fc 10
CIFAR-10: conv(16, 5) -> relu -> pool(3, 2) -> conv(32, 5) -> relu -> pool(3, 2)
          -> fc 256 -> relu -> fc 128 -> relu -> fc 10
Convolutions use SAME padding and stride 1; pool(p) is p x p max pooling with stride p.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix, precision_score, recall_score
from torch import nn
from tqdm.auto import tqdm

from dlcourse import config, layers

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


# ----------------------------------------------------------------------------- PyTorch models


class MnistConvNet(nn.Module):
    """The MNIST network in PyTorch; Kaiming (He) normal weights and zero biases, as the numpy
    network's ``variance_scaling_initializer``."""

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
    """The CIFAR-10 network; Kaiming (He) normal weights and zero biases."""

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


def sgd(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.SGD:
    """Plain SGD with L2 regularisation of the weights only (not the biases): weight_decay W
    added to each weight's gradient is the gradient of weight_decay / 2 ||W||^2."""
    weights = [p for p in model.parameters() if p.dim() > 1]
    biases = [p for p in model.parameters() if p.dim() <= 1]
    return torch.optim.SGD(
        [dict(params=weights, weight_decay=weight_decay), dict(params=biases, weight_decay=0.0)],
        lr=lr,
    )


def train(
    model: nn.Module,
    train_data: tuple[np.ndarray, np.ndarray],
    valid_data: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
    seed: int = 0,
) -> dict[str, list[Any]]:
    """Mini-batch SGD on (x (N, C, H, W) float, y (N,) class indices), shuffled each epoch.

    ``scheduler(optimizer)`` makes a torch learning-rate scheduler stepped after every epoch
    (e.g. ``lambda opt: ExponentialLR(opt, gamma=0.9)``); None keeps ``lr``.

    Returns:
        history: ``batch_loss`` (every batch), ``train_loss``, ``train_accuracy``,
        ``valid_loss``, ``valid_accuracy``, ``lr``, ``seconds`` (of training) and ``filters``
        (first convolution's weights as numpy (F, C, k, k)) after every epoch.
    """
    device = config.device()
    model.to(device)
    optimizer = sgd(model, lr, weight_decay)
    schedule = scheduler(optimizer) if scheduler else None
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.as_tensor(train_data[0]), torch.as_tensor(train_data[1])
    history: dict[str, list[Any]] = {
        key: []
        for key in (
            "batch_loss",
            "train_loss",
            "train_accuracy",
            "valid_loss",
            "valid_accuracy",
            "lr",
            "seconds",
            "filters",
        )
    }
    for epoch in range(1, epochs + 1):
        lr_now = optimizer.param_groups[0]["lr"]
        model.train()
        order = torch.randperm(len(x), generator=generator)
        losses, correct, start_time = [], 0, time.perf_counter()
        bar = tqdm(range(0, len(x), batch_size), desc=f"epoch {epoch}", unit="batch", leave=False)
        for start in bar:
            idx = order[start : start + batch_size]
            batch_x, batch_y = x[idx].to(device), y[idx].to(device)
            logits = model(batch_x)
            loss = F.cross_entropy(logits, batch_y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            correct += int((logits.argmax(1) == batch_y).sum())
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        seconds = time.perf_counter() - start_time
        if schedule is not None:
            schedule.step()
        valid = evaluate(model, *valid_data)
        for key, value in (
            ("train_loss", float(np.mean(losses))),
            ("train_accuracy", correct / len(x)),
            ("valid_loss", valid.loss),
            ("valid_accuracy", valid.accuracy),
            ("lr", lr_now),
            ("seconds", seconds),
            ("filters", _first_conv(model).weight.detach().cpu().numpy().copy()),
        ):
            history[key].append(value)
        history["batch_loss"] += losses
        print(
            f"epoch {epoch}: lr {lr_now:.3g}, train loss {np.mean(losses):.4f}, train accuracy "
            f"{correct / len(x):.2%}, validation loss {valid.loss:.4f}, "
            f"accuracy {valid.accuracy:.2%}"
        )
    return history


def _first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy, the confusion matrix (rows: true class, columns: predicted) and what
    follows from it: accuracy = trace / N, precision_c = M_cc / column sum, recall_c = M_cc / row
    sum."""

    loss: float
    confusion: np.ndarray
    accuracy: float
    precision: np.ndarray
    recall: np.ndarray


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Logits (N, num_classes) of the model for x (N, C, H, W), in evaluation mode."""
    model.eval()
    device = config.model_device(model)
    return torch.cat(
        [
            model(torch.as_tensor(x[i : i + batch_size]).to(device)).cpu()
            for i in range(0, len(x), batch_size)
        ]
    ).numpy()


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, num_classes: int = 10) -> Evaluation:
    """Loss, confusion matrix (rows: true classes), accuracy and per-class precision and recall.

    The metrics come from scikit-learn: written out here they would answer Lab 0's graded
    ``eval_perf_multi``."""
    logits = predict(model, x)
    loss = float(F.cross_entropy(torch.as_tensor(logits).double(), torch.as_tensor(y)))
    predicted, classes = logits.argmax(1), np.arange(num_classes)
    scores = dict(labels=classes, average=None, zero_division=0)
    return Evaluation(
        loss=loss,
        confusion=confusion_matrix(y, predicted, labels=classes),
        accuracy=float(accuracy_score(y, predicted)),
        precision=precision_score(y, predicted, **scores),
        recall=recall_score(y, predicted, **scores),
    )
