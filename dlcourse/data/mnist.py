"""MNIST for Labs 1, 2 and 4: the real files on disk, a download, or the bundled subset.

Where the images come from, in order:

1. ``<root>/MNIST/raw/`` already holds the four IDX files (``.gz`` or unpacked, torchvision's
   layout);
   read in place, so a read-only folder of real data works.
2. Else torchvision downloads them into ``<root>`` (its mirror list, checksums checked), unless
   downloads are off (``download=False``, or ``DLCOURSE_OFFLINE=1``).
3. Else (offline, nothing on disk) the small real subset bundled in ``data/mnist_subset.npz``
   (200 training and 50 test images of each digit, built by ``scripts/bundle_mnist.py``), with a
   one-line :class:`BundledDataWarning` that says so and why.

``root`` defaults to :func:`dlcourse.config.data_root` (``$DLCOURSE_DATA``, else ``data/``).
"""

from __future__ import annotations

import gzip
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcourse import config

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "mnist_subset.npz"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
N_VALID = 5000
DOWNLOAD_TIMEOUT = 30.0
"""Seconds a download may wait on the network (urllib's default is to wait forever)."""


class BundledDataWarning(UserWarning):
    """Real data was not available; a small bundled stand-in is used instead."""


@dataclass(frozen=True)
class Split:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split."""

    x: np.ndarray
    y: np.ndarray

    def flat(self, dtype: type = np.float32) -> np.ndarray:
        """The images as (N, 784) vectors of ``dtype`` scaled to [0, 1], as FC models take them."""
        return self.x.reshape(len(self.x), -1).astype(dtype) / 255


@dataclass(frozen=True)
class MNIST:
    """Train / validation / test splits and where they came from: ``"disk"``, ``"download"`` or
    ``"bundled"``."""

    train: Split
    valid: Split
    test: Split
    source: str


def load_mnist(
    root: str | Path | None = None, *, download: bool | None = None, seed: int = 100
) -> MNIST:
    """MNIST split 55k train / 5k validation (drawn with ``seed``) / 10k test.

    The bundled subset keeps the proportions: 1834 train / 166 validation / 500 test.

    Args:
        root: data root (default :func:`dlcourse.config.data_root`).
        download: try torchvision's download when the files are not on disk (default: unless
            ``DLCOURSE_OFFLINE=1``, see :func:`dlcourse.config.downloads_allowed`).
        seed: seed of the train/validation split.
    """
    root = Path(root) if root is not None else config.data_root()
    download = config.downloads_allowed() if download is None else download
    source = "disk"
    if not _on_disk(root):
        problem = (
            _download(root)
            if download
            else "downloads are off (download=False or DLCOURSE_OFFLINE=1)"
        )
        source = "download" if problem is None else "bundled"
    if source == "bundled":
        warnings.warn(
            f"MNIST is not in {root / 'MNIST' / 'raw'} and {problem}: using the small real "
            f"subset bundled in data/{BUNDLED.name} (results will not match the lab's "
            "figures); set DLCOURSE_DATA to a folder with MNIST/raw, or go online",
            BundledDataWarning,
            stacklevel=2,
        )
        train, test = _read_bundled()
    else:
        train, test = (_read_split(root, split) for split in ("train", "test"))
    order = np.random.default_rng(seed).permutation(len(train.y))
    n_valid = min(N_VALID, len(order) // 12)  # the bundled subset keeps the same proportions
    valid_idx, train_idx = order[:n_valid], order[n_valid:]
    return MNIST(
        train=Split(train.x[train_idx], train.y[train_idx]),
        valid=Split(train.x[valid_idx], train.y[valid_idx]),
        test=test,
        source=source,
    )


def raw_path(root: Path, name: str) -> Path | None:
    """``<root>/MNIST/raw/<name>``, unpacked or ``.gz``, or None when neither exists."""
    raw = root / "MNIST" / "raw"
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _on_disk(root: Path) -> bool:
    return all(raw_path(root, name) for names in FILES.values() for name in names)


def _download(root: Path) -> str | None:
    """torchvision's download into ``root``: None on success, else why it failed (one line)."""
    from torchvision.datasets import MNIST as TorchvisionMNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        for train in (True, False):
            TorchvisionMNIST(str(root), train=train, download=True)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; torchvision: RuntimeError
        text = " ".join(
            str(error).split()
        )  # torchvision lists every mirror's error on its own line
        return f"the download failed ({type(error).__name__}: {text[:300]})"
    finally:
        socket.setdefaulttimeout(previous)
    return None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array: big-endian header, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) != offset + int(np.prod(shape)):
        raise ValueError(
            f"{path} is truncated or corrupt: its header promises shape {shape}; "
            "delete it (a download puts it back)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def _read_split(root: Path, split: str) -> Split:
    images, labels = (read_idx(raw_path(root, name)) for name in FILES[split])
    return Split(images, labels.astype(np.int64))


def _read_bundled() -> tuple[Split, Split]:
    if not BUNDLED.is_file():
        raise FileNotFoundError(
            f"MNIST is not available: nothing on disk, no download, and the "
            f"bundled subset {BUNDLED} is missing; restore it from git or run "
            "scripts/bundle_mnist.py with DLCOURSE_DATA pointing at real MNIST"
        )
    with np.load(BUNDLED) as f:
        return (
            Split(f["train_x"], f["train_y"].astype(np.int64)),
            Split(f["test_x"], f["test_y"].astype(np.int64)),
        )
