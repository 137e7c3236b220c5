"""The interface of Lab 3's sentiment classifiers (the models themselves are the students' tasks).

Every model maps a padded batch to one logit per sentence, ``model(texts, lengths) -> (B,)``, with
texts (B, T) int64 padded with 0 and lengths (B,) int64; sigmoid(logit) = P(label 1), label 1
being ``negative`` in the course's label vocabulary (``dlcourse.data.sst.LABELS``: positive 0).
The embedding (the student's ``load_embedding``) is given to the model: frozen for pretrained
vectors, trained (``freeze=False``) for random ones, as the course does. A loader is any
iterable of ``Batch`` tuples; ``train_epoch(model, loader, optimizer, clip)`` and
``evaluate(model, loader)`` work with any model of this interface. ``CELLS`` names the recurrent
layers a ``RecurrentModel(embedding, cell=...)`` may use. The instructors' references of the
graded tasks are in ``autograder.reference.lab3``, not here.
"""

from __future__ import annotations

import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""texts (B, T) int64, labels (B,) int64, lengths (B,) int64."""
CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
"""``cell`` argument -> the PyTorch recurrent layer."""
