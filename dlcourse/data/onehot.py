"""One-hot label encoding (Lab 1): class indices <-> one-hot rows.

Import from here (``from dlcourse.data.onehot import class_to_onehot``); the functions are course
helpers, not graded tasks.
"""

from __future__ import annotations

import numpy as np


def class_to_onehot(Y: np.ndarray, C: int | None = None) -> np.ndarray:
    """One-hot rows of class indices: Yoh[i, c] = 1 if Y[i] == c else 0.

    Args:
        Y: (N,) class indices in 0..C-1 (integers, or floats with whole values).
        C: number of classes (default max(Y) + 1).

    Returns:
        Yoh: (N, C) float64 one-hot matrix.
    """
    Y = np.asarray(Y)
    if Y.ndim != 1:
        raise ValueError(f"Y must be a 1-D array of class indices, got shape {Y.shape}")
    if Y.dtype.kind not in "biu" and not (Y.dtype.kind == "f" and np.all(np.round(Y) == Y)):
        raise ValueError(f"Y must hold whole class indices, got dtype {Y.dtype}")
    Y = Y.astype(np.int64)
    C = int(Y.max()) + 1 if C is None and len(Y) else (C or 0)
    if len(Y) and (Y.min() < 0 or Y.max() >= C):
        raise ValueError(f"class indices must lie in 0..{C - 1}, got {Y.min()}..{Y.max()}")
    Yoh = np.zeros((len(Y), C))
    Yoh[np.arange(len(Y)), Y] = 1
    return Yoh


def onehot_to_class(Yoh: np.ndarray) -> np.ndarray:
    """Class indices of one-hot rows (or any per-class scores): argmax of each row, (N,) int64."""
    Yoh = np.asarray(Yoh)
    if Yoh.ndim != 2:
        raise ValueError(f"Yoh must be an (N, C) array, got shape {Yoh.shape}")
    return Yoh.argmax(axis=1).astype(np.int64)
