"""Lab 0's reference metrics (autograder.reference.lab0, instructors only) against scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm

from autograder.reference.lab0 import eval_AP, eval_perf_binary, eval_perf_multi

AP_CASES = [
    ([0, 0, 0, 1, 1, 1], 1.0),
    ([0, 0, 1, 0, 1, 1], 0.9166666666666666),
    ([0, 1, 0, 1, 0, 1], 0.7555555555555555),
    ([1, 0, 1, 0, 1, 0], 0.5),
]


@pytest.mark.parametrize("seed", range(10))
def test_eval_perf_binary_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    N = int(rng.integers(5, 50))
    Y_, Y = rng.integers(0, 2, N), rng.integers(0, 2, N)
    accuracy, recall, precision = eval_perf_binary(Y, Y_)
    assert accuracy == pytest.approx(skm.accuracy_score(Y_, Y))
    assert recall == pytest.approx(skm.recall_score(Y_, Y, zero_division=0))
    assert precision == pytest.approx(skm.precision_score(Y_, Y, zero_division=0))


def test_eval_perf_binary_order_and_degenerate():
    Y_ = np.array([1, 1, 1, 0])
    Y = np.array([1, 0, 0, 0])  # TP=1, FN=2, FP=0, TN=1
    assert eval_perf_binary(Y, Y_) == pytest.approx((0.5, 1 / 3, 1.0))
    assert eval_perf_binary(np.zeros(4, int), Y_) == pytest.approx((0.25, 0.0, 0.0))


@pytest.mark.parametrize("seed", range(10))
def test_eval_perf_multi_matches_sklearn(seed):
    rng = np.random.default_rng(100 + seed)
    N, C = int(rng.integers(5, 60)), int(rng.integers(2, 6))
    Y_, Y = rng.integers(0, C, N), rng.integers(0, C, N)
    accuracy, M, precision, recall = eval_perf_multi(Y, Y_)
    labels = np.arange(max(Y.max(), Y_.max()) + 1)
    assert M.shape == (len(labels), len(labels))
    np.testing.assert_array_equal(M, skm.confusion_matrix(Y_, Y, labels=labels))
    assert accuracy == pytest.approx(skm.accuracy_score(Y_, Y))
    kw = dict(labels=labels, average=None, zero_division=0)
    np.testing.assert_allclose(precision, skm.precision_score(Y_, Y, **kw))
    np.testing.assert_allclose(recall, skm.recall_score(Y_, Y, **kw))


def test_eval_perf_multi_rows_are_true_classes():
    accuracy, M, precision, recall = eval_perf_multi(np.array([2, 2, 0]), np.array([0, 2, 0]))
    np.testing.assert_array_equal(M, [[1, 0, 1], [0, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(precision, [1.0, 0.0, 0.5])
    np.testing.assert_allclose(recall, [0.5, 0.0, 1.0])
    assert accuracy == pytest.approx(2 / 3)


@pytest.mark.parametrize("labels, expected", AP_CASES)
def test_eval_AP_known_values(labels, expected):
    assert eval_AP(labels) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_eval_AP_matches_sklearn(seed):
    rng = np.random.default_rng(200 + seed)
    N = int(rng.integers(2, 60))
    labels = rng.integers(0, 2, N)
    labels[rng.integers(N)] = 1  # at least one positive
    scores = np.arange(N)  # labels are ranked by increasing score, no ties
    assert eval_AP(labels) == pytest.approx(skm.average_precision_score(labels, scores))


def test_eval_perf_multi_counts_classes_seen_only_in_predictions():
    accuracy, M, precision, recall = eval_perf_multi(np.array([0, 3]), np.array([0, 1]))
    assert M.shape == (4, 4) and M[1, 3] == 1 and M[0, 0] == 1
    np.testing.assert_allclose(precision, [1, 0, 0, 0])
    np.testing.assert_allclose(recall, [1, 0, 0, 0])
    assert accuracy == 0.5


def test_eval_AP_without_positives_is_zero():
    assert eval_AP([0, 0, 0]) == 0.0
