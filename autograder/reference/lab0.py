"""Lab 0 (shallow models): reference implementations of every graded task (instructors only).

Each name is the one the notebook's solution cell defines, with the same signature. The checks in
``dlcourse.tasks.lab0`` reach these through ``dlcourse.reference`` (for isolating a task from the
student's earlier ones); ``python -m autograder release`` runs the visible test cells with the
student's names bound to them. Shipped by source into a grading kernel when a check substitutes
one of them (``autograder.rpc``), so this module imports only numpy.

Conventions: ``Y`` predicted labels, ``Y_`` true labels, both (N,) int arrays. A ratio whose
denominator is zero (e.g. the precision of a class that is never predicted) is reported as 0.0,
as scikit-learn does by default. All randomness comes from ``np.random``, so
``np.random.seed(s)`` makes the data generators reproducible.
"""

from __future__ import annotations

import numpy as np


def _ratio(num, den):
    """num / den elementwise, 0.0 where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


# ----------------------------------------------------------------------------- data


class Random2DGaussian:
    """A 2D Gaussian: a random mean in the box [minx, maxx] x [miny, maxy], a random covariance.

    The covariance is Sigma = R^T diag(eig) R with eigenvalues
    eig_i = (u_i * range_i / 5)^2, u_i ~ U[0, 1), range = (maxx - minx, maxy - miny),
    and R the rotation by an angle drawn uniformly from [0, 2 pi).

    Attributes:
        mean: (2,) mean.
        Sigma: (2, 2) symmetric positive semi-definite covariance.
    """

    minx = 0
    maxx = 10
    miny = 0
    maxy = 10

    def __init__(self) -> None:
        dx, dy = self.maxx - self.minx, self.maxy - self.miny
        self.mean = (self.minx, self.miny) + np.random.random_sample(2) * (dx, dy)  # (2,)
        eigvals = (np.random.random_sample(2) * (dx, dy) / 5) ** 2  # (2,)
        theta = np.random.random_sample() * np.pi * 2
        R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])  # (2, 2)
        self.Sigma = R.T @ np.diag(eigvals) @ R  # (2, 2)

    def get_sample(self, n: int) -> np.ndarray:
        """n samples from the Gaussian: returns X of shape (n, 2)."""
        return np.random.multivariate_normal(self.mean, self.Sigma, n)


def sample_gauss_2d(C: int, N: int) -> tuple[np.ndarray, np.ndarray]:
    """N samples from each of C random Gaussians; class i is the i-th Gaussian.

    Returns:
        X: (C*N, 2) float64 samples, grouped by class.
        Y_: (C*N,) int class labels in 0..C-1.
    """
    Gs = [Random2DGaussian() for _ in range(C)]
    X = np.vstack([G.get_sample(N) for G in Gs])  # (C*N, 2)
    Y_ = np.repeat(np.arange(C), N)  # (C*N,)
    return X, Y_


# ----------------------------------------------------------------------------- binary logreg


def _sigmoid(s: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-s)) without overflow."""
    return np.exp(-np.logaddexp(0, -s))


def binlogreg_loss_grad(
    X: np.ndarray, Y_: np.ndarray, w: np.ndarray, b: float, param_lambda: float = 0.0
) -> tuple[float, np.ndarray, float]:
    """mean_i -log P(Y=Y_i|x_i) + param_lambda ||w||^2 and its gradients (D,) and scalar,
    with P(Y=1|x) = sigmoid(x w + b); X (N, D), Y_ (N,) 0/1."""
    N = X.shape[0]
    s = X @ w + b  # (N,)
    nll = np.logaddexp(0, s) - Y_ * s  # (N,) -log P(y|x), stable for large |s|
    loss = np.mean(nll) + param_lambda * np.sum(w**2)
    grad_s = (_sigmoid(s) - Y_) / N  # (N,)
    return loss, X.T @ grad_s + 2 * param_lambda * w, np.sum(grad_s)


def binlogreg_train(
    X: np.ndarray,
    Y_: np.ndarray,
    param_niter: int = 1000,
    param_delta: float = 0.1,
    param_lambda: float = 0.0,
) -> tuple[np.ndarray, float]:
    """(w (D,), b) after param_niter full-batch gradient descent steps from zeros."""
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(param_niter):
        _, grad_w, grad_b = binlogreg_loss_grad(X, Y_, w, b, param_lambda)
        w = w - param_delta * grad_w
        b = b - param_delta * grad_b
    return w, b


def binlogreg_classify(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """(N,) P(Y=1|x) = sigmoid(X w + b)."""
    return _sigmoid(X @ w + b)


# ----------------------------------------------------------------------------- metrics


def eval_perf_binary(Y: np.ndarray, Y_: np.ndarray) -> tuple[float, float, float]:
    """Accuracy, recall and precision of binary predictions.

    With TP, FP, TN, FN counted for the positive class 1:
    accuracy = (TP + TN) / N,  recall = TP / (TP + FN),  precision = TP / (TP + FP).
    """
    Y, Y_ = np.asarray(Y).astype(bool), np.asarray(Y_).astype(bool)
    tp = np.sum(Y & Y_)
    fp = np.sum(Y & ~Y_)
    fn = np.sum(~Y & Y_)
    accuracy = float(np.mean(Y == Y_))
    return accuracy, float(_ratio(tp, tp + fn)), float(_ratio(tp, tp + fp))


def eval_perf_multi(
    Y: np.ndarray, Y_: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, confusion matrix and per-class precision and recall of multiclass predictions.

    M[i, j] = #{n : Y_[n] = i, Y[n] = j} (rows: true class, columns: predicted class),
    C = max(max(Y), max(Y_)) + 1; accuracy = trace(M) / N,
    precision_c = M[c, c] / sum_i M[i, c],  recall_c = M[c, c] / sum_j M[c, j].
    Returns (accuracy, M, precision, recall): float, (C, C) int, (C,) float, (C,) float.
    """
    Y, Y_ = np.asarray(Y, dtype=np.int64), np.asarray(Y_, dtype=np.int64)
    C = int(max(Y.max(), Y_.max())) + 1
    M = np.bincount(Y_ * C + Y, minlength=C * C).reshape(C, C)  # (C, C)
    tp = np.diag(M)  # (C,)
    accuracy = float(tp.sum() / M.sum())
    precision = _ratio(tp, M.sum(axis=0))  # (C,) over predicted counts
    recall = _ratio(tp, M.sum(axis=1))  # (C,) over true counts
    return accuracy, M, precision, recall


def eval_AP(ranked_labels) -> float:
    """Average precision of labels ranked by increasing score.

    Thresholding after position i (0-based) classifies items i..N-1 as positive, with precision
    P_i = sum_{k >= i} y_k / (N - i). AP = sum_i y_i P_i / sum_i y_i (0.0 with no positive),
    e.g. 0.9166666666666666 for [0, 0, 1, 0, 1, 1].
    """
    y = np.asarray(ranked_labels, dtype=np.float64)  # (N,)
    tp = np.cumsum(y[::-1])[::-1]  # (N,) positives among items i..N-1
    precision = tp / np.arange(len(y), 0, -1)  # (N,)
    return float(_ratio(np.sum(y * precision), np.sum(y)))


# ----------------------------------------------------------------------------- multiclass logreg


def stable_softmax(S: np.ndarray) -> np.ndarray:
    """(N, C) row-wise softmax of S (N, C), shifted by each row's maximum (no overflow)."""
    E = np.exp(S - S.max(axis=1, keepdims=True))  # (N, C), largest entry of each row is 1
    return E / E.sum(axis=1, keepdims=True)


def logreg_loss_grad(
    X: np.ndarray, Y_: np.ndarray, W: np.ndarray, b: np.ndarray, param_lambda: float = 0.0
) -> tuple[float, np.ndarray, np.ndarray]:
    """mean_i -log softmax(W x_i + b)[Y_i] + param_lambda ||W||_F^2 and its gradients
    (C, D) and (C,); X (N, D), Y_ (N,) in 0..C-1."""
    N = X.shape[0]
    S = X @ W.T + b  # (N, C)
    m = S.max(axis=1, keepdims=True)  # (N, 1)
    logsumexp = m[:, 0] + np.log(np.exp(S - m).sum(axis=1))  # (N,)
    rows = np.arange(N)
    loss = np.mean(logsumexp - S[rows, Y_]) + param_lambda * np.sum(W**2)
    grad_S = stable_softmax(S)  # (N, C)
    grad_S[rows, Y_] -= 1
    grad_S /= N  # (P - Y) / N
    return loss, grad_S.T @ X + 2 * param_lambda * W, grad_S.sum(axis=0)


def logreg_train(
    X: np.ndarray,
    Y_: np.ndarray,
    param_niter: int = 1000,
    param_delta: float = 0.1,
    param_lambda: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(W (C, D), b (C,)) after param_niter gradient descent steps from zeros, C = max(Y_) + 1."""
    C = int(np.max(Y_)) + 1
    W, b = np.zeros((C, X.shape[1])), np.zeros(C)
    for _ in range(param_niter):
        _, grad_W, grad_b = logreg_loss_grad(X, Y_, W, b, param_lambda)
        W = W - param_delta * grad_W
        b = b - param_delta * grad_b
    return W, b


def logreg_classify(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, C) P(Y=c|x) = softmax(X W^T + b)."""
    return stable_softmax(X @ W.T + b)
