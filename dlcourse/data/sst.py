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

This module also holds the course's references for what students write in Lab 3: ``Instance``,
``Vocab``, ``NLPDataset``, ``pad_collate_fn`` and ``load_embedding``. Labels are numericalised
as ``LABELS``: negative 0, positive 1.
"""
from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from dlcourse import config
from dlcourse.data.mnist import BundledDataWarning

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "data" / "sst"
BUNDLED_GLOVE = BUNDLED_DIR / "glove_6b_50d_sst_train.npz"
SPLITS = ("train", "valid", "test")
GLOVE_FILE = "sst_glove_6b_50d.txt"
LABELS = {"negative": 0, "positive": 1}
PAD, UNK = "<PAD>", "<UNK>"


# ----------------------------------------------------------------------------- files

def split_path(split: str, root: str | Path | None = None) -> Path:
    """Path of ``sst_<split>_raw.csv``: under ``<root>/sst/``, else the bundled copy (with a warning).

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
    warnings.warn(f"{path} not found: using the copy bundled in {BUNDLED_DIR} (the same file). "
                  "Set DLCOURSE_DATA to a folder with sst/ to use your own.",
                  BundledDataWarning, stacklevel=2)
    return BUNDLED_DIR / name


def _sst_dir(root: str | Path | None) -> Path:
    return (Path(root) if root is not None else config.data_root()) / "sst"


@dataclass
class Instance:
    """One example: tokens of the text and its label (``"positive"`` or ``"negative"``)."""

    text: list[str]
    label: str


def parse_line(line: str) -> Instance:
    """``"yet the act is still charming here, positive"`` -> Instance(text=[...7 tokens], label).

    The text may itself contain ``", "``: the label follows the last one.
    """
    text, sep, label = line.rstrip("\r\n").rpartition(", ")
    if not sep or label not in LABELS:
        raise ValueError(f"not an SST line '<text>, <positive|negative>': {line[:80]!r}")
    return Instance(text.split(), label)


def read_instances(path: str | Path) -> list[Instance]:
    """Every line of an SST csv file as an Instance, in file order."""
    with open(path, encoding="utf-8") as f:
        return [parse_line(line) for line in f if line.strip()]


def token_frequencies(instances: Iterable[Instance]) -> Counter[str]:
    """Token -> count over the texts; tokens listed in order of first appearance."""
    return Counter(token for instance in instances for token in instance.text)


# ----------------------------------------------------------------------------- vocabulary, dataset

class Vocab:
    """Token <-> index: ``<PAD>`` = 0, ``<UNK>`` = 1, then tokens by decreasing frequency.

    Ties keep the order of ``frequencies`` (a stable sort), so a Counter of the train file gives
    the course's indices (the=2, a=3, and=4, ...).

    Args:
        frequencies: token -> count (built on the train split only).
        max_size: most entries kept, the two special symbols included; -1 keeps all.
        min_freq: a token is kept when its count is >= min_freq (the specials always are).

    Attributes:
        itos: list of tokens, index -> token.
        stoi: dict token -> index.
    """

    def __init__(self, frequencies: Mapping[str, int], max_size: int = -1, min_freq: int = 0) -> None:
        if max_size != -1 and max_size < 2:
            raise ValueError(f"max_size={max_size} leaves no room for <PAD> and <UNK>; "
                             "use -1 (keep all) or a size >= 2")
        ranked = sorted(frequencies, key=lambda token: frequencies[token], reverse=True)  # stable
        kept = [token for token in ranked if frequencies[token] >= min_freq]
        if max_size != -1:
            kept = kept[:max_size - 2]
        self.itos = [PAD, UNK] + kept
        self.stoi = {token: index for index, token in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> torch.Tensor:
        """(L,) int64 tensor of the tokens' indices; unknown tokens -> 1 (``<UNK>``)."""
        unk = self.stoi[UNK]
        return torch.tensor([self.stoi.get(token, unk) for token in tokens], dtype=torch.long)


class NLPDataset(torch.utils.data.Dataset):
    """SST instances, numericalised on access.

    ``dataset[i]`` -> (text (L,) int64, label () int64 with negative 0, positive 1).
    """

    def __init__(self, instances: list[Instance], vocab: Vocab) -> None:
        self.instances = instances
        self.vocab = vocab

    @classmethod
    def from_file(cls, path: str | Path, vocab: Vocab | None = None, max_size: int = -1,
                  min_freq: int = 0) -> NLPDataset:
        """Read an SST csv file; without ``vocab``, build one from this file's tokens (train)."""
        instances = read_instances(path)
        if vocab is None:
            vocab = Vocab(token_frequencies(instances), max_size=max_size, min_freq=min_freq)
        return cls(instances, vocab)

    def __len__(self) -> int:
        return len(self.instances)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        instance = self.instances[index]
        return self.vocab.encode(instance.text), torch.tensor(LABELS[instance.label])


def pad_collate_fn(batch: Sequence[tuple[torch.Tensor, torch.Tensor]],
                   pad_index: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A DataLoader's list of (text (L_i,), label ()) -> texts (B, max L_i) padded with
    ``pad_index``, labels (B,), lengths (B,) int64."""
    texts, labels = zip(*batch)
    lengths = torch.tensor([len(text) for text in texts], dtype=torch.long)
    return pad_sequence(list(texts), batch_first=True, padding_value=pad_index), torch.stack(labels), lengths


def datasets(root: str | Path | None = None, max_size: int = -1,
             min_freq: int = 0) -> tuple[NLPDataset, NLPDataset, NLPDataset]:
    """(train, valid, test) datasets sharing the vocabulary built on train."""
    train = NLPDataset.from_file(split_path("train", root), max_size=max_size, min_freq=min_freq)
    return (train, NLPDataset.from_file(split_path("valid", root), train.vocab),
            NLPDataset.from_file(split_path("test", root), train.vocab))


# ----------------------------------------------------------------------------- GloVe, embeddings

def read_glove(path: str | Path) -> dict[str, np.ndarray]:
    """A file in the GloVe text format (``word v1 ... vd`` a line, any d) -> word -> (d,) float32."""
    vectors: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            word, *values = line.rstrip().split(" ")
            if dim is None:
                dim = len(values)
            if not values or len(values) != dim:
                raise ValueError(f"{path}, line {number}: {len(values)} values after {word!r}, "
                                 f"expected {dim}; is this a GloVe text file?")
            vectors[word] = np.asarray(values, dtype=np.float32)
    return vectors


def load_glove(path: str | Path | None = None, root: str | Path | None = None) -> dict[str, np.ndarray]:
    """GloVe vectors, word -> (d,) float32.

    ``path`` (any GloVe text file, e.g. 300-d) if given; else ``<root>/sst/sst_glove_6b_50d.txt``;
    else the bundled 50-d vectors of the train vocabulary (float16 precision), with a warning.
    """
    if path is not None:
        return read_glove(path)
    path = _sst_dir(root) / GLOVE_FILE
    if path.is_file():
        return read_glove(path)
    warnings.warn(f"{path} not found: using the 50-d GloVe vectors of the train vocabulary bundled in "
                  f"{BUNDLED_GLOVE.name} (float16; the vectors of words only in valid/test are "
                  "missing). Set DLCOURSE_DATA to a folder with sst/, or pass path=.",
                  BundledDataWarning, stacklevel=2)
    with np.load(BUNDLED_GLOVE) as f:
        return {str(word): vector.astype(np.float32) for word, vector in zip(f["words"], f["vectors"])}


def load_embedding(vocab: Vocab, vectors: Mapping[str, np.ndarray] | None = None,
                   dim: int = 300) -> nn.Embedding:
    """Frozen embedding of the vocabulary: (len(vocab.itos), d) float32 weights.

    Row i is ``vectors[vocab.itos[i]]`` where the word has a vector, N(0, 1) (``torch.randn``)
    otherwise, zeros for ``<PAD>`` (index 0, also ``padding_idx``). ``d`` is the vectors'
    dimension, or ``dim`` when ``vectors`` is None (every row random).
    """
    if vectors:
        dim = len(next(iter(vectors.values())))
    weight = torch.randn(len(vocab.itos), dim)
    for index, word in enumerate(vocab.itos):
        if vectors is not None and word in vectors:
            weight[index] = torch.as_tensor(vectors[word], dtype=torch.float32)
    weight[vocab.stoi[PAD]] = 0
    return nn.Embedding.from_pretrained(weight, padding_idx=vocab.stoi[PAD], freeze=True)
