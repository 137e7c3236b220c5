"""Evaluation metrics: the course's references (students write their own in Lab 0).

Conventions: ``Y`` predicted labels, ``Y_`` true labels, both (N,) int arrays. A ratio whose
denominator is zero (e.g. the precision of a class that is never predicted) is reported as 0.0,
as scikit-learn does by default.
"""
from __future__ import annotations

import numpy as np


def _ratio(num, den):
    """num / den elementwise, 0.0 where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def eval_perf_binary(Y: np.ndarray, Y_: np.ndarray) -> tuple[float, float, float]:
    """Accuracy, recall and precision of binary predictions.

    With TP, FP, TN, FN counted for the positive class 1:
    accuracy = (TP + TN) / N,  recall = TP / (TP + FN),  precision = TP / (TP + FP).

    Args:
        Y: (N,) predicted labels, 0/1.
        Y_: (N,) true labels, 0/1.

    Returns:
        (accuracy, recall, precision) as floats.
    """
    Y, Y_ = np.asarray(Y).astype(bool), np.asarray(Y_).astype(bool)
    tp = np.sum(Y & Y_)
    fp = np.sum(Y & ~Y_)
    fn = np.sum(~Y & Y_)
    accuracy = float(np.mean(Y == Y_))
    return accuracy, float(_ratio(tp, tp + fn)), float(_ratio(tp, tp + fp))


def eval_perf_multi(Y: np.ndarray, Y_: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, confusion matrix and per-class precision and recall of multiclass predictions.

    The confusion matrix M has M[i, j] = #{n : Y_[n] = i, Y[n] = j} (rows: true class, columns:
    predicted class), C = max(max(Y), max(Y_)) + 1. Then
    accuracy = trace(M) / N,  precision_c = M[c, c] / sum_i M[i, c],  recall_c = M[c, c] / sum_j M[c, j].

    Args:
        Y: (N,) predicted class indices.
        Y_: (N,) true class indices.

    Returns:
        (accuracy, M, precision, recall): float, (C, C) int, (C,) float, (C,) float.
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
    P_i = sum_{k >= i} y_k / (N - i). AP averages it over the positive items:
    AP = sum_i y_i P_i / sum_i y_i (0.0 when there is no positive item).

    Args:
        ranked_labels: (N,) 0/1 true labels sorted by increasing score.

    Returns:
        AP as a float, e.g. 0.9166666666666666 for [0, 0, 1, 0, 1, 1].
    """
    y = np.asarray(ranked_labels, dtype=np.float64)  # (N,)
    tp = np.cumsum(y[::-1])[::-1]  # (N,) positives among items i..N-1
    precision = tp / np.arange(len(y), 0, -1)  # (N,)
    return float(_ratio(np.sum(y * precision), np.sum(y)))
