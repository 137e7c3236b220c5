"""dlcourse.tasks.lab1: every check gives full points to a correct submission and takes exactly
the broken quantities' points from realistic wrong ones."""

import copy
import re
import shutil
import types

import nbformat
import numpy as np
import pytest
import torch
from sklearn.svm import SVC
from torch import nn

import dlcourse.reference
from autograder.course import SOLUTIONS
from autograder.reference import lab1 as reference
from autograder.validate import run_notebook, task_results
from dlcourse.reference import NoControl, recording, write_controls
from dlcourse.tasks import lab1
from dlcourse.tasks.lab1 import TASKS

from .task_harness import TaskChecks

pytestmark = pytest.mark.lab1


# ----------------------------------------------------------------------------- a correct submission


def linreg_grads(X, Y, a, b):
    r = a * X + b - Y
    return 2 * np.mean(r * X), 2 * np.mean(r)


def stable_softmax(S):
    E = np.exp(S - S.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def fcann2_loss_grad(X, Y_, W1, b1, W2, b2, param_lambda=0.0):
    N = len(X)
    H1 = np.maximum(X @ W1.T + b1, 0)  # (N, H)
    S = H1 @ W2.T + b2  # (N, C)
    S = S - S.max(axis=1, keepdims=True)
    log_p = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
    loss = -np.mean(log_p[np.arange(N), Y_]) + param_lambda * (np.sum(W1**2) + np.sum(W2**2))
    G = np.exp(log_p)
    G[np.arange(N), Y_] -= 1
    G /= N  # dL/dS
    grad_W2 = G.T @ H1 + 2 * param_lambda * W2
    grad_b2 = G.sum(axis=0)
    G1 = (G @ W2) * (H1 > 0)  # dL/d(pre-activation)
    grad_W1 = G1.T @ X + 2 * param_lambda * W1
    return loss, (grad_W1, G1.sum(axis=0), grad_W2, grad_b2)


def fcann2_train(
    X, Y_, param_hidden=5, param_niter=1000, param_delta=0.05, param_lambda=1e-3, seed=0
):
    rng = np.random.default_rng(seed)
    C, D = int(Y_.max()) + 1, X.shape[1]
    params = [
        rng.standard_normal((param_hidden, D)),
        np.zeros(param_hidden),
        rng.standard_normal((C, param_hidden)) / np.sqrt(param_hidden),
        np.zeros(C),
    ]
    for _ in range(param_niter):
        _, grads = fcann2_loss_grad(X, Y_, *params, param_lambda=param_lambda)
        params = [p - param_delta * g for p, g in zip(params, grads)]
    return tuple(params)


def fcann2_classify(X, W1, b1, W2, b2):
    return stable_softmax(np.maximum(X @ W1.T + b1, 0) @ W2.T + b2)


class PTLogreg(nn.Module):
    def __init__(self, D, C):
        super().__init__()
        self.W = nn.Parameter(torch.randn(C, D))
        self.b = nn.Parameter(torch.zeros(C))

    def forward(self, X):
        return torch.softmax(X @ self.W.T + self.b, dim=1)

    def get_loss(self, X, Yoh_):
        return -(Yoh_ * torch.log_softmax(X @ self.W.T + self.b, dim=1)).sum(dim=1).mean()


class PTDeep(nn.Module):
    def __init__(self, config, activation=torch.relu):
        super().__init__()
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(o, i) / i**0.5) for i, o in zip(config[:-1], config[1:])]
        )
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(o)) for o in config[1:]])
        self.activation = activation

    def scores(self, X):
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            X = self.activation(X @ W.T + b)
        return X @ self.weights[-1].T + self.biases[-1]

    def forward(self, X):
        return torch.softmax(self.scores(X), dim=1)

    def get_loss(self, X, Yoh_):
        return -(Yoh_ * torch.log_softmax(self.scores(X), dim=1)).sum(dim=1).mean()

    def count_params(self):
        return sum(p.numel() for p in self.parameters())


def penalty(model):
    return sum((p**2).sum() for p in model.parameters() if p.dim() > 1)


def train(model, X, Yoh_, param_niter, param_delta, param_lambda=0.0):
    optimizer = torch.optim.SGD(model.parameters(), lr=param_delta)
    losses = []
    for _ in range(param_niter):
        loss = model.get_loss(X, Yoh_) + param_lambda * penalty(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def eval(model, X):
    p = next(model.parameters())
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=p.dtype, device=p.device)).cpu().numpy()


def train_mb(
    model,
    X,
    Yoh_,
    param_epochs,
    param_delta,
    param_lambda=0.0,
    batch_size=100,
    optimizer=torch.optim.SGD,
    lr_gamma=1.0,
    X_val=None,
    Y_val=None,
    progress=False,
):
    opt = optimizer(model.parameters(), lr=param_delta)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=lr_gamma)
    history = {"loss": [], "val_accuracy": [], "best_epoch": None}
    best = None
    for epoch in range(param_epochs):
        order = torch.randperm(len(X))
        for batch in order.split(batch_size):
            loss = model.get_loss(X[batch], Yoh_[batch]) + param_lambda * penalty(model)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["loss"].append(loss.item())
        schedule.step()
        if X_val is not None:
            accuracy = np.mean(eval(model, X_val).argmax(axis=1) == Y_val)
            if best is None or accuracy > max(history["val_accuracy"]):
                best, history["best_epoch"] = copy.deepcopy(model.state_dict()), epoch + 1
            history["val_accuracy"].append(accuracy)
    if best is not None:
        model.load_state_dict(best)
    return history


class KSVMWrap:
    def __init__(self, X, Y_, param_svm_c=1.0, param_svm_gamma="auto"):
        self.svm = SVC(C=param_svm_c, gamma=param_svm_gamma).fit(X, Y_)

    def predict(self, X):
        return self.svm.predict(X)

    def get_scores(self, X):
        return self.svm.decision_function(X)

    @property
    def support(self):
        return self.svm.support_


class BatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
            with torch.no_grad():
                n = len(x)
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta


# task -> (check, cases as in a graded cell: visible and "hidden", correct submission)
CASES = {
    "linreg_grads": (
        lab1.check_linreg_grads,
        [dict(seed=1, N=5), dict(seed=1011, N=31)],
        linreg_grads,
    ),
    "fcann2_loss_grad": (
        lab1.check_fcann2_loss_grad,
        [
            dict(seed=1, N=6, D=2, H=5, C=3),
            dict(seed=2, N=6, D=2, H=4, C=2, param_lambda=0.1),
            dict(seed=1021, N=23, D=4, H=7, C=5, param_lambda=0.01, scale=300.0),
        ],
        fcann2_loss_grad,
    ),
    "fcann2_train": (
        lab1.check_fcann2_train,
        [
            dict(seed=1, N=12, D=2, C=3, param_hidden=5, param_niter=10, param_delta=0.1),
            dict(
                seed=1031,
                N=20,
                D=3,
                C=2,
                param_hidden=4,
                param_niter=15,
                param_delta=0.05,
                param_lambda=0.01,
            ),
        ],
        fcann2_train,
    ),
    "fcann2_classify": (
        lab1.check_fcann2_classify,
        [dict(seed=1, N=5, D=2, H=4, C=3), dict(seed=1041, N=9, D=3, H=6, C=4, scale=500.0)],
        fcann2_classify,
    ),
    "ptlogreg": (
        lab1.check_ptlogreg,
        [dict(seed=1, N=6, D=2, C=3), dict(seed=1051, N=11, D=4, C=5, scale=3.0)],
        PTLogreg,
    ),
    "ptdeep": (
        lab1.check_ptdeep,
        [
            dict(seed=1, config=[2, 3], activation=torch.relu, N=5),
            dict(seed=2, config=[2, 4, 3], activation=torch.sigmoid, N=6),
            dict(seed=1061, config=[3, 5, 4, 2], activation=torch.relu, N=9),
        ],
        PTDeep,
    ),
    "train": (
        lab1.check_train,
        [
            dict(seed=1, N=10, D=2, C=3, param_niter=5, param_delta=0.1),
            dict(
                seed=1071,
                N=15,
                D=3,
                C=2,
                hidden=[4],
                param_niter=8,
                param_delta=0.2,
                param_lambda=0.01,
            ),
        ],
        train,
    ),
    "eval": (
        lab1.check_eval,
        [dict(seed=1, N=5, D=2, C=3), dict(seed=1081, N=7, D=3, C=4, hidden=[5])],
        eval,
    ),
    "train_mb": (
        lab1.check_train_mb,
        [
            dict(seed=1, N=20, D=2, C=3, batch_size=5),
            dict(
                seed=1091,
                N=23,
                D=3,
                C=2,
                hidden=[4],
                batch_size=7,
                param_epochs=3,
                param_lambda=0.01,
                lr_gamma=0.7,
            ),
        ],
        train_mb,
    ),
    "early_stopping": (
        lab1.check_early_stopping,
        [
            dict(seed=1, N=20, M=30, D=2, C=3, param_epochs=6, param_delta=0.5),
            dict(seed=1101, N=30, M=40, D=3, C=4, hidden=[5], param_epochs=8, param_delta=1.0),
        ],
        train_mb,
    ),
    "ksvmwrap": (
        lab1.check_ksvmwrap,
        [
            dict(seed=1, N=30, C=2, param_svm_c=1.0, param_svm_gamma="auto"),
            dict(seed=1111, N=45, C=3, param_svm_c=10.0, param_svm_gamma=0.5),
        ],
        KSVMWrap,
    ),
    "batchnorm": (
        lab1.check_batchnorm,
        [dict(seed=1, N=8, D=3), dict(seed=1121, N=17, D=5, momentum=0.3, eps=1e-3)],
        BatchNorm,
    ),
}


# ----------------------------------------------------------------------------- wrong submissions


def stub(*args, **kwargs):
    raise NotImplementedError("Lab 1, task x: write your code here")


def linreg_grad_a_without_x(X, Y, a, b):
    return linreg_grads(X, Y, a, b)[1], linreg_grads(X, Y, a, b)[1]


def linreg_grad_b_summed(X, Y, a, b):
    grad_a, grad_b = linreg_grads(X, Y, a, b)
    return grad_a, grad_b * len(X)


def linreg_autograd(X, Y, a, b):
    a, b = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    loss = ((a * torch.tensor(X) + b - torch.tensor(Y)) ** 2).mean()
    loss.backward()
    return a.grad.item(), b.grad.item()


def fcann2_no_relu_mask(X, Y_, W1, b1, W2, b2, param_lambda=0.0):
    """Backpropagates through the ReLU as if it were the identity."""
    N = len(X)
    H1 = np.maximum(X @ W1.T + b1, 0)
    loss, (_, _, grad_W2, grad_b2) = fcann2_loss_grad(X, Y_, W1, b1, W2, b2, param_lambda)
    G = stable_softmax(H1 @ W2.T + b2)
    G[np.arange(N), Y_] -= 1
    G1 = (G / N) @ W2  # forgot * (H1 > 0)
    return loss, (G1.T @ X + 2 * param_lambda * W1, G1.sum(axis=0), grad_W2, grad_b2)


def fcann2_half_regulariser_gradient(X, Y_, W1, b1, W2, b2, param_lambda=0.0):
    loss, (gW1, gb1, gW2, gb2) = fcann2_loss_grad(X, Y_, W1, b1, W2, b2, param_lambda)
    return loss, (
        gW1 - param_lambda * W1,
        gb1,
        gW2 - param_lambda * W2,
        gb2,
    )  # d(lambda W^2) = lambda W


def fcann2_loss_from_probabilities(X, Y_, W1, b1, W2, b2, param_lambda=0.0):
    _, grads = fcann2_loss_grad(X, Y_, W1, b1, W2, b2, param_lambda)
    P = fcann2_classify(X, W1, b1, W2, b2)  # rounds to 0 for scores in the hundreds: log -> inf
    with np.errstate(divide="ignore"):
        loss = -np.mean(np.log(P[np.arange(len(X)), Y_]))
    return loss + param_lambda * (np.sum(W1**2) + np.sum(W2**2)), grads


def fcann2_grad_W2_transposed(X, Y_, W1, b1, W2, b2, param_lambda=0.0):
    loss, (gW1, gb1, gW2, gb2) = fcann2_loss_grad(X, Y_, W1, b1, W2, b2, param_lambda)
    return loss, (gW1, gb1, gW2.T, gb2)


def fcann2_flat_returns(X, Y_, W1, b1, W2, b2, param_lambda=0.0):
    loss, grads = fcann2_loss_grad(X, Y_, W1, b1, W2, b2, param_lambda)
    return (loss, *grads)


def fcann2_train_unseeded(
    X, Y_, param_hidden=5, param_niter=1000, param_delta=0.05, param_lambda=1e-3, seed=0
):
    C, D = int(Y_.max()) + 1, X.shape[1]
    params = [
        np.random.randn(param_hidden, D),
        np.zeros(param_hidden),
        np.random.randn(C, param_hidden),
        np.zeros(C),
    ]  # ignores seed
    for _ in range(param_niter):
        _, grads = fcann2_loss_grad(X, Y_, *params, param_lambda=param_lambda)
        params = [p - param_delta * g for p, g in zip(params, grads)]
    return tuple(params)


def fcann2_train_one_step_too_many(
    X, Y_, param_hidden=5, param_niter=1000, param_delta=0.05, param_lambda=1e-3, seed=0
):
    W1, b1, W2, b2 = fcann2_train(X, Y_, param_hidden, 0, param_delta, param_lambda, seed)
    params = [W1, b1, W2, b2]
    for _ in range(param_niter + 1):
        _, grads = fcann2_loss_grad(X, Y_, *params, param_lambda=param_lambda)
        params = [p - param_delta * g for p, g in zip(params, grads)]
    return tuple(params)


def fcann2_train_without_lambda(
    X, Y_, param_hidden=5, param_niter=1000, param_delta=0.05, param_lambda=1e-3, seed=0
):
    return fcann2_train(X, Y_, param_hidden, param_niter, param_delta, 0.0, seed)


class LogregDC(PTLogreg):
    """W stored (D, C), as X @ W."""

    def __init__(self, D, C):
        nn.Module.__init__(self)
        self.W = nn.Parameter(torch.randn(D, C))
        self.b = nn.Parameter(torch.zeros(C))

    def forward(self, X):
        return torch.softmax(X @ self.W + self.b, dim=1)

    def get_loss(self, X, Yoh_):
        return -(Yoh_ * torch.log(self.forward(X))).sum(dim=1).mean()


class LogregSummedLoss(PTLogreg):
    def get_loss(self, X, Yoh_):
        return super().get_loss(X, Yoh_) * len(X)


class LogregLogits(PTLogreg):
    def forward(self, X):
        return X @ self.W.T + self.b


class LogregNumpy(PTLogreg):
    """forward in numpy: no gradients reach W and b."""

    def forward(self, X):
        S = X.detach().numpy() @ self.W.detach().numpy().T + self.b.detach().numpy()
        return torch.tensor(stable_softmax(S))


class DeepLinear(nn.Module):
    """nn.Linear layers instead of ParameterLists."""

    def __init__(self, config, activation=torch.relu):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(i, o) for i, o in zip(config[:-1], config[1:])])
        self.activation = activation

    def forward(self, X):
        for layer in self.layers[:-1]:
            X = self.activation(layer(X))
        return torch.softmax(self.layers[-1](X), dim=1)

    def get_loss(self, X, Yoh_):
        return -(Yoh_ * torch.log(self.forward(X))).sum(dim=1).mean()

    def count_params(self):
        return sum(p.numel() for p in self.parameters())


class DeepActivationOnOutput(PTDeep):
    def scores(self, X):
        return self.activation(super().scores(X))


class DeepCountsWeightsOnly(PTDeep):
    def count_params(self):
        return sum(W.numel() for W in self.weights)


class DeepAlwaysRelu(PTDeep):
    def __init__(self, config, activation=torch.relu):
        super().__init__(config, torch.relu)


def train_without_zero_grad(model, X, Yoh_, param_niter, param_delta, param_lambda=0.0):
    optimizer = torch.optim.SGD(model.parameters(), lr=param_delta)
    losses = []
    for _ in range(param_niter):
        loss = model.get_loss(X, Yoh_) + param_lambda * penalty(model)
        loss.backward()  # gradients pile up
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_without_regulariser(model, X, Yoh_, param_niter, param_delta, param_lambda=0.0):
    return train(model, X, Yoh_, param_niter, param_delta, 0.0)


def train_returns_nothing(model, X, Yoh_, param_niter, param_delta, param_lambda=0.0):
    train(model, X, Yoh_, param_niter, param_delta, param_lambda)


def train_regularises_biases(model, X, Yoh_, param_niter, param_delta, param_lambda=0.0):
    optimizer = torch.optim.SGD(model.parameters(), lr=param_delta)
    losses = []
    for _ in range(param_niter):
        loss = model.get_loss(X, Yoh_) + param_lambda * sum(
            (p**2).sum() for p in model.parameters()
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def eval_returns_tensor(model, X):
    with torch.no_grad():
        return model(torch.as_tensor(X))


def eval_float32(model, X):
    with torch.no_grad():
        return model(torch.tensor(X, dtype=torch.float32)).numpy()


def eval_classes(model, X):
    return eval(model, X).argmax(axis=1)


def train_mb_in_order(
    model,
    X,
    Yoh_,
    param_epochs,
    param_delta,
    param_lambda=0.0,
    batch_size=100,
    optimizer=torch.optim.SGD,
    lr_gamma=1.0,
    X_val=None,
    Y_val=None,
    progress=False,
):
    torch.randperm = lambda n, **kw: torch.arange(n)  # never shuffles
    try:
        return train_mb(
            model,
            X,
            Yoh_,
            param_epochs,
            param_delta,
            param_lambda,
            batch_size,
            optimizer,
            lr_gamma,
            X_val,
            Y_val,
        )
    finally:
        torch.randperm = _RANDPERM


_RANDPERM = torch.randperm


def train_mb_shuffles_once(
    model,
    X,
    Yoh_,
    param_epochs,
    param_delta,
    param_lambda=0.0,
    batch_size=100,
    optimizer=torch.optim.SGD,
    lr_gamma=1.0,
    X_val=None,
    Y_val=None,
    progress=False,
):
    order = torch.randperm(len(X))
    X, Yoh_ = X[order], Yoh_[order]
    torch.randperm = lambda n, **kw: torch.arange(n)  # the same order every epoch
    try:
        return train_mb(
            model,
            X,
            Yoh_,
            param_epochs,
            param_delta,
            param_lambda,
            batch_size,
            optimizer,
            lr_gamma,
            X_val,
            Y_val,
        )
    finally:
        torch.randperm = _RANDPERM


def train_mb_drops_last_batch(
    model,
    X,
    Yoh_,
    param_epochs,
    param_delta,
    param_lambda=0.0,
    batch_size=100,
    optimizer=torch.optim.SGD,
    lr_gamma=1.0,
    X_val=None,
    Y_val=None,
    progress=False,
):
    opt = optimizer(model.parameters(), lr=param_delta)
    history = {"loss": [], "val_accuracy": [], "best_epoch": None}
    for _ in range(param_epochs):
        order = torch.randperm(len(X))
        for start in range(0, len(X) - batch_size + 1, batch_size):  # a partial batch is lost
            batch = order[start : start + batch_size]
            loss = model.get_loss(X[batch], Yoh_[batch]) + param_lambda * penalty(model)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["loss"].append(loss.item())
        for group in opt.param_groups:
            group["lr"] *= lr_gamma
    return history


def train_mb_ignores_schedule(
    model,
    X,
    Yoh_,
    param_epochs,
    param_delta,
    param_lambda=0.0,
    batch_size=100,
    optimizer=torch.optim.SGD,
    lr_gamma=1.0,
    X_val=None,
    Y_val=None,
    progress=False,
):
    return train_mb(
        model,
        X,
        Yoh_,
        param_epochs,
        param_delta,
        param_lambda,
        batch_size,
        optimizer,
        1.0,
        X_val,
        Y_val,
    )


def train_mb_decays_every_batch(
    model,
    X,
    Yoh_,
    param_epochs,
    param_delta,
    param_lambda=0.0,
    batch_size=100,
    optimizer=torch.optim.SGD,
    lr_gamma=1.0,
    X_val=None,
    Y_val=None,
    progress=False,
):
    opt = optimizer(model.parameters(), lr=param_delta)
    history = {"loss": [], "val_accuracy": [], "best_epoch": None}
    for _ in range(param_epochs):
        for batch in torch.randperm(len(X)).split(batch_size):
            loss = model.get_loss(X[batch], Yoh_[batch]) + param_lambda * penalty(model)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["loss"].append(loss.item())
            for group in opt.param_groups:
                group["lr"] *= lr_gamma
    return history


def train_mb_returns_losses(model, X, Yoh_, *args, **kwargs):
    return train_mb(model, X, Yoh_, *args, **kwargs)["loss"]


def train_mb_best_epoch_from_zero(*args, **kwargs):
    history = train_mb(*args, **kwargs)
    if history["best_epoch"] is not None:
        history["best_epoch"] -= 1
    return history


def train_mb_validates_before_training(
    model,
    X,
    Yoh_,
    param_epochs,
    param_delta,
    param_lambda=0.0,
    batch_size=100,
    optimizer=torch.optim.SGD,
    lr_gamma=1.0,
    X_val=None,
    Y_val=None,
    progress=False,
):
    history = {"loss": [], "val_accuracy": [], "best_epoch": None}
    for epoch in range(param_epochs):
        if X_val is not None:
            accuracy = np.mean(eval(model, X_val).argmax(axis=1) == Y_val)
            if not history["val_accuracy"] or accuracy > max(history["val_accuracy"]):
                history["best_epoch"] = epoch + 1
            history["val_accuracy"].append(accuracy)
        history["loss"] += train_mb(model, X, Yoh_, 1, param_delta, param_lambda, batch_size)[
            "loss"
        ]
    return history


class LogregNotAModule:
    """Parameters as numpy arrays: no nn.Module, no state_dict."""

    def __init__(self, D, C):
        self.W, self.b = np.zeros((C, D)), np.zeros(C)


class SVMSupportRaises(KSVMWrap):
    @property
    def support(self):
        raise ValueError("not fitted")


class SVMLinear(KSVMWrap):
    def __init__(self, X, Y_, param_svm_c=1.0, param_svm_gamma="auto"):
        self.svm = SVC(C=param_svm_c, kernel="linear").fit(X, Y_)


class SVMScoresArePredictions(KSVMWrap):
    def get_scores(self, X):
        return self.svm.predict(X).astype(float)


class SVMSupportVectors(KSVMWrap):
    @property
    def support(self):
        return self.svm.support_vectors_


class SVMSupportMethod(KSVMWrap):
    def support(self):
        return self.svm.support_


class BNUnbiasedVar(BatchNorm):
    def forward(self, x):
        if not self.training:
            return super().forward(x)
        super().forward(x)  # the running statistics, as the correct layer updates them
        mean, var = x.mean(dim=0), x.var(dim=0)  # unbiased: divides by N - 1
        return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta


class BNBiasedRunningVar(BatchNorm):
    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * x.mean(dim=0))
                self.running_var.mul_(1 - self.momentum).add_(
                    self.momentum * x.var(dim=0, unbiased=False)
                )
            mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
            return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta
        return super().forward(x)


class BNBatchStatsInEval(BatchNorm):
    def forward(self, x):
        mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
        if self.training:
            return super().forward(x)
        return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta


class BNMomentumReversed(BatchNorm):
    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * x.mean(dim=0))
                self.running_var.mul_(self.momentum).add_((1 - self.momentum) * x.var(dim=0))
            mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
            return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta
        return super().forward(x)


class BNWithoutGamma(BatchNorm):
    def forward(self, x):
        mean, var = (
            (x.mean(dim=0), x.var(dim=0, unbiased=False))
            if self.training
            else (self.running_mean, self.running_var)
        )
        if self.training:
            super().forward(x)  # the running statistics, as the correct layer updates them
        return (x - mean) / torch.sqrt(var + self.eps) + self.beta  # forgot gamma


WRONG = [  # (task, submission, the quantities it must lose[, words of its hint])
    ("linreg_grads", linreg_grad_a_without_x, {"grad_a"}),
    ("linreg_grads", linreg_grad_b_summed, {"grad_b"}, "sum where the mean is asked"),
    ("linreg_grads", linreg_autograd, {"grad_a", "grad_b"}),
    ("fcann2_loss_grad", fcann2_no_relu_mask, {"grad_W1", "grad_b1"}),
    (
        "fcann2_loss_grad",
        fcann2_half_regulariser_gradient,
        {"grad_W1", "grad_W2"},
        "carry half its weight",
    ),
    ("fcann2_loss_grad", fcann2_loss_from_probabilities, {"loss"}, "inf or nan"),
    ("fcann2_loss_grad", fcann2_grad_W2_transposed, {"grad_W2"}, "transposed"),
    ("fcann2_loss_grad", fcann2_flat_returns, set(lab1.QUANTITIES["fcann2_loss_grad"])),
    ("fcann2_train", fcann2_train_unseeded, set(lab1.QUANTITIES["fcann2_train"])),
    ("fcann2_train", fcann2_train_one_step_too_many, set(lab1.QUANTITIES["fcann2_train"])),
    ("fcann2_train", fcann2_train_without_lambda, {"W1", "b1", "W2", "b2"}),
    (
        "fcann2_classify",
        lambda X, W1, b1, W2, b2: np.maximum(X @ W1.T + b1, 0) @ W2.T + b2,
        {"probs"},
        "scores before the softmax",
    ),
    (
        "fcann2_classify",
        lambda X, W1, b1, W2, b2: (lambda E: E / E.sum(axis=1, keepdims=True))(
            np.exp(np.maximum(X @ W1.T + b1, 0) @ W2.T + b2)
        ),
        {"probs"},
        "inf or nan",
    ),
    ("ptlogreg", LogregDC, {"parameters", "probs", "loss"}),
    ("ptlogreg", LogregSummedLoss, {"loss"}, "sum where the mean is asked"),
    ("ptlogreg", LogregLogits, {"probs"}),
    ("ptlogreg", LogregNumpy, {"probs"}),
    ("ptlogreg", reference.PTLogreg, {"parameters", "probs", "loss"}),
    ("ptlogreg", LogregNotAModule, {"parameters", "probs", "loss"}),
    ("ptdeep", DeepLinear, {"parameters", "probs", "loss"}),
    ("ptdeep", DeepActivationOnOutput, {"probs", "loss"}),
    ("ptdeep", DeepCountsWeightsOnly, {"count_params"}),
    ("ptdeep", DeepAlwaysRelu, {"probs", "loss"}),
    ("train", train_without_zero_grad, {"losses", "regularised"}),
    ("train", train_without_regulariser, {"regularised"}),
    ("train", train_returns_nothing, {"losses", "regularised"}),
    ("train", train_regularises_biases, {"regularised"}),
    ("train", reference.train, {"losses", "regularised"}),
    ("eval", eval_returns_tensor, {"probs"}),
    ("eval", eval_float32, {"probs"}),
    ("eval", eval_classes, {"probs"}),
    ("train_mb", train_mb_in_order, {"shuffled"}),
    ("train_mb", train_mb_shuffles_once, {"shuffled"}),
    ("train_mb", train_mb_drops_last_batch, {"batches"}),
    ("train_mb", train_mb_ignores_schedule, {"schedule"}),
    ("train_mb", train_mb_decays_every_batch, {"schedule"}),
    ("train_mb", train_mb_returns_losses, set(lab1.QUANTITIES["train_mb"])),
    ("early_stopping", train_mb_best_epoch_from_zero, {"best_epoch"}, "off by one"),
    (
        "early_stopping",
        train_mb_validates_before_training,
        {"val_accuracy", "best_epoch"},
        ("off by one", "shifted by one step"),
    ),
    ("early_stopping", train_mb_returns_losses, {"val_accuracy", "best_epoch"}),
    ("ksvmwrap", SVMLinear, {"predict", "scores", "support"}),
    ("ksvmwrap", SVMScoresArePredictions, {"scores"}),
    ("ksvmwrap", SVMSupportVectors, {"support"}),
    ("ksvmwrap", SVMSupportMethod, {"support"}),
    ("ksvmwrap", SVMSupportRaises, {"support"}),
    ("batchnorm", BNUnbiasedVar, {"train_output", "train_grads"}),
    ("batchnorm", BNBiasedRunningVar, {"running_stats"}),
    ("batchnorm", BNBatchStatsInEval, {"eval"}),
    ("batchnorm", BNMomentumReversed, {"running_stats"}),
    ("batchnorm", BNWithoutGamma, {"train_output", "train_grads", "eval"}),
] + [(task, stub, set(lab1.QUANTITIES[task])) for task in TASKS]


class TestTasks(TaskChecks):
    """The harness's tests (``tests/task_harness.py``) on Lab 1's cases."""

    lab, CASES, WRONG = lab1, CASES, WRONG


grade = TestTasks.grade


# ----------------------------------------------------------------------------- messages, isolation


def test_messages_name_the_problem():
    text = str(grade("fcann2_loss_grad", fcann2_no_relu_mask)[0])
    assert "grad_W1 [seed=1, N=6, D=2, H=5, C=3]: max abs error" in text and " at index (" in text
    assert "calls torch." in str(grade("linreg_grads", linreg_autograd)[0])
    text = str(grade("fcann2_train", fcann2_train_unseeded)[0])
    assert "the same seed gave different initial parameters" in text
    assert "b1 and b2 must start at zero" in str(
        grade("fcann2_train", fcann2_train_one_step_too_many)[0]
    )
    assert "expected weights.0 (3, 2), biases.0 (3,)" in str(grade("ptdeep", DeepLinear)[0])
    assert "does not depend on its inputs through autograd" in str(
        grade("ptlogreg", LogregNumpy)[0]
    )
    assert "calls autograder.reference.lab1.PTLogreg.__init__: write your own code" in str(
        grade("ptlogreg", reference.PTLogreg)[0]
    )
    assert "return a numpy array" in str(grade("eval", eval_returns_tensor)[0])
    assert "the first epoch visits the samples in their stored order" in str(
        grade("train_mb", train_mb_in_order)[0]
    )
    assert "draw a new permutation each epoch" in str(grade("train_mb", train_mb_shuffles_once)[0])
    assert "expected a dict" in str(grade("train_mb", train_mb_returns_losses)[0])
    assert "must be an attribute or property" in str(grade("ksvmwrap", SVMSupportMethod)[0])
    assert "support raised ValueError: not fitted" in str(grade("ksvmwrap", SVMSupportRaises)[0])
    assert "PTLogreg.state_dict is None, not a function" in str(
        grade("ptlogreg", LogregNotAModule)[0]
    )
    text = str(grade("train", stub)[0])
    assert "raised NotImplementedError: Lab 1, task x" in text


@pytest.mark.parametrize(
    "task, fn, name, wrong",
    [
        ("fcann2_train", fcann2_train, "fcann2_loss_grad", fcann2_no_relu_mask),
        ("early_stopping", train_mb, "eval", eval_classes),
    ],
)
def test_a_wrong_dependency_does_not_cascade(task, fn, name, wrong):
    notebook = {**globals(), name: wrong}  # the notebook's namespace: a wrong helper beside fn
    in_notebook = types.FunctionType(fn.__code__, notebook, fn.__name__, fn.__defaults__)
    assert grade(task, in_notebook)[1] == TASKS[task]
    assert notebook[name] is wrong  # restored after grading


@pytest.mark.parametrize("param_lambda, scale", [(0.0, 1.0), (0.3, 1.0), (0.0, 300.0)])
def test_numpy_reference_equals_autograd(param_lambda, scale):
    """The reference that stands in for fcann2_loss_grad in check_fcann2_train is the autograd
    oracle's twin."""
    rng = np.random.default_rng(7)
    X, Y_ = rng.standard_normal((20, 3)), rng.integers(0, 4, 20)
    params = lab1._fcann2_params(rng, 3, 6, 4, scale)
    loss, grads = reference.fcann2_loss_grad(X, Y_, *params, param_lambda)
    ref_loss, ref_grads = lab1._fcann2_reference(X, Y_, *params, param_lambda)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    for grad, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(grad, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("task", list(CASES))
def test_references_pass_their_checks(task, monkeypatch):
    """The instructors' references (forbidden as a student's code, hence unforbidden here) get
    full points: what the grader substitutes and the handout's controls come from is right."""
    monkeypatch.setattr(lab1, "_references", lambda *names: ())
    submitted = getattr(reference, CASES[task][2].__name__)
    report, points = grade(task, submitted)
    assert points == TASKS[task], str(report)


# ----------------------------------------------------------------------------- the handout


def visible_test_cells() -> dict[str, str]:
    """Task -> the visible part of its test cell in the solution notebook (what the handout has)."""
    nb = nbformat.read(SOLUTIONS / "lab1" / "lab1.ipynb", as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source.split("### BEGIN HIDDEN TESTS")[0]
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    }


def run_visible(task: str, names: dict) -> float:
    """The visible checks of ``task``'s test cell with the student's ``names``: points earned."""
    namespace = dict(names)
    exec(visible_test_cells()[task], namespace)
    return namespace["report"].points(TASKS[task])


def test_reference_module_defines_every_name_the_test_cells_pass():
    """The release step binds these names to the references to record the control outputs."""
    cells = visible_test_cells()
    assert set(cells) == set(TASKS)
    passed = {name for source in cells.values() for name in re.findall(r"check_\w+\((\w+)", source)}
    assert passed == {
        "fcann2_loss_grad",
        "fcann2_train",
        "fcann2_classify",
        "linreg_grads",
        "PTLogreg",
        "train",
        "eval",
        "PTDeep",
        "KSVMWrap",
        "train_mb",
        "BatchNorm",
    }
    assert all(callable(getattr(reference, name, None)) for name in passed)


@pytest.fixture
def handout(tmp_path, monkeypatch, capsys):
    """The student handout's situation: control outputs recorded from the references (as the
    release step does: the visible test cells with the student's names bound to them), then the
    references made unavailable."""
    with recording() as recorded:
        for task in TASKS:
            run_visible(task, vars(reference))
    assert write_controls(recorded, tmp_path) == [tmp_path / "lab1.json"]
    monkeypatch.setattr(dlcourse.reference, "available", lambda lab: False)
    monkeypatch.setattr(dlcourse.reference, "reference", lambda lab, name: None)
    monkeypatch.setattr(dlcourse.reference, "CONTROLS", tmp_path)
    monkeypatch.setattr(dlcourse.reference, "_loaded", {})
    capsys.readouterr()
    return recorded["lab1"]


HANDOUT_WRONG = [  # (task, the wrong submission's name, the wrong submission)
    ("fcann2_loss_grad", "fcann2_loss_grad", fcann2_no_relu_mask),
    ("fcann2_train", "fcann2_train", fcann2_train_without_lambda),
    ("train", "train", train_without_regulariser),
    ("eval", "eval", eval_float32),
    ("train_mb", "train_mb", train_mb_ignores_schedule),
    ("early_stopping", "train_mb", train_mb_best_epoch_from_zero),
    ("ksvmwrap", "KSVMWrap", SVMLinear),
    ("batchnorm", "BatchNorm", BNBiasedRunningVar),
]


def test_visible_checks_work_without_the_references(handout):
    """In the handout a correct submission gets full points from the visible checks (expected
    trajectories from the control outputs) and wrong ones lose points; a case the handout has no
    control output for says that the grader checks it."""
    assert {key.split("/")[0] for key in handout} == {"train", "eval", "train_mb", "early_stopping"}
    assert lab1._references("train", "eval") == ()
    for task in TASKS:
        assert run_visible(task, globals()) == TASKS[task], task
    for task, name, wrong in HANDOUT_WRONG:
        assert run_visible(task, {**globals(), name: wrong}) < TASKS[task], task
    with pytest.raises(NoControl, match="the grader checks this case"):
        lab1.check_train(train, seed=1061, N=30, D=4, C=5, param_niter=6, param_delta=0.2)


def test_in_the_handout_later_tasks_run_on_the_students_own_functions(handout):
    """Without the references nothing is substituted: a wrong fcann2_loss_grad shows in
    fcann2_train too (in the grader it does not, test_a_wrong_dependency_does_not_cascade)."""
    notebook = {**globals(), "fcann2_loss_grad": fcann2_no_relu_mask}
    in_notebook = types.FunctionType(
        fcann2_train.__code__, notebook, "fcann2_train", fcann2_train.__defaults__
    )
    assert (
        run_visible("fcann2_train", {**notebook, "fcann2_train": in_notebook})
        < TASKS["fcann2_train"]
    )


def test_checks_refuse_cases_that_cannot_see_the_quantity():
    with pytest.raises(ValueError, match="param_lambda > 0"):
        lab1.check_train(
            train, seed=1, N=5, D=2, C=2, param_niter=2, param_delta=0.1, param_lambda=0
        )
    with pytest.raises(ValueError, match="batch_size < N"):
        lab1.check_train_mb(train_mb, seed=1, N=5, D=2, C=2, batch_size=5)


def test_checks_are_reproducible():
    a = lab1.check_train_mb(train_mb_shuffles_once, seed=5, N=12, D=2, C=3, batch_size=4)
    b = lab1.check_train_mb(train_mb_shuffles_once, seed=5, N=12, D=2, C=3, batch_size=4)
    assert [c.message for c in a] == [c.message for c in b]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_grading_on_cuda_gives_the_same_points(monkeypatch):
    """DLCOURSE_DEVICE=cuda puts the oracles, the student's models and the data on the GPU."""
    monkeypatch.setenv("DLCOURSE_DEVICE", "cuda")
    for task in ("fcann2_loss_grad", "ptdeep", "train", "train_mb", "batchnorm"):
        assert grade(task, CASES[task][2])[1] == TASKS[task], task
    assert grade("ptdeep", DeepActivationOnOutput)[1] == TASKS["ptdeep"] / 2


# ---------------------------------------------------------------------------- the solution notebook


@pytest.mark.slow
def test_solution_notebook_runs_offline_on_the_bundled_subset(tmp_path, monkeypatch):
    """End to end with grading budgets, nothing on disk and no network: the bundled MNIST subset,
    with its warning, and full marks on every task (visible and hidden checks)."""
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("DLCOURSE_OFFLINE", "1")
    path = tmp_path / "lab1.ipynb"
    shutil.copy(SOLUTIONS / "lab1" / "lab1.ipynb", path)
    nb = run_notebook(path)
    errors = [
        (c.id, o.ename, o.evalue)
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert errors == []
    assert {r.task: r.score for r in task_results(nb)} == {t: float(p) for t, p in TASKS.items()}
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert (
        "BundledDataWarning" in text
        and "MNIST (bundled): 1834 train, 166 validation, 500 test" in text
    )
