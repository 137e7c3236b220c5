"""Lab 1 (fully connected models): reference implementations of every graded task (instructors).

Each task name is the one the notebook's solution cell defines, with the same signature. The
checks in ``dlcourse.tasks.lab1`` reach these through ``dlcourse.reference``: as substitutes that
grade a task on its own (``fcann2_loss_grad`` inside ``fcann2_train``, ``eval`` inside
``train_mb``) and for the expected trajectories of ``train``, ``eval``, ``train_mb`` and early
stopping; ``python -m autograder release`` runs the visible test cells with the student's names
bound to them and records those trajectories as the handout's control outputs.
``benchmarks/lab1_fc.py`` times ``train_mb`` and trains the best model with it. Shipped by source
into a grading kernel when a check substitutes one of them (``autograder.rpc``), so this module
imports only numpy, torch, scikit-learn and tqdm (a dependency of ``dlcourse`` itself).

Conventions (docs/lab1-contract.md): X (N, D), Y_ (N,) class indices, Yoh_ (N, C) one-hot;
weights (out, in) as in ``nn.Linear``, biases (out,). A model's ``forward(X)`` returns class
probabilities (N, C), ``get_loss(X, Yoh_)`` the mean cross-entropy. Training minimises

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
from sklearn.svm import SVC
from torch import nn
from tqdm.auto import tqdm

# ----------------------------------------------------------------------------- fcann2 (numpy)


def fcann2_loss_grad(
    X: np.ndarray,
    Y_: np.ndarray,
    W1: np.ndarray,
    b1: np.ndarray,
    W2: np.ndarray,
    b2: np.ndarray,
    param_lambda: float = 0.0,
) -> tuple[float, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Loss of relu(X W1^T + b1) W2^T + b2 (mean cross-entropy + param_lambda (|W1|^2 + |W2|^2))
    and its gradients (grad_W1 (H, D), grad_b1 (H,), grad_W2 (C, H), grad_b2 (C,)), by
    backpropagation; log-softmax from shifted scores, so scores in the hundreds do not overflow."""
    N, rows = len(X), np.arange(len(X))
    A1 = X @ W1.T + b1  # (N, H)
    H1 = np.maximum(A1, 0)
    S = H1 @ W2.T + b2  # (N, C)
    S = S - S.max(axis=1, keepdims=True)
    log_P = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
    loss = -log_P[rows, Y_].mean() + param_lambda * (np.sum(W1**2) + np.sum(W2**2))
    G = np.exp(log_P)
    G[rows, Y_] -= 1
    G /= N  # dL/dS (N, C)
    G1 = (G @ W2) * (A1 > 0)  # dL/dA1 (N, H): the ReLU passes the gradient where it was active
    return float(loss), (
        G1.T @ X + 2 * param_lambda * W1,
        G1.sum(axis=0),
        G.T @ H1 + 2 * param_lambda * W2,
        G.sum(axis=0),
    )


def fcann2_train(
    X: np.ndarray,
    Y_: np.ndarray,
    param_hidden: int = 5,
    param_niter: int = 10000,
    param_delta: float = 0.05,
    param_lambda: float = 1e-3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """W1 ~ N(0, 1) (H, D), W2 ~ N(0, 1/H) (C, H) from ``default_rng(seed)``, zero biases, then
    ``param_niter`` steps of full-batch gradient descent with ``fcann2_loss_grad``."""
    rng = np.random.default_rng(seed)
    C, D, H = int(np.max(Y_)) + 1, X.shape[1], param_hidden
    params = [
        rng.standard_normal((H, D)),
        np.zeros(H),
        rng.standard_normal((C, H)) / np.sqrt(H),
        np.zeros(C),
    ]
    for _ in range(param_niter):
        _, grads = fcann2_loss_grad(X, Y_, *params, param_lambda)
        params = [p - param_delta * g for p, g in zip(params, grads)]
    W1, b1, W2, b2 = params
    return W1, b1, W2, b2


def fcann2_classify(
    X: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> np.ndarray:
    """Probabilities (N, C): the softmax of relu(X W1^T + b1) W2^T + b2, from shifted scores."""
    S = np.maximum(X @ W1.T + b1, 0) @ W2.T + b2  # (N, C)
    E = np.exp(S - S.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def linreg_grads(X: np.ndarray, Y: np.ndarray, a: float, b: float) -> tuple[float, float]:
    """(dL/da, dL/db) of L = mean_i (a x_i + b - y_i)^2; X, Y (N,)."""
    residual = a * X + b - Y  # (N,)
    return float(2 * np.mean(residual * X)), float(2 * np.mean(residual))


# ----------------------------------------------------------------------------- PyTorch models


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

    def __init__(
        self, config: Sequence[int], activation: Callable[[torch.Tensor], torch.Tensor] = torch.relu
    ) -> None:
        super().__init__()
        if len(config) < 2:
            raise ValueError(
                f"config needs at least the input and output sizes, got " f"{list(config)}"
            )
        pairs = list(zip(config[:-1], config[1:]))  # (in, out) of each layer
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(n_out, n_in) / math.sqrt(n_in)) for n_in, n_out in pairs]
        )
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


# ----------------------------------------------------------------------------- PyTorch training


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of squared entries of every weight matrix (parameters with 2+ dimensions)."""
    return sum(
        ((p**2).sum() for p in model.parameters() if p.dim() >= 2),
        torch.zeros((), dtype=next(model.parameters()).dtype),
    )


def train(
    model: nn.Module,
    X: torch.Tensor,
    Yoh_: torch.Tensor,
    param_niter: int,
    param_delta: float,
    param_lambda: float = 0.0,
) -> list[float]:
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


def eval(model: nn.Module, X: np.ndarray | torch.Tensor) -> np.ndarray:  # noqa: A001 (the task)
    """Class probabilities (N, C) as numpy, computed in eval mode without autograd, in the dtype
    and on the device of the model's parameters; the model's mode is restored."""
    p, training = next(model.parameters()), model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(torch.as_tensor(X, dtype=p.dtype, device=p.device)).cpu().numpy()
    finally:
        model.train(training)


def predict(model: nn.Module, X: np.ndarray | torch.Tensor, batch_size: int = 10_000) -> np.ndarray:
    """Predicted class indices (N,), in batches so that large test sets fit in memory."""
    return np.concatenate(
        [eval(model, X[i : i + batch_size]).argmax(axis=1) for i in range(0, len(X), batch_size)]
    )


def train_mb(
    model: nn.Module,
    X: torch.Tensor,
    Yoh_: torch.Tensor,
    param_epochs: int,
    param_delta: float,
    param_lambda: float = 0.0,
    batch_size: int = 100,
    optimizer: type[torch.optim.Optimizer] = torch.optim.SGD,
    lr_gamma: float = 1.0,
    X_val: torch.Tensor | None = None,
    Y_val: np.ndarray | None = None,
    progress: bool = False,
) -> dict[str, Any]:
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
            batch = order[start : start + batch_size]
            loss = model.get_loss(X[batch], Yoh_[batch])
            if param_lambda:
                loss = loss + param_lambda * l2_penalty(model)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["loss"].append(loss.item())
        schedule.step()
        if X_val is not None:
            accuracy = float(np.mean(eval(model, X_val).argmax(axis=1) == np.asarray(Y_val)))
            if not history["val_accuracy"] or accuracy > max(history["val_accuracy"]):
                best_state = copy.deepcopy(model.state_dict())
                history["best_epoch"] = len(history["val_accuracy"]) + 1
            history["val_accuracy"].append(accuracy)
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


# ----------------------------------------------------------------------------- SVM, batch norm


class KSVMWrap:
    """An RBF-kernel SVM (scikit-learn's SVC) fitted on construction."""

    def __init__(
        self,
        X: np.ndarray,
        Y_: np.ndarray,
        param_svm_c: float = 1.0,
        param_svm_gamma: float | str = "auto",
    ) -> None:
        self.svm = SVC(C=param_svm_c, gamma=param_svm_gamma).fit(X, Y_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """X: (N, D) -> predicted classes (N,)."""
        return self.svm.predict(X)

    def get_scores(self, X: np.ndarray) -> np.ndarray:
        """X: (N, D) -> decision_function scores ((N,) for two classes, else (N, C))."""
        return self.svm.decision_function(X)

    @property
    def support(self) -> np.ndarray:
        """Indices of the support vectors in the training data."""
        return self.svm.support_


class BatchNorm(nn.Module):
    """Batch normalisation of (N, D) inputs, per feature, as ``torch.nn.functional.batch_norm``:
    parameters gamma (ones), beta (zeros), buffers running_mean (zeros), running_var (ones)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, D) -> (N, D), batch statistics while training (running ones updated with the
        unbiased variance), the running statistics in eval mode."""
        if self.training:
            mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)  # (D,), (D,)
            with torch.no_grad():
                n = x.shape[0]
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta
