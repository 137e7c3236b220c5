"""dlcourse.tasks.lab1: every check gives full points to a correct submission and takes exactly
the broken quantities' points from realistic wrong ones."""
import copy
import types

import numpy as np
import pytest
import torch
from sklearn.svm import SVC
from torch import nn

from dlcourse import fc
from dlcourse.tasks import lab1
from dlcourse.tasks.lab1 import TASKS

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
    loss = -np.mean(log_p[np.arange(N), Y_]) + param_lambda * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    G = np.exp(log_p)
    G[np.arange(N), Y_] -= 1
    G /= N  # dL/dS
    grad_W2 = G.T @ H1 + 2 * param_lambda * W2
    grad_b2 = G.sum(axis=0)
    G1 = (G @ W2) * (H1 > 0)  # dL/d(pre-activation)
    grad_W1 = G1.T @ X + 2 * param_lambda * W1
    return loss, (grad_W1, G1.sum(axis=0), grad_W2, grad_b2)


def fcann2_train(X, Y_, param_hidden=5, param_niter=1000, param_delta=0.05, param_lambda=1e-3,
                 seed=0):
    rng = np.random.default_rng(seed)
    C, D = int(Y_.max()) + 1, X.shape[1]
    params = [rng.standard_normal((param_hidden, D)), np.zeros(param_hidden),
              rng.standard_normal((C, param_hidden)) / np.sqrt(param_hidden), np.zeros(C)]
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
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(o, i) / i ** 0.5)
                                         for i, o in zip(config[:-1], config[1:])])
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
    return sum((p ** 2).sum() for p in model.parameters() if p.dim() > 1)


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


def train_mb(model, X, Yoh_, param_epochs, param_delta, param_lambda=0.0, batch_size=100,
             optimizer=torch.optim.SGD, lr_gamma=1.0, X_val=None, Y_val=None, progress=False):
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
    "linreg_grads": (lab1.check_linreg_grads, [dict(seed=1, N=5), dict(seed=1011, N=31)],
                     linreg_grads),
    "fcann2_loss_grad": (lab1.check_fcann2_loss_grad, [
        dict(seed=1, N=6, D=2, H=5, C=3), dict(seed=2, N=6, D=2, H=4, C=2, param_lambda=0.1),
        dict(seed=1021, N=23, D=4, H=7, C=5, param_lambda=0.01, scale=300.0)], fcann2_loss_grad),
    "fcann2_train": (lab1.check_fcann2_train, [
        dict(seed=1, N=12, D=2, C=3, param_hidden=5, param_niter=10, param_delta=0.1),
        dict(seed=1031, N=20, D=3, C=2, param_hidden=4, param_niter=15, param_delta=0.05,
             param_lambda=0.01)], fcann2_train),
    "fcann2_classify": (lab1.check_fcann2_classify, [
        dict(seed=1, N=5, D=2, H=4, C=3), dict(seed=1041, N=9, D=3, H=6, C=4, scale=500.0)],
        fcann2_classify),
    "ptlogreg": (lab1.check_ptlogreg, [dict(seed=1, N=6, D=2, C=3),
                                       dict(seed=1051, N=11, D=4, C=5, scale=3.0)], PTLogreg),
    "ptdeep": (lab1.check_ptdeep, [
        dict(seed=1, config=[2, 3], activation=torch.relu, N=5),
        dict(seed=2, config=[2, 4, 3], activation=torch.sigmoid, N=6),
        dict(seed=1061, config=[3, 5, 4, 2], activation=torch.relu, N=9)], PTDeep),
    "train": (lab1.check_train, [
        dict(seed=1, N=10, D=2, C=3, param_niter=5, param_delta=0.1),
        dict(seed=1071, N=15, D=3, C=2, hidden=[4], param_niter=8, param_delta=0.2,
             param_lambda=0.01)], train),
    "eval": (lab1.check_eval, [dict(seed=1, N=5, D=2, C=3),
                               dict(seed=1081, N=7, D=3, C=4, hidden=[5])], eval),
    "train_mb": (lab1.check_train_mb, [
        dict(seed=1, N=20, D=2, C=3, batch_size=5),
        dict(seed=1091, N=23, D=3, C=2, hidden=[4], batch_size=7, param_epochs=3,
             param_lambda=0.01, lr_gamma=0.7)], train_mb),
    "early_stopping": (lab1.check_early_stopping, [
        dict(seed=1, N=20, M=30, D=2, C=3, param_epochs=6, param_delta=0.5),
        dict(seed=1101, N=30, M=40, D=3, C=4, hidden=[5], param_epochs=8, param_delta=1.0)],
        train_mb),
    "ksvmwrap": (lab1.check_ksvmwrap, [
        dict(seed=1, N=30, C=2, param_svm_c=1.0, param_svm_gamma="auto"),
        dict(seed=1111, N=45, C=3, param_svm_c=10.0, param_svm_gamma=0.5)], KSVMWrap),
    "batchnorm": (lab1.check_batchnorm, [dict(seed=1, N=8, D=3),
                                         dict(seed=1121, N=17, D=5, momentum=0.3, eps=1e-3)],
                  BatchNorm),
}


def grade(task, submission):
    """The graded cell of ``task`` run on ``submission``: (report, points)."""
    check, cases, _ = CASES[task]
    report = check(submission, **cases[0])
    for case in cases[1:]:
        report += check(submission, **case)
    return report, report.points(TASKS[task])


def failing(report):
    return {q for q in report.quantities if not report.passed(q)}


def test_tasks_table_matches_the_contract():
    assert sum(TASKS.values()) == 33
    assert set(TASKS) == set(lab1.QUANTITIES) == set(CASES)


@pytest.mark.parametrize("task", list(CASES))
def test_correct_submission_gets_full_points(task, capsys):
    report, points = grade(task, CASES[task][2])
    assert points == TASKS[task], str(report)
    assert report.ok and f"{task}: {len(lab1.QUANTITIES[task])} of" in capsys.readouterr().out
