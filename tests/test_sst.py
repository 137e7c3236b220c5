"""dlcourse.data.sst: the SST files (real and bundled) and GloVe; with the
references of Lab 3's data tasks (autograder.reference.lab3): the course's control outputs, the
vocabulary, batches and embedding."""

from __future__ import annotations

import hashlib
import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from autograder.reference import lab3 as ref
from dlcourse import config
from dlcourse.data import sst
from dlcourse.data.mnist import BundledDataWarning

pytestmark = pytest.mark.lab3

REAL = config.data_root() / "sst"
needs_real = pytest.mark.skipif(
    not (REAL / "sst_train_raw.csv").is_file(),
    reason="the real SST files are not under $DLCOURSE_DATA/sst",
)
# data/sst holds the split files too, but only the bundled float16 vectors, not GloVe's text file
needs_real_glove = pytest.mark.skipif(
    not (REAL / "sst_glove_6b_50d.txt").is_file(),
    reason="the real GloVe file is not under $DLCOURSE_DATA/sst",
)
SHA256 = {  # shared/data/SOURCES.md
    "train": "d8cca48eb32f34568fcb25d9ffa044a57c82a1cfe0dbeab925c6f99ec1f72c83",
    "valid": "dd1f3a6365a84289f3e85fdb809ff0c7b6e086f41a20bb0acb7c58af7e72e720",
    "test": "083bd0a9b1cf9ac02e9acf0f91d81003616484a40651e224a7408c0f3bf699cc",
}
COUNTS = {"train": (6920, 3610), "valid": (1821, 909), "test": (872, 444)}  # lines, positive


@pytest.fixture(scope="module")
def splits():
    return ref.datasets()


# ----------------------------------------------------------------------------- files


@needs_real
@pytest.mark.parametrize("split", sst.SPLITS)
def test_real_files_are_read_in_place_with_the_documented_counts(split, recwarn):
    path = sst.split_path(split)
    assert path == REAL / f"sst_{split}_raw.csv" and not recwarn.list
    instances = ref.read_instances(path)
    lines, positive = COUNTS[split]
    assert len(instances) == lines
    assert Counter(i.label for i in instances) == {
        "positive": positive,
        "negative": lines - positive,
    }


@pytest.mark.parametrize("split", sst.SPLITS)
def test_bundled_files_are_the_real_ones_and_used_with_a_warning(split, tmp_path):
    with pytest.warns(BundledDataWarning, match="bundled"):
        path = sst.split_path(split, root=tmp_path)  # an empty data root
    assert path == sst.BUNDLED_DIR / f"sst_{split}_raw.csv"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256[split]


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="use one of"):
        sst.split_path("dev")


def test_lines_split_on_the_last_comma_space():
    assert ref.parse_line("yet the act is still charming here, positive\n") == sst.Instance(
        "yet the act is still charming here".split(), "positive"
    )
    assert ref.parse_line("well , it 's bad, sadly, negative").text == [
        "well",
        ",",
        "it",
        "'s",
        "bad,",
        "sadly",
    ]
    with pytest.raises(ValueError, match="not an SST line"):
        ref.parse_line("no label here")
    with pytest.raises(ValueError, match="not an SST line"):
        ref.parse_line("a text, neutral")


# ----------------------------------------------------------------------------- vocabulary


def test_vocab_control_outputs_of_the_course(splits):
    """The course's control outputs (docs/lab3-contract.md), on the real (or bundled) train file."""
    vocab = splits[0].vocab
    assert len(vocab.itos) == 14806
    assert [vocab.stoi[w] for w in "the a and my twists lets sports amateurishly".split()] == [
        2,
        3,
        4,
        188,
        930,
        956,
        1275,
        6818,
    ]
    assert splits[0][3][0].tolist() == [189, 2, 674, 7, 129, 348, 143]
    assert splits[0].instances[3].text == "yet the act is still charming here".split()


def test_vocab_order_specials_ties_and_limits():
    frequencies = Counter({"b": 2, "a": 3, "c": 2, "d": 1, "e": 3})
    vocab = ref.Vocab(frequencies)
    assert vocab.itos == ["<PAD>", "<UNK>", "a", "e", "b", "c", "d"]  # ties: order of frequencies
    assert vocab.stoi == {w: i for i, w in enumerate(vocab.itos)} and len(vocab) == 7
    assert ref.Vocab(frequencies, max_size=4).itos == ["<PAD>", "<UNK>", "a", "e"]  # specials count
    assert ref.Vocab(frequencies, min_freq=2).itos == ["<PAD>", "<UNK>", "a", "e", "b", "c"]  # >=
    assert ref.Vocab(frequencies, max_size=2).itos == ["<PAD>", "<UNK>"]
    with pytest.raises(ValueError, match="max_size"):
        ref.Vocab(frequencies, max_size=1)
    encoded = vocab.encode(["e", "zebra", "a"])
    assert encoded.dtype == torch.long and encoded.tolist() == [3, 1, 2]
    assert vocab.encode([]).shape == (0,)


# ----------------------------------------------------------------------------- dataset, batches


def test_datasets_share_the_train_vocabulary(splits):
    train, valid, test = splits
    assert (len(train), len(valid), len(test)) == (6920, 1821, 872)
    assert valid.vocab is train.vocab and test.vocab is train.vocab
    text, label = valid[0]
    assert text.dtype == torch.long and label.dtype == torch.long and label.shape == ()
    words = valid.instances[0].text
    assert text.tolist() == [train.vocab.stoi.get(w, 1) for w in words]
    negative = COUNTS["valid"][0] - COUNTS["valid"][1]
    assert sum(int(valid[i][1]) for i in range(len(valid))) == negative  # positive 0, negative 1
    assert sst.LABELS == {"positive": 0, "negative": 1}  # the course's label vocabulary
    unseen = {w for i in valid.instances for w in i.text} - set(train.vocab.stoi)
    assert unseen, "valid has words the train vocabulary lacks: they become <UNK>"


def test_pad_collate_fn_in_a_dataloader(splits):
    loader = DataLoader(splits[0], batch_size=5, shuffle=False, collate_fn=ref.pad_collate_fn)
    texts, labels, lengths = next(iter(loader))
    expected = [splits[0][i][0] for i in range(5)]
    assert texts.shape == (5, max(map(len, expected))) and texts.dtype == torch.long
    assert lengths.tolist() == [len(t) for t in expected]
    for row, text in zip(texts, expected):
        assert row[: len(text)].tolist() == text.tolist() and not row[len(text) :].any()
    assert labels.tolist() == [int(splits[0][i][1]) for i in range(5)]
    padded, _, _ = ref.pad_collate_fn(
        [(torch.tensor([5]), torch.tensor(1)), (torch.tensor([6, 7]), torch.tensor(0))], pad_index=9
    )
    assert padded.tolist() == [[5, 9], [6, 7]]


# ----------------------------------------------------------------------------- GloVe, embeddings


def test_read_glove_takes_any_dimension_and_rejects_other_files(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("the 0.1 0.2 0.3\ncat -1 2.5 0\n")
    vectors = sst.read_glove(path)
    assert list(vectors) == ["the", "cat"] and vectors["cat"].dtype == np.float32
    np.testing.assert_array_equal(vectors["cat"], [-1, 2.5, 0])
    assert sst.load_glove(path).keys() == vectors.keys()
    path.write_text("the 0.1 0.2 0.3\ncat -1 2.5\n")
    with pytest.raises(ValueError, match="line 2: 2 values"):
        sst.read_glove(path)


@needs_real_glove
def test_real_glove_file():
    vectors = sst.load_glove()
    assert len(vectors) == 16093 and len(vectors["the"]) == 50
    np.testing.assert_allclose(vectors["the"][:5], [0.41800, 0.24968, -0.41242, 0.12170, 0.34527])


@needs_real_glove
def test_bundled_glove_is_the_real_vectors_of_the_train_vocabulary(splits, tmp_path):
    with pytest.warns(BundledDataWarning, match="float16"):
        bundled = sst.load_glove(root=tmp_path)
    real = sst.load_glove()
    assert list(bundled) == [w for w in splits[0].vocab.itos if w in real]
    worst = max(np.abs(bundled[w] - real[w]).max() for w in bundled)
    assert worst < 4e-3  # float16: 11 significant bits of values below 8


@needs_real_glove  # it rebuilds the bundle from the real files
def test_bundle_script_rebuilds_the_committed_bundle(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "bundle_sst", Path(__file__).parents[1] / "scripts" / "bundle_sst.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(sst, "BUNDLED_DIR", tmp_path)
    monkeypatch.setattr(sst, "BUNDLED_GLOVE", tmp_path / "glove.npz")
    assert script.main() == 0
    for split in sst.SPLITS:
        name = f"sst_{split}_raw.csv"
        assert (tmp_path / name).read_bytes() == (REAL / name).read_bytes()
    with (
        np.load(tmp_path / "glove.npz") as new,
        np.load(Path(__file__).parents[1] / "data" / "sst" / "glove_6b_50d_sst_train.npz") as old,
    ):
        assert new["words"].tolist() == old["words"].tolist()
        np.testing.assert_array_equal(new["vectors"], old["vectors"])


def test_bundle_script_says_what_is_missing(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location(
        "bundle_sst", Path(__file__).parents[1] / "scripts" / "bundle_sst.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    assert script.main() == 1
    assert "set DLCOURSE_DATA" in capsys.readouterr().err


def test_load_embedding_rows():
    vocab = ref.Vocab(Counter({"good": 3, "bad": 2, "zyzzyva": 1}))
    vectors = {
        "good": np.array([1, 2], np.float32),
        "bad": np.array([3, 4], np.float32),
        "elsewhere": np.array([5, 6], np.float32),
    }
    torch.manual_seed(0)
    emb = ref.load_embedding(vocab, vectors)
    W = emb.weight
    assert W.shape == (5, 2) and W.dtype == torch.float32 and not W.requires_grad
    assert emb.padding_idx == 0 and not W[0].any()
    assert W[vocab.stoi["good"]].tolist() == [1, 2] and W[vocab.stoi["bad"]].tolist() == [3, 4]
    assert not W[1].any() and W[4].abs().sum() > 0  # <UNK> zeros (never trained); zyzzyva random
    random_only = ref.load_embedding(vocab, None, dim=7).weight
    assert random_only.shape == (5, 7) and not random_only[:2].any() and random_only[2:].all()
