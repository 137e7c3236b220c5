"""The Stanford Sentiment Treebank (the course's binary split) and GloVe vectors, for Lab 3.

Files, under ``<root>/sst/`` (``root`` defaults to :func:`dlcourse.config.data_root`):

- ``sst_{train,valid,test}_raw.csv``: one instance a line, ``<tokenised lower-cased text>, <label>``
  with label ``positive`` or ``negative`` (6920 / 1821 / 872 lines); split on the **last** ``", "``.
- ``sst_glove_6b_50d.txt`` (or any file in the GloVe text format, e.g. the course's 300-d
  ``sst_glove_6b_300d.txt``): ``word v1 ... vd`` a line, space-separated.

When a file is not there, the copy bundled in the repository's ``data/sst/`` is used with a
``BundledDataWarning``: the three csv files (identical to the real ones) and, for GloVe, the 50-d
vectors of the train vocabulary's words in float16 (``glove_6b_50d_sst_train.npz``, made by
``scripts/bundle_sst.py``; see ``data/README.md``).

What students write in Lab 3 (reading the files into ``Instance``s, ``Vocab``, ``NLPDataset``,
``pad_collate_fn``, ``load_embedding``) is not here: the instructors' references are in
``autograder.reference.lab3``. Given: the files' paths, ``Instance``, the GloVe readers, and the
labels' numbers ``LABELS``: positive 0, negative 1, as the course's label vocabulary numbers them
(built like the words' on the train labels' frequencies: 3610 positive before 3310 negative).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcourse import config
from dlcourse.data.mnist import BundledDataWarning

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "data" / "sst"
BUNDLED_GLOVE = BUNDLED_DIR / "glove_6b_50d_sst_train.npz"
SPLITS = ("train", "valid", "test")
GLOVE_FILE = "sst_glove_6b_50d.txt"
LABELS = {"positive": 0, "negative": 1}
PAD, UNK = "<PAD>", "<UNK>"


# ----------------------------------------------------------------------------- files


def split_path(split: str, root: str | Path | None = None) -> Path:
    """Path of ``sst_<split>_raw.csv``: under ``<root>/sst/``, else the bundled copy (warned).

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        root: data root (default :func:`dlcourse.config.data_root`).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown SST split {split!r}; use one of {SPLITS}")
    name = f"sst_{split}_raw.csv"
    path = _sst_dir(root) / name
    if path.is_file():
        return path
    warnings.warn(
        f"{path} not found: using the copy bundled in {BUNDLED_DIR} (the same file). "
        "Set DLCOURSE_DATA to a folder with sst/ to use your own.",
        BundledDataWarning,
        stacklevel=2,
    )
    return BUNDLED_DIR / name


def _sst_dir(root: str | Path | None) -> Path:
    return (Path(root) if root is not None else config.data_root()) / "sst"


@dataclass
class Instance:
    """One example: tokens of the text and its label (``"positive"`` or ``"negative"``)."""

    text: list[str]
    label: str


# ----------------------------------------------------------------------------- GloVe


def read_glove(path: str | Path) -> dict[str, np.ndarray]:
    """A GloVe text file (``word v1 ... vd`` a line, any d) -> word -> (d,) float32 vector."""
    vectors: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            word, *values = line.rstrip().split(" ")
            if dim is None:
                dim = len(values)
            if not values or len(values) != dim:
                raise ValueError(
                    f"{path}, line {number}: {len(values)} values after {word!r}, "
                    f"expected {dim}; is this a GloVe text file?"
                )
            vectors[word] = np.asarray(values, dtype=np.float32)
    return vectors


def load_glove(
    path: str | Path | None = None, root: str | Path | None = None
) -> dict[str, np.ndarray]:
    """GloVe vectors, word -> (d,) float32.

    ``path`` (any GloVe text file, e.g. 300-d) if given; else ``<root>/sst/sst_glove_6b_50d.txt``;
    else the bundled 50-d vectors of the train vocabulary (float16 precision), with a warning.
    """
    if path is not None:
        return read_glove(path)
    path = _sst_dir(root) / GLOVE_FILE
    if path.is_file():
        return read_glove(path)
    warnings.warn(
        f"{path} not found: using the 50-d GloVe vectors of the train vocabulary bundled in "
        f"{BUNDLED_GLOVE.name} (float16; the vectors of words only in valid/test are "
        "missing). Set DLCOURSE_DATA to a folder with sst/, or pass path=.",
        BundledDataWarning,
        stacklevel=2,
    )
    with np.load(BUNDLED_GLOVE) as f:
        return {
            str(word): vector.astype(np.float32) for word, vector in zip(f["words"], f["vectors"])
        }
