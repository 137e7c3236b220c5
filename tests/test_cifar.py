"""dlcourse.data.cifar: CIFAR-10's own python batch files (written here in its format), the
download path, and the synthetic stand-in with its warning."""

import pickle

import numpy as np
import pytest

from dlcourse.data import cifar
from dlcourse.data.cifar import (
    CLASSES,
    SYNTHETIC_CLASSES,
    SyntheticDataWarning,
    load_cifar10,
    read_batch,
)

pytestmark = pytest.mark.lab2


def write_batch(path, data, labels, **extra):
    """A batch as CIFAR's python version stores it: pickled by Python 2, so the keys are bytes."""
    with open(path, "wb") as f:
        pickle.dump(
            {b"data": data, b"labels": list(labels), b"batch_label": b"fake", **extra},
            f,
            protocol=2,
        )


def fake_cifar(root, per_batch=12, test=8, meta=True):
    """CIFAR's folder with every pixel value saying which image, channel and position it is."""
    folder = root / cifar.FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, labels = [], []
    for name in cifar.TRAIN_BATCHES + (cifar.TEST_BATCH,):
        n = test if name == cifar.TEST_BATCH else per_batch
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, n)
        write_batch(folder / name, data, y)
        images.append(data)
        labels.append(y)
    if meta:
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump({b"label_names": [c.encode() for c in CLASSES[::-1]]}, f, protocol=2)
    return images, labels


def test_reads_cifars_own_batch_format(tmp_path):
    images, labels = fake_cifar(tmp_path)
    data = load_cifar10(tmp_path, download=False)
    assert data.source == "disk" and data.classes == CLASSES[::-1]  # names from batches.meta
    assert data.train.x.shape == (54, 32, 32, 3) and data.valid.x.shape == (6, 32, 32, 3)
    assert data.test.x.shape == (8, 32, 32, 3) and data.train.x.dtype == np.uint8
    assert data.train.y.dtype == np.int64
    # rows are the red, green, blue 32 x 32 planes: pixel (r, c) of channel ch is ch*1024 + r*32 + c
    test_rows = images[-1]
    np.testing.assert_array_equal(
        data.test.x[3, 5, 7], test_rows[3, [5 * 32 + 7, 1024 + 5 * 32 + 7, 2048 + 5 * 32 + 7]]
    )
    np.testing.assert_array_equal(data.test.y, labels[-1])
    # train + validation are the five training batches, each image with its own label
    rows = np.concatenate(images[:-1]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    all_y = np.concatenate(labels[:-1])
    split_x = np.concatenate([data.train.x, data.valid.x])
    split_y = np.concatenate([data.train.y, data.valid.y])
    index = {rows[i].tobytes(): all_y[i] for i in range(len(rows))}
    assert len(index) == 60 and sorted(index) == sorted(x.tobytes() for x in split_x)
    assert all(index[x.tobytes()] == y for x, y in zip(split_x, split_y))


def test_split_is_seeded_and_names_default_without_meta(tmp_path):
    fake_cifar(tmp_path, meta=False)
    a, b = load_cifar10(tmp_path, download=False), load_cifar10(tmp_path, download=False)
    assert a.classes == CLASSES
    np.testing.assert_array_equal(a.valid.x, b.valid.x)
    assert not np.array_equal(a.valid.x, load_cifar10(tmp_path, download=False, seed=1).valid.x)


def test_a_file_that_is_not_a_batch_is_a_clear_error(tmp_path):
    fake_cifar(tmp_path)
    write_batch(tmp_path / cifar.FOLDER / "data_batch_3", np.zeros((4, 100), np.uint8), range(4))
    with pytest.raises(ValueError, match=r"data_batch_3: expected data \(n, 3072\)"):
        load_cifar10(tmp_path, download=False)
    with open(tmp_path / "junk", "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match="is not a CIFAR-10 batch"):
        read_batch(tmp_path / "junk")


def test_download_is_used_when_the_files_are_missing(tmp_path, monkeypatch):
    def fake_download(root):  # stands in for torchvision, which needs the internet
        fake_cifar(root)
        return True

    monkeypatch.setattr(cifar, "_download", fake_download)
    assert load_cifar10(tmp_path).source == "download"


def test_dlcourse_offline_turns_downloads_off(tmp_path, monkeypatch):
    def no_download(root):
        raise AssertionError("tried to download with DLCOURSE_OFFLINE=1")

    monkeypatch.setattr(cifar, "_download", no_download)
    monkeypatch.setenv("DLCOURSE_OFFLINE", "1")
    with pytest.warns(SyntheticDataWarning):
        assert load_cifar10(tmp_path).source == "synthetic"


def test_offline_without_files_gives_the_labelled_synthetic_stand_in(tmp_path):
    with pytest.warns(SyntheticDataWarning, match="SYNTHETIC stand-in"):
        data = load_cifar10(tmp_path, download=False, seed=3)
    assert data.source == "synthetic" and data.classes == SYNTHETIC_CLASSES
    n_train, n_test = cifar.SYNTHETIC_SIZES
    assert len(data.train.y) + len(data.valid.y) == n_train and len(data.test.y) == n_test
    assert data.train.x.shape[1:] == (32, 32, 3) and data.train.x.dtype == np.uint8
    assert set(np.bincount(data.test.y)) == {n_test // 10}  # balanced classes
    with pytest.warns(SyntheticDataWarning):
        again = load_cifar10(tmp_path, download=False, seed=3)
    np.testing.assert_array_equal(data.test.x, again.test.x)  # generated reproducibly
    # the patterns are what their names say: grey level changes mostly across rows for horizontal
    # stripes, across columns for vertical ones (noise alone would give a ratio of 1)
    x = data.test.x.astype(float).mean(axis=3)  # (N, 32, 32) grey
    edges = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)) / np.abs(np.diff(x, axis=2)).mean(
        axis=(1, 2)
    )
    horizontal, vertical = (
        edges[data.test.y == SYNTHETIC_CLASSES.index(c)].mean()
        for c in ("horizontal stripes", "vertical stripes")
    )
    assert horizontal > 1.5 and vertical < 1 / 1.5
