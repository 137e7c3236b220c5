"""Fully connected classifiers in PyTorch (Lab 1): the course's references.

Students write their own in Lab 1 (``PTLogreg``, ``PTDeep``, ``train``, ``train_mb``, ``eval``);
the graded checks compare with these and ``benchmarks/lab1_fc.py`` times them.

Conventions (docs/lab1-contract.md): X (N, D) float tensor, Yoh_ (N, C) one-hot float tensor,
weights (out, in) as in ``nn.Linear``, biases (out,). ``forward(X)`` returns class probabilities
(N, C), ``get_loss(X, Yoh_)`` the mean cross-entropy. Training minimises

    get_loss(X, Yoh_) + param_lambda * (sum of squared entries of every weight matrix),

where the weight matrices are the parameters with two or more dimensions (biases are not
regularised), with ``torch.optim`` stepping on ``model.parameters()``.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm


def cross_entropy(logits: torch.Tensor, Yoh_: torch.Tensor) -> torch.Tensor:
    """Mean over rows of -sum_c Yoh_[i, c] log softmax(logits)[i, c]; logits, Yoh_: (N, C)."""
    return -(Yoh_ * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


class PTLogreg(nn.Module):
    """Multinomial logistic regression: P(Y|x) = softmax(W x + b), W (C, D), b (C,)."""

    def __init__(self, D: int, C: int) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(C, D) / math.sqrt(D))  # small logits at the start
        self.b = nn.Parameter(torch.zeros(C))

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        return X @ self.W.T + self.b  # (N, C)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(X), dim=1)  # (N, C)

    def get_loss(self, X: torch.Tensor, Yoh_: torch.Tensor) -> torch.Tensor:
        return cross_entropy(self.logits(X), Yoh_)


class PTDeep(nn.Module):
    """A fully connected network of layer sizes ``config`` = [D, H1, ..., C].

    h_0 = X, h_i = activation(h_{i-1} W_i^T + b_i) for the hidden layers, and
    P(Y|x) = softmax(h_{L-1} W_L^T + b_L); W_i (config[i], config[i-1]), b_i (config[i],), kept
    in the ParameterLists ``weights`` and ``biases``.
    """

    def __init__(self, config: Sequence[int],
                 activation: Callable[[torch.Tensor], torch.Tensor] = torch.relu) -> None:
        super().__init__()
        if len(config) < 2:
            raise ValueError(f"config needs at least the input and output sizes, got {list(config)}")
        pairs = list(zip(config[:-1], config[1:]))  # (in, out) of each layer
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(n_out, n_in) / math.sqrt(n_in))
                                         for n_in, n_out in pairs])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(n_out)) for _, n_out in pairs])
        self.activation = activation

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        h = X
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ W.T + b  # (N, config[i + 1])
            if i < len(self.weights) - 1:
                h = self.activation(h)
        return h

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(X), dim=1)  # (N, C)

    def get_loss(self, X: torch.Tensor, Yoh_: torch.Tensor) -> torch.Tensor:
        return cross_entropy(self.logits(X), Yoh_)

    def count_params(self) -> int:
        """Print each parameter's name and shape; return the number of scalars in all."""
        for name, p in self.named_parameters():
            print(f"{name}: {tuple(p.shape)}")
        return sum(p.numel() for p in self.parameters())


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of squared entries of every weight matrix (parameters with 2+ dimensions)."""
    return sum(((p ** 2).sum() for p in model.parameters() if p.dim() >= 2),
               torch.zeros((), dtype=next(model.parameters()).dtype))


def train(model: nn.Module, X: torch.Tensor, Yoh_: torch.Tensor, param_niter: int,
          param_delta: float, param_lambda: float = 0.0) -> list[float]:
    """Full-batch gradient descent (torch.optim.SGD, step ``param_delta``) for ``param_niter``
    steps; returns the loss before each step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=param_delta)
    losses = []
    for _ in range(param_niter):
        loss = model.get_loss(X, Yoh_)
        if param_lambda:
            loss = loss + param_lambda * l2_penalty(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_mb(model: nn.Module, X: torch.Tensor, Yoh_: torch.Tensor, param_epochs: int,
             param_delta: float, param_lambda: float = 0.0, batch_size: int = 100,
             optimizer: type[torch.optim.Optimizer] = torch.optim.SGD, lr_gamma: float = 1.0,
             X_val: torch.Tensor | None = None, Y_val: np.ndarray | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Mini-batch training: each epoch visits the data once in a new random order, in batches of
    ``batch_size`` (the last one smaller when N is not a multiple), one optimizer step per batch.

    ``optimizer(model.parameters(), lr=param_delta)`` steps; the learning rate is multiplied by
    ``lr_gamma`` after every epoch (``ExponentialLR``). With ``X_val`` (M, D) and ``Y_val`` (M,)
    class indices, the validation accuracy is measured after every epoch and the parameters of
    the best epoch (the earliest on ties) are put back into the model at the end (early stopping).

    Returns:
        history: {"loss": the loss of every batch, in order, "val_accuracy": one per epoch
        ([] without X_val), "best_epoch": the epoch (counted from 1) whose parameters the model
        keeps (None without X_val)}.
    """
    opt = optimizer(model.parameters(), lr=param_delta)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=lr_gamma)
    history: dict[str, Any] = {"loss": [], "val_accuracy": [], "best_epoch": None}
    best_state, N = None, len(X)
    for _ in tqdm(range(param_epochs), desc="epochs", disable=not progress, leave=False):
        model.train()  # layers such as batch norm behave differently while training
        order = torch.randperm(N, device=X.device)
        for start in range(0, N, batch_size):
            batch = order[start:start + batch_size]
            loss = model.get_loss(X[batch], Yoh_[batch])
            if param_lambda:
                loss = loss + param_lambda * l2_penalty(model)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["loss"].append(loss.item())
        schedule.step()
        if X_val is not None:
            accuracy = float(np.mean(predict(model, X_val) == np.asarray(Y_val)))
            if not history["val_accuracy"] or accuracy > max(history["val_accuracy"]):
                best_state = copy.deepcopy(model.state_dict())
                history["best_epoch"] = len(history["val_accuracy"]) + 1
            history["val_accuracy"].append(accuracy)
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def eval_probs(model: nn.Module, X: np.ndarray | torch.Tensor) -> np.ndarray:
    """Class probabilities (N, C) as numpy, computed in eval mode without autograd, in the dtype
    and on the device of the model's parameters; the model's mode is restored (the notebooks
    call this task ``eval``)."""
    p, training = next(model.parameters()), model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(torch.as_tensor(X, dtype=p.dtype, device=p.device)).cpu().numpy()
    finally:
        model.train(training)


def predict(model: nn.Module, X: np.ndarray | torch.Tensor, batch_size: int = 10_000) -> np.ndarray:
    """Predicted class indices (N,), in batches so that large test sets fit in memory."""
    return np.concatenate([eval_probs(model, X[i:i + batch_size]).argmax(axis=1)
                           for i in range(0, len(X), batch_size)])
