"""CIFAR-10 for Lab 2: the real files on disk, a download, or a clearly labelled synthetic stand-in.

Where the images come from, in order:

1. ``<root>/cifar-10-batches-py/`` holds CIFAR's own python version (``data_batch_1`` ..
   ``data_batch_5``, ``test_batch``, optionally ``batches.meta``; torchvision's layout): read in
   place, so a read-only folder of real data works.
2. Else torchvision downloads and unpacks it into ``<root>`` (170 MB, checksum checked), unless
   downloads are off (``download=False``, or ``DLCOURSE_OFFLINE=1``).
3. Else (offline, nothing on disk) a small **synthetic** stand-in: 10 classes of generated
   patterns (stripes, discs, crosses, ...) in random colours with noise, 32 x 32 x 3 like CIFAR.
   It is not CIFAR-10 and has its own class names; a ``SyntheticDataWarning`` says so.

``root`` defaults to :func:`dlcourse.config.data_root` (``$DLCOURSE_DATA``, else ``data/``).
Images are uint8 (N, 32, 32, 3) (height, width, RGB, as torchvision's ``CIFAR10.data``), labels
int64 (N,); 5000 training images (a tenth of the stand-in's) are held out for validation.
"""

from __future__ import annotations

import pickle
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcourse import config
from dlcourse.data.mnist import BundledDataWarning, Split

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
N_VALID = 5000
SYNTHETIC_CLASSES = (
    "horizontal stripes",
    "vertical stripes",
    "diagonal stripes",
    "checkerboard",
    "disc",
    "ring",
    "square",
    "cross",
    "triangle",
    "blobs",
)
SYNTHETIC_SIZES = (6000, 1000)  # train (validation included), test
"""The stand-in's sizes: a few seconds of training per epoch, enough to learn its 10 patterns."""
DOWNLOAD_TIMEOUT = 30.0
"""Seconds a download may wait on the network (urllib's default is to wait forever)."""


class SyntheticDataWarning(BundledDataWarning):
    """Real CIFAR-10 was not available: generated stand-in images are used instead."""


@dataclass(frozen=True)
class CIFAR10:
    """Train / validation / test splits, class names, and where they came from
    (``"disk"``, ``"download"`` or ``"synthetic"``)."""

    train: Split
    valid: Split
    test: Split
    classes: tuple[str, ...]
    source: str


def load_cifar10(
    root: str | Path | None = None, *, download: bool | None = None, seed: int = 100
) -> CIFAR10:
    """CIFAR-10 split 45k train / 5k validation (drawn with ``seed``) / 10k test.

    Args:
        root: data root (default :func:`dlcourse.config.data_root`).
        download: try torchvision's download when the files are not on disk (default: unless
            ``DLCOURSE_OFFLINE=1``, see :func:`dlcourse.config.downloads_allowed`).
        seed: seed of the train/validation split (and of the stand-in's images).
    """
    root = Path(root) if root is not None else config.data_root()
    download = config.downloads_allowed() if download is None else download
    folder = root / FOLDER
    source = "disk"
    if not _on_disk(folder) and download and _download(root):
        source = "download"
    if _on_disk(folder):
        train = _concatenate([read_batch(folder / name) for name in TRAIN_BATCHES])
        test, classes = read_batch(folder / TEST_BATCH), _class_names(folder)
    else:
        source, classes = "synthetic", SYNTHETIC_CLASSES
        warnings.warn(
            f"CIFAR-10 not found under {folder} and could not be downloaded: using a small "
            "SYNTHETIC stand-in (generated stripes, discs, crosses, ...; not CIFAR-10, "
            "with its own class names), so results say nothing about CIFAR-10. Set "
            "DLCOURSE_DATA to a folder with cifar-10-batches-py/, or go online.",
            SyntheticDataWarning,
            stacklevel=2,
        )
        train, test = (synthetic_patterns(n, seed=seed + i) for i, n in enumerate(SYNTHETIC_SIZES))
    order = np.random.default_rng(seed).permutation(len(train.y))
    n_valid = min(N_VALID, len(order) // 10)
    valid_idx, train_idx = order[:n_valid], order[n_valid:]
    return CIFAR10(
        train=Split(train.x[train_idx], train.y[train_idx]),
        valid=Split(train.x[valid_idx], train.y[valid_idx]),
        test=test,
        classes=tuple(classes),
        source=source,
    )


def _on_disk(folder: Path) -> bool:
    return all((folder / name).is_file() for name in TRAIN_BATCHES + (TEST_BATCH,))


def _download(root: Path) -> bool:
    """torchvision's download into ``root``; False when offline or ``root`` is not writable."""
    from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        TorchvisionCIFAR10(str(root), train=True, download=True)
    except (
        OSError,
        RuntimeError,
    ) as error:  # URLError is an OSError; torchvision raises RuntimeError
        warnings.warn(f"CIFAR-10 download into {root} failed: {error}", stacklevel=3)
        return False
    finally:
        socket.setdefaulttimeout(previous)
    return True


def read_batch(path: Path) -> Split:
    """One batch file of CIFAR's python version: a pickled dict with b"data" (n, 3072) uint8,
    each row the red, green and blue 32 x 32 planes, and b"labels" (n,)."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # written by Python 2: keys are bytes
    try:
        data, labels = np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"])
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"{path} is not a CIFAR-10 batch (a dict with b'data' and b'labels'): " f"{error!r}"
        ) from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(
            f"{path}: expected data (n, 3072) and n labels, got data {data.shape} "
            f"and {len(labels)} labels"
        )
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (n, 32, 32, 3)
    return Split(np.ascontiguousarray(images), labels.astype(np.int64))


def _class_names(folder: Path) -> tuple[str, ...]:
    """Label names from ``batches.meta`` when present, else CIFAR-10's."""
    meta = folder / "batches.meta"
    if not meta.is_file():
        return CLASSES
    with open(meta, "rb") as f:
        names = pickle.load(f, encoding="bytes").get(b"label_names", CLASSES)
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def _concatenate(splits: list[Split]) -> Split:
    return Split(np.concatenate([s.x for s in splits]), np.concatenate([s.y for s in splits]))


# ----------------------------------------------------------------------------- synthetic stand-in


def synthetic_patterns(n: int, *, seed: int) -> Split:
    """``n`` generated 32 x 32 RGB images, n/10 of each ``SYNTHETIC_CLASSES`` pattern (shuffled):
    a random-coloured pattern at a random position, size, frequency and phase on a random
    background, plus Gaussian noise (std 20 of 255)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SYNTHETIC_CLASSES))
    u, v = np.meshgrid(np.linspace(0, 1, 32), np.linspace(0, 1, 32))  # (32, 32): x and y
    u, v = u[None], v[None]  # broadcast over images
    masks = np.empty((n, 32, 32), dtype=bool)
    for label in range(len(SYNTHETIC_CLASSES)):
        idx = np.flatnonzero(labels == label)
        masks[idx] = _pattern(label, u, v, rng, len(idx))
    background, foreground = rng.uniform(0, 255, (2, n, 1, 1, 3))
    foreground = np.where(np.abs(foreground - background) < 60, 255 - background, foreground)
    images = np.where(masks[..., None], foreground, background) + rng.normal(0, 20, (n, 32, 32, 3))
    return Split(np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64))


def _pattern(
    label: int, u: np.ndarray, v: np.ndarray, rng: np.random.Generator, n: int
) -> np.ndarray:
    """Boolean masks (n, 32, 32) of one pattern with random parameters per image."""

    def draw(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, (n, 1, 1))

    freq, phase = draw(2, 5), draw(0, 2 * np.pi)
    cx, cy, size, width = draw(0.3, 0.7), draw(0.3, 0.7), draw(0.15, 0.3), draw(0.05, 0.1)
    dx, dy = u - cx, v - cy
    if label == 0:
        return np.sin(2 * np.pi * freq * v + phase) > 0
    if label == 1:
        return np.sin(2 * np.pi * freq * u + phase) > 0
    if label == 2:
        return np.sin(2 * np.pi * freq * (u + v) / np.sqrt(2) + phase) > 0
    if label == 3:
        return np.sin(2 * np.pi * freq * u + phase) * np.sin(2 * np.pi * freq * v) > 0
    if label == 4:
        return np.hypot(dx, dy) < size
    if label == 5:
        return np.abs(np.hypot(dx, dy) - size) < width
    if label == 6:
        return (np.abs(dx) < size) & (np.abs(dy) < size)
    if label == 7:
        return ((np.abs(dx) < width) & (np.abs(dy) < size)) | (
            (np.abs(dy) < width) & (np.abs(dx) < size)
        )
    if label == 8:
        return (dy > -size) & (dy < size) & (np.abs(dx) < (dy + size) / 2)
    centres = rng.uniform(0.1, 0.9, (n, 2, 3, 1, 1))  # label 9: three soft blobs, thresholded
    field = np.exp(
        -((u[..., None, :, :] - centres[:, 0]) ** 2 + (v[..., None, :, :] - centres[:, 1]) ** 2)
        / (2 * 0.1**2)
    ).sum(axis=1)
    return field > 0.5
