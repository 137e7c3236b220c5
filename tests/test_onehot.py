"""dlcourse.data.onehot: class indices <-> one-hot rows."""

import numpy as np
import pytest

from dlcourse.data.onehot import class_to_onehot, onehot_to_class


def test_class_to_onehot():
    Yoh = class_to_onehot(np.array([2, 0, 1, 2]))
    np.testing.assert_array_equal(Yoh, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert Yoh.dtype == np.float64
    assert class_to_onehot([1, 1], C=4).shape == (2, 4)  # classes that don't occur
    assert class_to_onehot(np.array([0.0, 1.0])).shape == (2, 2)  # whole floats are indices
    assert class_to_onehot(np.array([], dtype=int), C=3).shape == (0, 3)


def test_round_trip():
    Y = np.random.default_rng(0).integers(0, 10, 100)
    np.testing.assert_array_equal(onehot_to_class(class_to_onehot(Y)), Y)
    assert onehot_to_class(np.array([[0.1, 0.7, 0.2]])).tolist() == [1]  # scores work too


@pytest.mark.parametrize(
    "Y, C, message",
    [
        ([[0, 1]], None, "1-D"),
        ([0.5, 1], None, "whole class indices"),
        ([0, 3], 3, r"0\.\.2"),
        ([-1, 0], None, r"0\.\.0"),
    ],
)
def test_bad_labels_are_named(Y, C, message):
    with pytest.raises(ValueError, match=message):
        class_to_onehot(np.array(Y), C)


def test_onehot_to_class_needs_a_matrix():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        onehot_to_class(np.array([0, 1]))
