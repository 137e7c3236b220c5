"""Lab 3 (recurrent models): reference implementations of every graded task (instructors only).

Each name is the one the notebook's solution cell defines, with the same signature. The checks in
``dlcourse.tasks.lab3`` reach these through ``dlcourse.reference`` (isolating a task from the
student's earlier ones, expected values of hidden cases); ``python -m autograder release`` runs the
visible test cells with the student's names bound to them and records their control outputs.
Shipped by source into a grading kernel when a check substitutes one of them (``autograder.rpc``),
so this module imports only numpy, torch and what stays in ``dlcourse``.

Part 0, the NumPy RNN (shapes in ``dlcourse.rnn``). Backward, with a_t = x_t W_xh + h_{t-1} W_hh
+ b_h and upstream gradients dL/do: going back in time, the gradient reaching h_t comes from its
output *and* from step t+1,

    dh_t = dL/do_t W_hy^T + da_{t+1} W_hh^T,      da_t = dh_t * (1 - h_t^2),

and each parameter sums its gradient over the steps (dW_hh = sum_t h_{t-1}^T da_t, ...).

Part 1, SST data (files and GloVe in ``dlcourse.data.sst``): ``Vocab``, ``NLPDataset``,
``pad_collate_fn``, ``load_embedding``. Part 2, models of the interface in ``dlcourse.sentiment``:
``BaselineModel``, ``RecurrentModel``, ``AttentionModel`` (bonus), ``train_epoch``, ``evaluate``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pad_packed_sequence,
    pad_sequence,
)

from dlcourse.config import model_device
from dlcourse.data.sst import LABELS, PAD, UNK, Instance, split_path
from dlcourse.sentiment import CELLS, Batch

# ----------------------------------------------------------------------------- part 0: numpy RNN


def rnn_step_forward(
    x: np.ndarray, h_prev: np.ndarray, W_xh: np.ndarray, W_hh: np.ndarray, b_h: np.ndarray
) -> np.ndarray:
    """h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h): x (N, D), h_prev (N, H) -> (N, H)."""
    return np.tanh(x @ W_xh + h_prev @ W_hh + b_h)


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, W_xh: np.ndarray, W_hh: np.ndarray, b_h: np.ndarray
) -> np.ndarray:
    """All hidden states (N, T, H) of the RNN over x (N, T, D), starting from h0 (N, H)."""
    states = []
    h = h0
    for t in range(x.shape[1]):
        h = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states, axis=1)  # (N, T, H)


def rnn_backward(
    d_logits: np.ndarray,
    x: np.ndarray,
    h0: np.ndarray,
    h: np.ndarray,
    W_xh: np.ndarray,
    W_hh: np.ndarray,
    W_hy: np.ndarray,
) -> dict[str, np.ndarray]:
    """Backpropagation through time.

    Args:
        d_logits: upstream gradient dL/do, (N, T, C) for per-step logits or (N, C) for the
            last step's only (sequence classification).
        x, h0: the forward pass's inputs, (N, T, D) and (N, H).
        h: the forward pass's states, (N, T, H).
        W_xh, W_hh, W_hy: the weights, (D, H), (H, H), (H, C).

    Returns:
        {"x", "h0", "W_xh", "W_hh", "b_h", "W_hy", "b_y"} -> dL/d(that), of its shape.
    """
    N, T, H = h.shape
    if d_logits.ndim == 2:  # classification: only the last step has an output
        d_out = np.zeros((N, T, d_logits.shape[1]))
        d_out[:, -1] = d_logits
    else:
        d_out = d_logits
    grads = {
        "x": np.zeros_like(x),
        "W_xh": np.zeros_like(W_xh),
        "W_hh": np.zeros_like(W_hh),
        "b_h": np.zeros(H),
        "W_hy": np.einsum("nth,ntc->hc", h, d_out),
        "b_y": d_out.sum(axis=(0, 1)),
    }
    dh_next = np.zeros((N, H))  # dL/dh_t through step t+1
    for t in reversed(range(T)):
        dh = d_out[:, t] @ W_hy.T + dh_next  # (N, H): from the output at t and from the future
        da = dh * (1 - h[:, t] ** 2)  # (N, H): through tanh
        h_prev = h[:, t - 1] if t > 0 else h0
        grads["x"][:, t] = da @ W_xh.T
        grads["W_xh"] += x[:, t].T @ da
        grads["W_hh"] += h_prev.T @ da
        grads["b_h"] += da.sum(axis=0)
        dh_next = da @ W_hh.T
    grads["h0"] = dh_next
    return grads


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """sqrt(sum of the squares of every array's elements)."""
    return float(np.sqrt(sum(np.sum(g**2) for g in grads.values())))


def clip_gradients(grads: dict[str, np.ndarray], max_norm: float) -> dict[str, np.ndarray]:
    """Scale every gradient by max_norm / norm when their global norm exceeds max_norm.

    The direction is kept; only the step gets shorter (as ``torch.nn.utils.clip_grad_norm_``).
    Returns a new dict of the same keys.
    """
    norm = global_norm(grads)
    scale = max_norm / norm if norm > max_norm else 1.0
    return {name: g * scale for name, g in grads.items()}


# ----------------------------------------------------------------------------- part 1: data


def parse_line(line: str) -> Instance:
    """``"yet the act is still charming here, positive"`` -> Instance(text=[...7 tokens], label).

    No text contains ``", "`` (the course says so; no line of the data has two): splitting on the
    last one is then the same as on the only one.
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

    def __init__(
        self, frequencies: Mapping[str, int], max_size: int = -1, min_freq: int = 0
    ) -> None:
        if max_size != -1 and max_size < 2:
            raise ValueError(
                f"max_size={max_size} leaves no room for <PAD> and <UNK>; "
                "use -1 (keep all) or a size >= 2"
            )
        ranked = sorted(frequencies, key=lambda token: frequencies[token], reverse=True)  # stable
        kept = [token for token in ranked if frequencies[token] >= min_freq]
        if max_size != -1:
            kept = kept[: max_size - 2]
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

    ``dataset[i]`` -> (text (L,) int64, label () int64 with positive 0, negative 1).
    """

    def __init__(self, instances: list[Instance], vocab: Vocab) -> None:
        self.instances = instances
        self.vocab = vocab

    @classmethod
    def from_file(
        cls, path: str | Path, vocab: Vocab | None = None, max_size: int = -1, min_freq: int = 0
    ) -> NLPDataset:
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


def pad_collate_fn(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]], pad_index: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A DataLoader's list of (text (L_i,), label ()) -> texts (B, max L_i) padded with
    ``pad_index``, labels (B,), lengths (B,) int64."""
    texts, labels = zip(*batch)
    lengths = torch.tensor([len(text) for text in texts], dtype=torch.long)
    padded = pad_sequence(list(texts), batch_first=True, padding_value=pad_index)
    return padded, torch.stack(labels), lengths


def datasets(
    root: str | Path | None = None, max_size: int = -1, min_freq: int = 0
) -> tuple[NLPDataset, NLPDataset, NLPDataset]:
    """(train, valid, test) datasets sharing the vocabulary built on train."""
    train = NLPDataset.from_file(split_path("train", root), max_size=max_size, min_freq=min_freq)
    return (
        train,
        NLPDataset.from_file(split_path("valid", root), train.vocab),
        NLPDataset.from_file(split_path("test", root), train.vocab),
    )


def load_embedding(
    vocab: Vocab, vectors: Mapping[str, np.ndarray] | None = None, dim: int = 300
) -> nn.Embedding:
    """Frozen embedding of the vocabulary: (len(vocab.itos), d) float32 weights.

    Row i is ``vectors[vocab.itos[i]]`` where the word has a vector, N(0, 1) (``torch.randn``)
    otherwise, zeros for ``<PAD>`` (index 0, also ``padding_idx``) and ``<UNK>`` (index 1).
    ``d`` is the vectors' dimension, or ``dim`` when ``vectors`` is None (every word random).

    ``<UNK>`` is zeros, not random as in the course: the vocabulary holds every train word, so
    ``<UNK>`` never occurs in training and its vector is never trained nor seen by the classifier,
    yet it is 6.7 % of the valid and test tokens (59 % of their sentences). A random one moves
    those sentences along a direction the model never learnt, by a different amount for every
    seed: the baseline's test accuracy then spread over 68.5-72.5 % across five seeds (std 1.6),
    against 73.6-75.1 % (std 0.5) with zeros (``benchmarks/lab3_sst.py --spread``).
    """
    if vectors:
        dim = len(next(iter(vectors.values())))
    weight = torch.randn(len(vocab.itos), dim)
    for index, word in enumerate(vocab.itos):
        if vectors is not None and word in vectors:
            weight[index] = torch.as_tensor(vectors[word], dtype=torch.float32)
    weight[vocab.stoi[PAD]] = weight[vocab.stoi[UNK]] = 0
    return nn.Embedding.from_pretrained(weight, padding_idx=vocab.stoi[PAD], freeze=True)


# ----------------------------------------------------------------------------- part 2: models


class BaselineModel(nn.Module):
    """Mean pooling of the word vectors, then a 3-layer MLP."""

    def __init__(self, embedding: nn.Embedding, hidden_size: int = 150) -> None:
        super().__init__()
        self.embedding = embedding
        self.fc1 = nn.Linear(embedding.embedding_dim, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.fc3 = nn.Linear(hidden_size, 1)

    def forward(self, texts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding(texts)  # (B, T, d), zeros at padding
        lengths = lengths[:, None].to(texts.device)  # (B, 1)
        mask = torch.arange(texts.shape[1], device=texts.device) < lengths  # (B, T)
        pooled = (x * mask[..., None]).sum(dim=1) / lengths.to(x)  # (B, d)
        h = F.relu(self.fc2(F.relu(self.fc1(pooled))))
        return self.fc3(h).squeeze(-1)  # (B,)


class RecurrentModel(nn.Module):
    """A stacked RNN, GRU or LSTM over the packed sequence, then fc -> ReLU -> fc."""

    def __init__(
        self,
        embedding: nn.Embedding,
        cell: str = "gru",
        hidden_size: int = 150,
        num_layers: int = 2,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell={cell!r}: use one of {sorted(CELLS)}")
        self.embedding = embedding
        self.rnn = CELLS[cell](
            embedding.embedding_dim,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        directions = 2 if bidirectional else 1
        self.fc1 = nn.Linear(directions * hidden_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, 1)

    def encode(
        self, texts: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[PackedSequence, torch.Tensor]:
        """Packed outputs of the last layer and its final state (B, directions * H)."""
        packed = pack_padded_sequence(
            self.embedding(texts), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
        last = h_n[-2:] if self.rnn.bidirectional else h_n[-1:]  # last layer, each direction
        return outputs, torch.cat(list(last), dim=1)

    def forward(self, texts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, final = self.encode(texts, lengths)
        return self.fc2(F.relu(self.fc1(final))).squeeze(-1)  # (B,)


class AttentionModel(RecurrentModel):
    """Bonus: attention pooling of the last layer's outputs instead of its final state.

    a_t = w2^T tanh(W1 o_t) over the valid steps, alpha = softmax(a), pooled = sum_t alpha_t o_t.
    """

    def __init__(
        self,
        embedding: nn.Embedding,
        cell: str = "gru",
        hidden_size: int = 150,
        num_layers: int = 2,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__(embedding, cell, hidden_size, num_layers, dropout, bidirectional)
        width = self.fc1.in_features
        self.attention = nn.Sequential(
            nn.Linear(width, width // 2), nn.Tanh(), nn.Linear(width // 2, 1, bias=False)
        )

    def forward(self, texts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed, _ = self.encode(texts, lengths)
        outputs, _ = pad_packed_sequence(packed, batch_first=True)  # (B, T', width)
        scores = self.attention(outputs).squeeze(-1)  # (B, T')
        steps = torch.arange(outputs.shape[1], device=outputs.device)
        valid = steps < lengths[:, None].to(outputs.device)  # (B, T')
        alpha = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=1)
        pooled = (alpha[..., None] * outputs).sum(dim=1)  # (B, width)
        return self.fc2(F.relu(self.fc1(pooled))).squeeze(-1)


def train_epoch(
    model: nn.Module, loader: Iterable[Batch], optimizer: torch.optim.Optimizer, clip: float = 0.25
) -> float:
    """One pass over ``loader``: per batch, BCE with logits, backward, clip the global gradient
    norm to ``clip``, step. Returns the mean of the batches' losses."""
    model.train()
    device, losses = model_device(model), []
    for texts, labels, lengths in loader:
        optimizer.zero_grad()
        logits = model(texts.to(device), lengths)
        loss = F.binary_cross_entropy_with_logits(logits, labels.to(device, logits.dtype))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def evaluate(model: nn.Module, loader: Iterable[Batch]) -> dict[str, float | np.ndarray]:
    """Loss (mean BCE over the examples), accuracy, F1 of class 1 and the (2, 2) confusion
    matrix (rows: true class, columns: predicted; 0 positive, 1 negative), in eval mode. A
    sentence is predicted class 1 when its logit is > 0 (the logit scores class 1, negative in
    the course's numbering; its F1, as scikit-learn's default, is the course's)."""
    model.eval()
    device = model_device(model)
    logits, true = [], []
    # a block, not @torch.no_grad(): graders tell functions apart by their code objects, and the
    # decorator's wrapper code is the same for every function it decorates
    with torch.no_grad():
        for texts, labels, lengths in loader:
            logits.append(model(texts.to(device), lengths).cpu())
            true.append(labels.cpu())
    y_logits, y_true = torch.cat(logits), torch.cat(true)
    y_pred = (y_logits > 0).long()
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (y_true.numpy(), y_pred.numpy()), 1)
    tp, fp, fn = matrix[1, 1], matrix[0, 1], matrix[1, 0]
    loss = F.binary_cross_entropy_with_logits(y_logits, y_true.to(y_logits.dtype)).item()
    return {
        "loss": loss,
        "accuracy": float(np.trace(matrix) / matrix.sum()),
        "f1": float(2 * tp / max(2 * tp + fp + fn, 1)),
        "confusion_matrix": matrix,
    }
