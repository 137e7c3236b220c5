"""dlcourse.tasks.lab3: every check gives full points to a correct submission and takes exactly
the broken quantities' points from realistic wrong ones."""

from __future__ import annotations

import inspect
import sys
import types
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

from autograder.reference import lab3 as reference
from dlcourse import reference as references
from dlcourse.tasks import lab3
from dlcourse.tasks.lab3 import TASKS

from .task_harness import TaskChecks

pytestmark = [pytest.mark.lab3, pytest.mark.usefixtures("one_torch_thread")]


# ----------------------------------------------------------------------------- a correct submission


def rnn_step_forward(x, h_prev, W_xh, W_hh, b_h):
    return np.tanh(x @ W_xh + h_prev @ W_hh + b_h)


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for t in range(x.shape[1]):
        h = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states, axis=1)


def rnn_backward(d_logits, x, h0, h, W_xh, W_hh, W_hy):
    return _bptt(d_logits, x, h0, h, W_xh, W_hh, W_hy)


def _bptt(d_logits, x, h0, h, W_xh, W_hh, W_hy, mistake=None):
    """BPTT as a student writes it; ``mistake`` names a realistic bug to make."""
    N, T, H = h.shape
    d_out = (
        d_logits
        if d_logits.ndim == 3
        else np.concatenate([np.zeros((N, T - 1, d_logits.shape[1])), d_logits[:, None]], axis=1)
    )
    g = dict(
        x=np.zeros_like(x),
        W_xh=np.zeros_like(W_xh),
        W_hh=np.zeros_like(W_hh),
        b_h=np.zeros(H),
        W_hy=np.einsum("nth,ntc->hc", h, d_out),
        b_y=d_out.sum(axis=(0, 1)),
    )
    dh_next = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dh = d_out[:, t] @ W_hy.T + (0 if mistake == "drop_future" else dh_next)
        da = dh * (1 - (np.tanh(h[:, t]) if mistake == "tanh_again" else h[:, t]) ** 2)
        g["x"][:, t] = da @ W_xh.T
        g["W_xh"] += x[:, t].T @ da
        h_prev = h[:, t] if mistake == "W_hh_current_state" else (h[:, t - 1] if t else h0)
        g["W_hh"] += h_prev.T @ da
        g["b_h"] += da.sum(axis=0)
        dh_next = da @ W_hh.T
    g["h0"] = dh_next
    return g


def clip_gradients(grads, max_norm):
    norm = np.sqrt(sum((g**2).sum() for g in grads.values()))
    return {k: g * min(1.0, max_norm / norm) for k, g in grads.items()}


@dataclass
class Instance:
    text: list
    label: str


class Vocab:
    def __init__(self, frequencies, max_size=-1, min_freq=0):
        words = [w for w, c in frequencies.most_common() if c >= min_freq]
        self.itos = ["<PAD>", "<UNK>"] + (words if max_size == -1 else words[: max_size - 2])
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def encode(self, tokens):
        return torch.tensor([self.stoi.get(t, 1) for t in tokens])


class NLPDataset(torch.utils.data.Dataset):
    def __init__(self, instances, vocab):
        self.instances, self.vocab = instances, vocab

    @classmethod
    def from_file(cls, path, vocab=None, max_size=-1, min_freq=0):
        instances = []
        with open(path) as f:
            for line in f:
                text, label = line.strip().rsplit(", ", 1)
                instances.append(Instance(text.split(), label))
        if vocab is None:
            vocab = Vocab(Counter(w for i in instances for w in i.text), max_size, min_freq)
        return cls(instances, vocab)

    def __len__(self):
        return len(self.instances)

    def __getitem__(self, i):
        instance = self.instances[i]
        return self.vocab.encode(instance.text), torch.tensor(int(instance.label == "negative"))


def pad_collate_fn(batch, pad_index=0):
    texts, labels = zip(*batch)
    lengths = torch.tensor([len(t) for t in texts])
    return (
        pad_sequence(texts, batch_first=True, padding_value=pad_index),
        torch.tensor(labels),
        lengths,
    )


def load_embedding(vocab, vectors=None, dim=300):
    if vectors:
        dim = len(next(iter(vectors.values())))
    W = np.random.randn(len(vocab.itos), dim).astype(np.float32)
    for i, word in enumerate(vocab.itos):
        if vectors and word in vectors:
            W[i] = vectors[word]
    W[:2] = 0  # <PAD>, <UNK>
    return nn.Embedding.from_pretrained(torch.from_numpy(W), padding_idx=0, freeze=True)


class BaselineModel(nn.Module):
    def __init__(self, embedding, hidden_size=150):
        super().__init__()
        self.embedding = embedding
        self.mlp = nn.Sequential(
            nn.Linear(embedding.embedding_dim, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, 1),
        )

    def pool(self, texts, lengths):
        return self.embedding(texts).sum(dim=1) / lengths[:, None]  # padding rows are zeros

    def forward(self, texts, lengths):
        return self.mlp(self.pool(texts, lengths)).squeeze(1)


class RecurrentModel(nn.Module):
    def __init__(
        self, embedding, cell="gru", hidden_size=150, num_layers=2, dropout=0.0, bidirectional=False
    ):
        super().__init__()
        self.embedding = embedding
        kind = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = kind(
            embedding.embedding_dim,
            hidden_size,
            num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
        )  # time first
        self.fc1 = nn.Linear(hidden_size * (1 + bidirectional), hidden_size)
        self.fc2 = nn.Linear(hidden_size, 1)

    def final_state(self, texts, lengths):
        packed = pack_padded_sequence(self.embedding(texts.T), lengths, enforce_sorted=False)
        _, h = self.rnn(packed)
        h = h[0] if isinstance(h, tuple) else h
        return torch.cat([h[-2], h[-1]], 1) if self.rnn.bidirectional else h[-1]

    def forward(self, texts, lengths):
        return self.fc2(torch.relu(self.fc1(self.final_state(texts, lengths)))).flatten()


def train_epoch(model, loader, optimizer, clip=0.25):
    model.train()
    criterion, total = nn.BCEWithLogitsLoss(), []
    for texts, labels, lengths in loader:
        loss = criterion(model(texts, lengths), labels.float())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total.append(loss.item())
    return sum(total) / len(total)


def evaluate(model, loader):
    model.eval()
    logits, labels = [], []
    with torch.no_grad():
        for texts, y, lengths in loader:
            logits.append(model(texts, lengths))
            labels.append(y)
    logits, labels = torch.cat(logits), torch.cat(labels)
    pred = (logits > 0).long()
    M = torch.zeros(2, 2, dtype=torch.long)
    for t, p in zip(labels, pred):
        M[t, p] += 1
    tp, fp, fn = M[1, 1].item(), M[0, 1].item(), M[1, 0].item()
    return {
        "loss": F.binary_cross_entropy_with_logits(logits, labels.float()).item(),
        "accuracy": (pred == labels).float().mean().item(),
        "f1": 2 * tp / (2 * tp + fp + fn),
        "confusion_matrix": M,
    }


# task -> (check, cases as in a graded cell: visible and "hidden", correct submission)
CASES = {
    "rnn_step_forward": (
        lab3.check_rnn_step_forward,
        [dict(seed=1, N=3, D=4, H=5), dict(seed=1001, N=7, D=2, H=9, scale=5.0)],
        rnn_step_forward,
    ),
    "rnn_forward": (
        lab3.check_rnn_forward,
        [dict(seed=1, N=2, T=4, D=3, H=5), dict(seed=1001, N=5, T=9, D=4, H=6)],
        rnn_forward,
    ),
    "rnn_backward": (
        lab3.check_rnn_backward,
        [
            dict(seed=1, N=2, T=4, D=3, H=5, C=2, dense=False),
            dict(seed=2, N=2, T=4, D=3, H=5, C=3, dense=True),
            dict(seed=1001, N=4, T=9, D=2, H=7, C=4, dense=True),
        ],
        rnn_backward,
    ),
    "clip_gradients": (
        lab3.check_clip_gradients,
        [dict(seed=1, D=3, H=4, max_norm=1.0), dict(seed=1001, D=6, H=5, max_norm=5.0)],
        clip_gradients,
    ),
    "vocab": (
        lab3.check_vocab,
        [
            dict(seed=1, n_words=30, max_size=10, min_freq=3),
            dict(seed=1001, n_words=80, max_size=40, min_freq=5),
        ],
        Vocab,
    ),
    "nlp_dataset": (
        lab3.check_nlp_dataset,
        [dict(seed=1, n_items=3), dict(seed=1001, n_items=4, other_split="test", max_size=5000)],
        NLPDataset,
    ),
    "pad_collate_fn": (
        lab3.check_pad_collate_fn,
        [dict(seed=1, B=4, max_len=6), dict(seed=1001, B=7, max_len=11, pad_index=3)],
        pad_collate_fn,
    ),
    "load_embedding": (
        lab3.check_load_embedding,
        [dict(seed=1, n_words=60, dim=8), dict(seed=1001, n_words=80, dim=5, with_vectors=False)],
        load_embedding,
    ),
    "baseline_model": (
        lab3.check_baseline_model,
        [
            dict(seed=1, V=20, dim=6, B=4, max_len=5),
            dict(seed=1001, V=31, dim=4, B=6, max_len=8, hidden_size=9),
        ],
        BaselineModel,
    ),
    "recurrent_model": (
        lab3.check_recurrent_model,
        [
            dict(seed=1, V=20, dim=6, B=4, max_len=5, hidden_size=7),
            dict(seed=1001, V=25, dim=5, B=5, max_len=7, cell="lstm", hidden_size=4, num_layers=1),
            dict(
                seed=1002,
                V=25,
                dim=3,
                B=5,
                max_len=6,
                cell="rnn",
                hidden_size=6,
                bidirectional=True,
            ),
        ],
        RecurrentModel,
    ),
    "train_epoch": (
        lab3.check_train_epoch,
        [dict(seed=1, B=4, n_batches=5), dict(seed=1001, B=6, n_batches=4, clip=0.02)],
        train_epoch,
    ),
    "evaluate": (
        lab3.check_evaluate,
        [dict(seed=1, B=8, n_batches=3), dict(seed=1001, B=5, n_batches=7)],
        evaluate,
    ),
}


REFERENCES = {
    "rnn_step_forward": "rnn_step_forward",
    "rnn_forward": "rnn_forward",
    "rnn_backward": "rnn_backward",
    "clip_gradients": "clip_gradients",
    "vocab": "Vocab",
    "nlp_dataset": "NLPDataset",
    "pad_collate_fn": "pad_collate_fn",
    "load_embedding": "load_embedding",
    "baseline_model": "BaselineModel",
    "recurrent_model": "RecurrentModel",
    "train_epoch": "train_epoch",
    "evaluate": "evaluate",
}
"""Task id -> the name its solution cell defines (and the reference module)."""


@pytest.mark.parametrize("task", list(REFERENCES))
def test_the_instructors_references_meet_the_contract(task):
    """The checks grade the references as correct when their code is typed into a notebook,
    and refuse the reference objects themselves."""
    name = REFERENCES[task]
    assert grade(task, getattr(reference, name))[1] == 0
    assert grade(task, typed_in(reference)[name])[1] == TASKS[task]


def typed_in(module):
    """The namespace a notebook gets when the module's source is pasted into it (a line lower:
    code objects equal to the package's count as calls into it)."""
    namespace = {"__name__": "__main__", "__file__": module.__file__}
    exec(compile("\n" + inspect.getsource(module), "<notebook>", "exec"), namespace)
    return namespace


# ----------------------------------------------------------------------------- wrong submissions


def step_W_hh_transposed(x, h_prev, W_xh, W_hh, b_h):
    return np.tanh(x @ W_xh + h_prev @ W_hh.T + b_h)


def step_float32(x, h_prev, W_xh, W_hh, b_h):
    return rnn_step_forward(x, h_prev, W_xh, W_hh, b_h).astype(np.float32)


def forward_last_state_only(x, h0, W_xh, W_hh, b_h):
    return rnn_forward(x, h0, W_xh, W_hh, b_h)[:, -1]


def forward_with_h0(x, h0, W_xh, W_hh, b_h):
    return np.concatenate([h0[:, None], rnn_forward(x, h0, W_xh, W_hh, b_h)], axis=1)


def forward_never_updates_h(x, h0, W_xh, W_hh, b_h):
    return np.stack(
        [rnn_step_forward(x[:, t], h0, W_xh, W_hh, b_h) for t in range(x.shape[1])], axis=1
    )


def bptt_drops_future(d_logits, x, h0, h, W_xh, W_hh, W_hy):
    """The gradient reaching h_t from step t+1 is forgotten: only the output at t counts."""
    return _bptt(d_logits, x, h0, h, W_xh, W_hh, W_hy, mistake="drop_future")


def bptt_W_hh_with_current_state(d_logits, x, h0, h, W_xh, W_hh, W_hy):
    return _bptt(d_logits, x, h0, h, W_xh, W_hh, W_hy, mistake="W_hh_current_state")


def bptt_tanh_derivative_of_tanh(d_logits, x, h0, h, W_xh, W_hh, W_hy):
    """1 - tanh(h_t)^2 where h_t already is a tanh: 1 - h_t^2 is meant."""
    return _bptt(d_logits, x, h0, h, W_xh, W_hh, W_hy, mistake="tanh_again")


def bptt_no_h0(d_logits, x, h0, h, W_xh, W_hh, W_hy):
    grads = rnn_backward(d_logits, x, h0, h, W_xh, W_hh, W_hy)
    grads["h0"] = np.zeros_like(h0)
    return grads


def bptt_dense_only(d_logits, x, h0, h, W_xh, W_hh, W_hy):
    if d_logits.ndim != 3:
        raise ValueError("expected per-step gradients")
    return rnn_backward(d_logits, x, h0, h, W_xh, W_hh, W_hy)


def bptt_missing_key(d_logits, x, h0, h, W_xh, W_hh, W_hy):
    grads = rnn_backward(d_logits, x, h0, h, W_xh, W_hh, W_hy)
    del grads["b_y"]
    return grads


def bptt_autograd(d_logits, x, h0, h, W_xh, W_hh, W_hy):
    W = {
        k: torch.tensor(v, requires_grad=True)
        for k, v in dict(W_xh=W_xh, W_hh=W_hh, W_hy=W_hy).items()
    }
    states = torch.tanh(torch.tensor(x) @ W["W_xh"])
    (states.sum() * 0).backward()
    return rnn_backward(d_logits, x, h0, h, W_xh, W_hh, W_hy)


def clip_each_array(grads, max_norm):
    return {k: g * min(1.0, max_norm / np.linalg.norm(g)) for k, g in grads.items()}


def clip_always(grads, max_norm):
    norm = np.sqrt(sum((g**2).sum() for g in grads.values()))
    return {k: g * max_norm / norm for k, g in grads.items()}


class VocabMinFreqStrict(Vocab):
    def __init__(self, frequencies, max_size=-1, min_freq=0):
        words = [w for w, c in frequencies.most_common() if c > min_freq]
        self.itos = ["<PAD>", "<UNK>"] + (words if max_size == -1 else words[: max_size - 2])
        self.stoi = {w: i for i, w in enumerate(self.itos)}


class VocabTiesAlphabetical(Vocab):
    def __init__(self, frequencies, max_size=-1, min_freq=0):
        super().__init__(
            Counter(dict(sorted(frequencies.items(), key=lambda kv: (-kv[1], kv[0])))),
            max_size,
            min_freq,
        )


class VocabSizeWithoutSpecials(Vocab):
    def __init__(self, frequencies, max_size=-1, min_freq=0):
        super().__init__(frequencies, -1 if max_size == -1 else max_size + 2, min_freq)


class VocabSpecialsSwapped(Vocab):
    def __init__(self, frequencies, max_size=-1, min_freq=0):
        super().__init__(frequencies, max_size, min_freq)
        self.itos[:2] = ["<UNK>", "<PAD>"]
        self.stoi = {w: i for i, w in enumerate(self.itos)}


class VocabEncodesLists(Vocab):
    def encode(self, tokens):
        return [self.stoi.get(t, 1) for t in tokens]


class DatasetPositiveOne(NLPDataset):
    def __getitem__(self, i):
        text, label = super().__getitem__(i)
        return text, 1 - label


class DatasetIgnoresVocab(NLPDataset):
    @classmethod
    def from_file(cls, path, vocab=None, max_size=-1, min_freq=0):
        return super().from_file(path, None, max_size, min_freq)


class DatasetOfLists(NLPDataset):
    def __getitem__(self, i):
        text, label = super().__getitem__(i)
        return text.tolist(), label


def collate_pads_with_zero(batch, pad_index=0):
    return pad_collate_fn(batch)


def collate_lengths_list(batch, pad_index=0):
    texts, labels, lengths = pad_collate_fn(batch, pad_index)
    return texts, labels, lengths.tolist()


def collate_time_first(batch, pad_index=0):
    texts, labels, lengths = pad_collate_fn(batch, pad_index)
    return texts.T, labels, lengths


def embedding_unknown_zeros(vocab, vectors=None, dim=300):
    emb = load_embedding(vocab, vectors, dim)
    known = [i for i, w in enumerate(vocab.itos) if vectors and w in vectors]
    W = torch.zeros_like(emb.weight)
    W[known] = emb.weight[known]
    return nn.Embedding.from_pretrained(W, padding_idx=0, freeze=True)


def embedding_uniform(vocab, vectors=None, dim=300):
    emb = load_embedding(vocab, vectors, dim)
    W = emb.weight.clone()
    unknown = [i for i, w in enumerate(vocab.itos) if i > 1 and not (vectors and w in vectors)]
    W[unknown] = torch.rand(len(unknown), W.shape[1])
    return nn.Embedding.from_pretrained(W, padding_idx=0, freeze=True)


def embedding_trainable(vocab, vectors=None, dim=300):
    return nn.Embedding.from_pretrained(
        load_embedding(vocab, vectors, dim).weight, padding_idx=0, freeze=False
    )


def embedding_random_pad(vocab, vectors=None, dim=300):
    W = load_embedding(vocab, vectors, dim).weight.clone()
    W[0] = torch.randn(W.shape[1])
    return nn.Embedding.from_pretrained(W, freeze=True)


def embedding_random_unk(vocab, vectors=None, dim=300):
    """The course's rule: <UNK> drawn N(0, 1) like the other words without a vector."""
    W = load_embedding(vocab, vectors, dim).weight.clone()
    W[1] = torch.randn(W.shape[1])
    return nn.Embedding.from_pretrained(W, padding_idx=0, freeze=True)


def embedding_matrix_only(vocab, vectors=None, dim=300):
    return load_embedding(vocab, vectors, dim).weight


class BaselineMeanOverPadding(BaselineModel):
    def pool(self, texts, lengths):
        return self.embedding(texts).mean(dim=1)


class BaselineSumPooling(BaselineModel):
    def pool(self, texts, lengths):
        return self.embedding(texts).sum(dim=1)


class BaselineOneReLU(BaselineModel):
    def __init__(self, embedding, hidden_size=150):
        super().__init__(embedding, hidden_size)
        self.mlp[3] = nn.Identity()


class BaselineColumn(BaselineModel):
    def forward(self, texts, lengths):
        return self.mlp(self.pool(texts, lengths))


class BaselineExtraLayer(BaselineModel):
    def __init__(self, embedding, hidden_size=150):
        super().__init__(embedding, hidden_size)
        self.extra = nn.Linear(hidden_size, hidden_size)


class RecurrentNoPacking(RecurrentModel):
    def final_state(self, texts, lengths):
        _, h = self.rnn(self.embedding(texts.T))
        h = h[0] if isinstance(h, tuple) else h
        return torch.cat([h[-2], h[-1]], 1) if self.rnn.bidirectional else h[-1]


class RecurrentFirstLayer(RecurrentModel):
    def final_state(self, texts, lengths):
        _, h = self.rnn(
            pack_padded_sequence(self.embedding(texts.T), lengths, enforce_sorted=False)
        )
        h = h[0] if isinstance(h, tuple) else h
        return torch.cat([h[0], h[1]], 1) if self.rnn.bidirectional else h[0]


class RecurrentCellState(RecurrentModel):
    def final_state(self, texts, lengths):
        _, h = self.rnn(
            pack_padded_sequence(self.embedding(texts.T), lengths, enforce_sorted=False)
        )
        h = h[1] if isinstance(h, tuple) else h  # an LSTM's c_n
        return torch.cat([h[-2], h[-1]], 1) if self.rnn.bidirectional else h[-1]


class RecurrentAlwaysGRU(RecurrentModel):
    def __init__(self, embedding, cell="gru", **kwargs):
        super().__init__(embedding, "gru", **kwargs)


def train_without_clipping(model, loader, optimizer, clip=0.25):
    return train_epoch(model, loader, optimizer, clip=1e9)


def train_without_zero_grad(model, loader, optimizer, clip=0.25):
    optimizer.zero_grad = lambda *args, **kwargs: None
    return train_epoch(model, loader, optimizer, clip)


def train_returns_sum(model, loader, optimizer, clip=0.25):
    return train_epoch(model, loader, optimizer, clip) * len(loader)


def evaluate_in_train_mode(model, loader):
    model.eval = lambda: model
    return evaluate(model, loader)


def evaluate_confusion_transposed(model, loader):
    result = evaluate(model, loader)
    return {**result, "confusion_matrix": result["confusion_matrix"].T}


def evaluate_f1_of_negatives(model, loader):
    result = evaluate(model, loader)
    M = result["confusion_matrix"]
    return {**result, "f1": (2 * M[0, 0] / (2 * M[0, 0] + M[0, 1] + M[1, 0])).item()}


def evaluate_with_scikit_learn(model, loader):
    """scikit-learn's metrics are the check's oracle: they would do the task for the student."""
    from sklearn.metrics import f1_score

    return {**evaluate(model, loader), "f1": f1_score([0, 1, 1], [0, 1, 0])}


def evaluate_probability_threshold(model, loader):
    """Thresholding sigmoid(logit) at 0.5 is the same as logit > 0: full marks."""
    return evaluate(model, loader)


def stub(*args, **kwargs):
    raise NotImplementedError("Lab 3, task x: write your code here")


WRONG = [  # (task, submission, the quantities it must lose)
    ("rnn_step_forward", step_W_hh_transposed, {"h_next"}),
    ("rnn_step_forward", step_float32, {"h_next"}),
    ("rnn_forward", forward_last_state_only, {"h"}),
    ("rnn_forward", forward_with_h0, {"h"}),
    ("rnn_forward", forward_never_updates_h, {"h"}),
    (
        "rnn_backward",
        bptt_drops_future,
        {"W_xh", "W_hh", "b_h", "x", "h0"},
        "flows back from later time steps",
    ),
    ("rnn_backward", bptt_no_h0, {"h0"}, "flows back from later time steps"),
    ("rnn_backward", bptt_W_hh_with_current_state, {"W_hh"}),
    ("rnn_backward", bptt_tanh_derivative_of_tanh, {"W_xh", "W_hh", "b_h", "x", "h0"}),
    ("rnn_backward", bptt_dense_only, set(lab3.QUANTITIES["rnn_backward"])),
    ("rnn_backward", bptt_missing_key, {"b_y"}),
    ("rnn_backward", bptt_autograd, set(lab3.QUANTITIES["rnn_backward"])),
    ("clip_gradients", clip_each_array, {"clipped"}),
    ("clip_gradients", clip_always, {"unchanged"}),
    ("vocab", VocabMinFreqStrict, {"min_freq"}),
    ("vocab", VocabTiesAlphabetical, {"order", "max_size", "min_freq", "encode", "control"}),
    ("vocab", VocabSizeWithoutSpecials, {"max_size"}),
    ("vocab", VocabSpecialsSwapped, {"specials"}),
    ("vocab", VocabEncodesLists, {"encode", "control"}),
    ("nlp_dataset", DatasetPositiveOne, {"items", "vocab"}, "positive 0, negative 1"),
    ("nlp_dataset", DatasetIgnoresVocab, {"vocab"}),
    ("nlp_dataset", DatasetOfLists, {"items", "vocab"}),
    ("pad_collate_fn", collate_pads_with_zero, {"texts"}),
    ("pad_collate_fn", collate_lengths_list, {"lengths"}),
    ("pad_collate_fn", collate_time_first, {"texts"}, "transposed"),
    ("load_embedding", embedding_unknown_zeros, {"unknown"}),
    ("load_embedding", embedding_uniform, {"unknown"}),
    ("load_embedding", embedding_trainable, {"frozen"}),
    ("load_embedding", embedding_random_pad, {"padding"}),
    ("load_embedding", embedding_random_unk, {"padding"}),
    ("load_embedding", embedding_matrix_only, set(lab3.QUANTITIES["load_embedding"])),
    ("baseline_model", BaselineMeanOverPadding, {"padding"}, "do the padded positions count"),
    ("baseline_model", BaselineSumPooling, {"logits", "padding"}),
    ("baseline_model", BaselineOneReLU, {"logits", "padding"}),
    ("baseline_model", BaselineColumn, {"logits", "padding"}, "another shape"),
    ("baseline_model", BaselineExtraLayer, {"logits", "padding", "parameters"}),
    ("recurrent_model", RecurrentNoPacking, {"padding"}, "do the padded positions count"),
    ("recurrent_model", RecurrentFirstLayer, {"logits", "padding"}),
    ("recurrent_model", RecurrentCellState, {"logits", "padding"}),
    ("recurrent_model", RecurrentAlwaysGRU, {"logits", "padding", "parameters"}),
    ("train_epoch", train_without_clipping, {"clipping"}),
    ("train_epoch", train_without_zero_grad, {"loss", "clipping"}),
    ("train_epoch", train_returns_sum, {"loss", "clipping"}, "sum where the mean"),
    # the hints here guess wrong (a factor 2, a few rows): the numbers can't show train mode
    ("evaluate", evaluate_in_train_mode, {"loss", "accuracy", "f1", "confusion_matrix"}),
    ("evaluate", evaluate_confusion_transposed, {"confusion_matrix"}, "transposed"),
    ("evaluate", evaluate_f1_of_negatives, {"f1"}),
    ("evaluate", evaluate_with_scikit_learn, set(lab3.QUANTITIES["evaluate"])),
] + [(task, stub, set(lab3.QUANTITIES[task])) for task in TASKS]


class TestTasks(TaskChecks):
    """The harness's tests (``tests/task_harness.py``) on Lab 3's cases."""

    lab, CASES, WRONG = lab3, CASES, WRONG


grade = TestTasks.grade


# ----------------------------------------------------------------------------- isolation, messages


def test_rnn_forward_is_graded_with_the_oracle_step():
    """A correct rnn_forward beside a wrong rnn_step_forward, as in a notebook, keeps its points."""
    notebook = {**globals(), "rnn_step_forward": step_W_hh_transposed}
    in_notebook = types.FunctionType(rnn_forward.__code__, notebook, "rnn_forward")
    assert grade("rnn_forward", in_notebook)[1] == TASKS["rnn_forward"]
    assert notebook["rnn_step_forward"] is step_W_hh_transposed  # restored after grading


def test_rnn_backward_may_recompute_the_states_with_rnn_forward():
    """The reference standing in for rnn_forward is plain NumPy: calling it is allowed."""

    def recomputes(d_logits, x, h0, h, W_xh, W_hh, W_hy):
        h = rnn_forward(x, h0, W_xh, W_hh, np.zeros(W_hh.shape[0]))  # a bias of zeros: wrong states
        return rnn_backward(d_logits, x, h0, h, W_xh, W_hh, W_hy)

    report, points = grade("rnn_backward", recomputes)
    assert "calls" not in str(report) and points < TASKS["rnn_backward"]  # graded, not refused


def test_nlp_dataset_is_graded_with_the_reference_vocab(monkeypatch):
    notebook = types.ModuleType("lab3_notebook")
    notebook.__dict__.update(
        {**globals(), "__name__": "lab3_notebook", "Vocab": VocabTiesAlphabetical}
    )
    monkeypatch.setitem(sys.modules, "lab3_notebook", notebook)
    exec(compile(inspect.getsource(NLPDataset), "<notebook>", "exec"), notebook.__dict__)
    assert grade("nlp_dataset", notebook.NLPDataset)[1] == TASKS["nlp_dataset"]
    assert notebook.Vocab is VocabTiesAlphabetical


def test_messages_name_the_problem():
    text = str(grade("rnn_backward", bptt_autograd)[0])
    assert "calls torch." in text and "automatic gradients" in text
    text = str(grade("recurrent_model", RecurrentNoPacking)[0])
    assert "✗ padding [seed=1, " in text and "(pack the sequence or mask)" in text
    text = str(grade("vocab", VocabMinFreqStrict)[0])
    assert "✗ min_freq [seed=1, n_words=30, min_freq=3]: itos has" in text
    text = str(grade("load_embedding", embedding_trainable)[0])
    assert "freeze=True" in text
    text = str(grade("vocab", reference.Vocab)[0])
    assert "calls autograder.reference.lab3.Vocab" in text and "write your own code" in text


def test_checks_are_reproducible():
    a = lab3.check_rnn_backward(bptt_drops_future, seed=5, N=2, T=3, D=2, H=3, C=2, dense=True)
    b = lab3.check_rnn_backward(bptt_drops_future, seed=5, N=2, T=3, D=2, H=3, C=2, dense=True)
    assert [c.message for c in a] == [c.message for c in b]


def test_bad_check_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="dim must differ from hidden_size"):
        lab3.check_baseline_model(BaselineModel, seed=1, V=10, dim=8, B=2, max_len=3, hidden_size=8)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_grading_on_cuda_gives_the_same_points(monkeypatch):
    """DLCOURSE_DEVICE=cuda moves the autograd oracles to the GPU; grades must not change."""
    monkeypatch.setenv("DLCOURSE_DEVICE", "cuda")
    assert grade("rnn_backward", rnn_backward)[1] == TASKS["rnn_backward"]
    assert grade("rnn_backward", bptt_drops_future)[1] == TASKS["rnn_backward"] - 5


# ----------------------------------------------------------------------------- the student handout

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "lab3" / "lab3.ipynb"


def visible_cells() -> dict[str, tuple[str, float]]:
    """Task id -> (the visible part of its test cell, its points), from the solution notebook."""
    cells = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id") in TASKS:
            source = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            cells[meta["grade_id"]] = (source, TASKS[meta["grade_id"]])
    return cells


def run_visible(task: str, cell: tuple[str, float], submission) -> float:
    """The visible part of ``task``'s test cell with ``submission`` as the student's name."""
    source, points = cell
    namespace = {REFERENCES[task]: submission}
    exec(compile(source, f"<{task} test cell>", "exec"), namespace)
    assert namespace["report"].worth == points  # the cell's report.points() gives the table's
    return namespace["report"].points()


HANDOUT_WRONG = [
    ("rnn_backward", bptt_drops_future),
    ("vocab", VocabTiesAlphabetical),
    ("nlp_dataset", DatasetPositiveOne),
    ("pad_collate_fn", collate_time_first),
    ("baseline_model", BaselineMeanOverPadding),
    ("recurrent_model", RecurrentNoPacking),
    ("train_epoch", train_without_clipping),
    ("evaluate", evaluate_confusion_transposed),
]


def test_visible_checks_work_in_the_handout_from_control_outputs(monkeypatch, tmp_path, capsys):
    """Without the references (the student handout), the visible checks compare with the
    control outputs recorded from them: a correct submission keeps full points, wrong ones
    lose points, and the hidden cases (no controls) say they are the grader's."""
    cells = visible_cells()
    assert set(cells) == set(TASKS)
    with references.recording() as recorded:
        for task, cell in cells.items():
            assert run_visible(task, cell, getattr(reference, REFERENCES[task])) == 0  # refused
    references.write_controls(recorded, tmp_path)
    monkeypatch.setattr(references, "CONTROLS", tmp_path)
    monkeypatch.setattr(references, "_loaded", {})
    monkeypatch.setattr(references, "available", lambda lab: False)
    monkeypatch.setattr(references, "reference", lambda lab, name: None)
    for task, cell in cells.items():
        assert run_visible(task, cell, CASES[task][2]) == TASKS[task], task
    for task, wrong in HANDOUT_WRONG:
        assert run_visible(task, cells[task], wrong) < TASKS[task], task
    notebook = {**globals(), "rnn_step_forward": step_W_hh_transposed}
    in_notebook = types.FunctionType(rnn_forward.__code__, notebook, "rnn_forward")
    assert run_visible("rnn_forward", cells["rnn_forward"], in_notebook) == 0  # the student's step
    with pytest.raises(references.NoControl, match="the grader checks this case"):
        lab3.check_vocab(Vocab, seed=1001, n_words=80, max_size=40, min_freq=5)
    capsys.readouterr()
