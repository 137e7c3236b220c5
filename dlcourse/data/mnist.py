"""MNIST for Labs 1, 2 and 4: the real files on disk, a download, or the bundled subset.

Where the images come from, in order:

1. ``<root>/MNIST/raw/`` already holds the four IDX files (``.gz`` or unpacked, torchvision's layout);
   read in place, so a read-only folder of real data works.
2. Else torchvision downloads them into ``<root>`` (its mirror list, checksums checked).
3. Else (offline, nothing on disk) the small real subset bundled in ``data/mnist_subset.npz``,
   with a warning that says so.

``root`` defaults to :func:`dlcourse.config.data_root` (``$DLCOURSE_DATA``, else ``data/``).
"""
from __future__ import annotations

import gzip
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcourse import config

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "mnist_subset.npz"
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
N_VALID = 5000


class BundledDataWarning(UserWarning):
    """Real data was not available; a small bundled stand-in is used instead."""


@dataclass(frozen=True)
class Split:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class MNIST:
    """Train / validation / test splits and where they came from (``"disk"``, ``"download"``, ``"bundled"``)."""

    train: Split
    valid: Split
    test: Split
    source: str


def load_mnist(root: str | Path | None = None, *, download: bool = True, seed: int = 100) -> MNIST:
    """MNIST split 55k train / 5k validation (drawn with ``seed``) / 10k test.

    Args:
        root: data root (default :func:`dlcourse.config.data_root`).
        download: try torchvision's download when the files are not on disk.
        seed: seed of the train/validation split.
    """
    root = Path(root) if root is not None else config.data_root()
    source = "disk"
    if not _on_disk(root) and download and _download(root):
        source = "download"
    if _on_disk(root):
        train, test = (_read_split(root, split) for split in ("train", "test"))
    else:
        source = "bundled"
        warnings.warn(f"MNIST not found under {root / 'MNIST' / 'raw'} and could not be downloaded: "
                      f"using the small subset bundled in {BUNDLED.name} (results will not match the "
                      "lab's figures). Set DLCOURSE_DATA to a folder with MNIST, or go online.",
                      BundledDataWarning, stacklevel=2)
        train, test = _read_bundled()
    order = np.random.default_rng(seed).permutation(len(train.y))
    n_valid = min(N_VALID, len(order) // 12)  # the bundled subset keeps the same proportions
    valid_idx, train_idx = order[:n_valid], order[n_valid:]
    return MNIST(train=Split(train.x[train_idx], train.y[train_idx]),
                 valid=Split(train.x[valid_idx], train.y[valid_idx]), test=test, source=source)


def _path(root: Path, name: str) -> Path | None:
    raw = root / "MNIST" / "raw"
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _on_disk(root: Path) -> bool:
    return all(_path(root, name) for names in FILES.values() for name in names)


def _download(root: Path) -> bool:
    """torchvision's download into ``root``; False when offline or ``root`` is not writable."""
    from torchvision.datasets import MNIST as TorchvisionMNIST

    try:
        for train in (True, False):
            TorchvisionMNIST(str(root), train=train, download=True)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; torchvision raises RuntimeError
        warnings.warn(f"MNIST download into {root} failed: {error}", stacklevel=3)
        return False
    return True


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array: big-endian header, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _read_split(root: Path, split: str) -> Split:
    images, labels = (read_idx(_path(root, name)) for name in FILES[split])
    return Split(images, labels.astype(np.int64))


def _read_bundled() -> tuple[Split, Split]:
    with np.load(BUNDLED) as f:
        return (Split(f["train_x"], f["train_y"].astype(np.int64)),
                Split(f["test_x"], f["test_y"].astype(np.int64)))
