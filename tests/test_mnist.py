"""dlcourse.data.mnist: the three ways to MNIST (on disk, torchvision download, bundled subset).

The download is real: torchvision fetches the genuine .gz files from an HTTP server on
127.0.0.1 (its mirror list monkeypatched to point there) and checks their MD5s.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import warnings
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import MNIST as TorchvisionMNIST

from dlcourse.data import mnist
from dlcourse.data.mnist import BundledDataWarning, load_mnist
from scripts import bundle_mnist

REAL = Path(os.environ.get("DLCOURSE_DATA", "/nonexistent"))
needs_real = pytest.mark.skipif(
    not mnist._on_disk(REAL), reason="needs real MNIST under $DLCOURSE_DATA"
)
# per-digit counts published with the data (shared/data/SOURCES.md)
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def real():
    return load_mnist(REAL)


class _Server:
    """A quiet static file server on 127.0.0.1 that remembers the paths it was asked for."""

    def __init__(self, directory: Path):
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                server.requests.append(self.path)

            def copyfile(self, source, outputfile):
                # torchvision's redirect probe reads the headers only, then hangs up
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().copyfile(source, outputfile)

        self.httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def mirror(monkeypatch):
    """torchvision's MNIST mirrors replaced by a local server of the real .gz files."""
    server = _Server(REAL / "MNIST" / "raw")
    monkeypatch.setattr(TorchvisionMNIST, "mirrors", [server.url])
    monkeypatch.delenv("DLCOURSE_OFFLINE", raising=False)
    yield server
    server.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- 1. on disk


@needs_real
def test_on_disk_splits_55k_5k_10k(real):
    assert real.source == "disk"
    assert [len(s.y) for s in (real.train, real.valid, real.test)] == [55000, 5000, 10000]
    for split in (real.train, real.valid, real.test):
        assert split.x.shape == (len(split.y), 28, 28) and split.x.dtype == np.uint8
        assert split.y.dtype == np.int64
    train_counts = np.bincount(real.train.y, minlength=10) + np.bincount(real.valid.y, minlength=10)
    assert train_counts.tolist() == TRAIN_COUNTS  # train + valid = the 60k training set
    assert np.bincount(real.test.y).tolist() == TEST_COUNTS


@needs_real
def test_validation_split_is_seeded_and_disjoint(real):
    again, other = load_mnist(REAL), load_mnist(REAL, seed=7)
    np.testing.assert_array_equal(again.valid.x, real.valid.x)
    assert not np.array_equal(other.valid.y, real.valid.y)
    # disjoint: no validation image is also a training image (MNIST has no exact duplicates)
    train = {img.tobytes() for img in real.train.x}
    assert not any(img.tobytes() in train for img in real.valid.x[:500])


@needs_real
def test_flat_gives_unit_range_vectors(real):
    X = real.test.flat()
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert X.min() == 0 and X.max() == 1
    assert real.test.flat(np.float64).dtype == np.float64


# ----------------------------------------------------------------------------- 2. download


@needs_real
def test_download_from_a_mirror(mirror, tmp_path, real):
    got = load_mnist(tmp_path)
    assert got.source == "download"
    assert {p.rsplit("/", 1)[-1] for p in mirror.requests} == {
        f"{name}.gz" for names in mnist.FILES.values() for name in names
    }
    np.testing.assert_array_equal(got.test.x, real.test.x)
    np.testing.assert_array_equal(got.train.y, real.train.y)
    asked = len(mirror.requests)
    assert load_mnist(tmp_path).source == "disk"  # cached: no second download
    assert len(mirror.requests) == asked


@needs_real
def test_offline_setting_never_touches_the_network(mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_OFFLINE", "1")
    with pytest.warns(BundledDataWarning, match="downloads are off"):
        assert load_mnist(tmp_path).source == "bundled"
    assert mirror.requests == []
    monkeypatch.delenv("DLCOURSE_OFFLINE")
    with pytest.warns(BundledDataWarning, match="downloads are off"):
        assert load_mnist(tmp_path, download=False).source == "bundled"
    assert mirror.requests == []


# ----------------------------------------------------------------------------- 3. bundled


def test_bundled_fallback_warns_once_in_one_line(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_mnist(tmp_path, download=False)
    assert [w.category for w in caught] == [BundledDataWarning]
    text = str(caught[0].message)
    assert "\n" not in text and "mnist_subset.npz" in text and "DLCOURSE_DATA" in text
    assert caught[0].filename == __file__  # points at the caller's line
    assert data.source == "bundled"
    assert [len(s.y) for s in (data.train, data.valid, data.test)] == [1834, 166, 500]
    assert np.bincount(data.test.y).tolist() == [50] * 10
    labels = np.concatenate([data.train.y, data.valid.y])
    assert np.bincount(labels).tolist() == [200] * 10


def test_failed_download_falls_back_and_says_why(monkeypatch, tmp_path):
    monkeypatch.delenv("DLCOURSE_OFFLINE", raising=False)
    monkeypatch.setattr(TorchvisionMNIST, "mirrors", [f"http://127.0.0.1:{_closed_port()}/"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_mnist(tmp_path).source == "bundled"
    assert [w.category for w in caught] == [BundledDataWarning]
    text = str(caught[0].message)
    assert "the download failed" in text and "Connection refused" in text and "\n" not in text


def test_missing_bundle_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(mnist, "BUNDLED", tmp_path / "gone.npz")
    with (
        pytest.warns(BundledDataWarning),
        pytest.raises(FileNotFoundError, match="bundle_mnist.py"),
    ):
        load_mnist(tmp_path, download=False)


@needs_real
def test_bundled_subset_is_what_the_script_takes_from_the_real_files():
    expected = bundle_mnist.subset(REAL)
    with np.load(mnist.BUNDLED) as bundled:
        assert sorted(bundled.files) == sorted(expected)
        for name, array in expected.items():
            np.testing.assert_array_equal(bundled[name], array, err_msg=name)
            assert bundled[name].dtype == np.uint8
    assert mnist.BUNDLED.stat().st_size < 1_000_000


def test_first_of_each_class():
    labels = np.array([1, 0, 1, 2, 0, 2, 2, 1, 0] + list(range(3, 10)) * 2)
    assert bundle_mnist.first_of_each_class(labels, 2).tolist() == [0, 1, 2, 3, 4, 5] + list(
        range(9, 23)
    )
    with pytest.raises(ValueError, match="fewer than 3"):
        bundle_mnist.first_of_each_class(labels, 3)


# ----------------------------------------------------------------------------- IDX files


def test_read_idx_rejects_other_files(tmp_path):
    bad = tmp_path / "x"
    bad.write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x02ab")  # float IDX, not uint8
    with pytest.raises(ValueError, match="bad magic number"):
        mnist.read_idx(bad)
    short = tmp_path / "y"
    short.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")  # promises 5 bytes, has 3
    with pytest.raises(ValueError, match="truncated"):
        mnist.read_idx(short)
    good = tmp_path / "z"
    good.write_bytes(b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x01\x07\x09")
    np.testing.assert_array_equal(mnist.read_idx(good), [[7], [9]])
