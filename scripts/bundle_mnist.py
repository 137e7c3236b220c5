"""Build ``data/mnist_subset.npz``: a small, balanced subset of the real MNIST for offline use.

``dlcourse.data.mnist.load_mnist`` falls back to it (with a warning) when MNIST is neither on disk
nor downloadable. The subset is the first 200 training and the first 50 test images of each digit,
in the original order (2000 + 500 images, uint8), read from ``$DLCOURSE_DATA/MNIST/raw``::

    DLCOURSE_DATA=../shared/data python scripts/bundle_mnist.py

The same files always give the same arrays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from dlcourse import config
from dlcourse.data.mnist import BUNDLED, FILES, raw_path, read_idx

PER_CLASS = {"train": 200, "test": 50}


def first_of_each_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` items of each label 0..9, in increasing order."""
    picked = [np.flatnonzero(labels == digit)[:per_class] for digit in range(10)]
    if any(len(p) < per_class for p in picked):
        raise ValueError(f"fewer than {per_class} items of some digit")
    return np.sort(np.concatenate(picked))


def subset(root: Path) -> dict[str, np.ndarray]:
    """The bundled arrays (train_x, train_y, test_x, test_y) from the real files under ``root``."""
    arrays = {}
    for split, (images, labels) in FILES.items():
        paths = [raw_path(root, name) for name in (images, labels)]
        if None in paths:
            raise FileNotFoundError(
                f"{root / 'MNIST' / 'raw'} lacks {images} or {labels} "
                "(.gz or unpacked); point DLCOURSE_DATA at real MNIST"
            )
        x, y = (read_idx(path) for path in paths)
        keep = first_of_each_class(y, PER_CLASS[split])
        arrays[f"{split}_x"], arrays[f"{split}_y"] = x[keep], y[keep].astype(np.uint8)
    return arrays


def main() -> int:
    arrays = subset(config.data_root())
    np.savez_compressed(BUNDLED, **arrays)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    print(f"wrote {BUNDLED} ({BUNDLED.stat().st_size / 1024:.0f} KiB): {shapes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
