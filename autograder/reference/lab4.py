"""Lab 4 (metric embeddings): reference implementations of every graded task (instructors only).

Each name is the one the notebook's solution cells define, with the same signature (see
docs/lab4-contract.md): ``MNISTMetricDataset``, ``distance`` and ``triplet_loss``,
``contrastive_loss``, ``_BNReluConv`` and ``SimpleMetricEmbedding``, ``IdentityModel``,
``batch_hard_triplet_loss``. The checks in ``dlcourse.tasks.lab4`` reach them through
``dlcourse.reference``; ``python -m autograder release`` runs the visible test cells with the
student's names bound to them and records the control outputs the handout's checks compare with.
Shipped by source into a grading kernel when a check needs one (``autograder.rpc``), so this
module imports only torch and what stays in ``dlcourse``.

Distances follow PyTorch (``F.pairwise_distance``): d(x, y) = ||x - y + eps||_2, eps = 1e-6.
Embeddings are (B, D); losses are means over the batch.
"""

from __future__ import annotations

import random
from collections import defaultdict

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from dlcourse.data.mnist import load_mnist

# ----------------------------------------------------------------------------- data


class MNISTMetricDataset(Dataset):
    """MNIST for metric learning: triplets to train on, (image, label) pairs to embed.

    Args:
        root: data root for ``load_mnist`` (None: ``dlcourse.config.data_root()``).
        split: 'train' (triplets of the 55k training images), 'traineval' (the same images as
            (image, label) pairs) or 'test' (the 10k test images as pairs).
        remove_class: a class whose images are left out; None keeps all ten.

    Attributes:
        images: (N, 28, 28) float32 tensor, values in [0, 1].
        targets: (N,) int64 tensor of labels.
        target2indices: label -> list of the indices of its images.
    """

    SPLITS = ("train", "traineval", "test")

    def __init__(self, root=None, split: str = "train", remove_class: int | None = None):
        super().__init__()
        if split not in self.SPLITS:
            raise ValueError(f"split must be one of {self.SPLITS}, got {split!r}")
        self.split = split
        mnist = load_mnist(root)
        part = mnist.test if split == "test" else mnist.train
        self.images = torch.tensor(part.x, dtype=torch.float32) / 255  # (N, 28, 28)
        self.targets = torch.tensor(part.y)  # (N,)
        if remove_class is not None:
            keep = self.targets != remove_class  # (N,) bool
            self.images, self.targets = self.images[keep], self.targets[keep]
        self.target2indices = defaultdict(list)
        for i, target in enumerate(self.targets.tolist()):
            self.target2indices[target].append(i)

    def _sample_positive(self, index: int) -> int:
        """Index of a random image of the anchor's class other than the anchor."""
        candidates = self.target2indices[self.targets[index].item()]
        positive = index
        while positive == index:  # the anchor itself is no positive
            positive = random.choice(candidates)
        return positive

    def _sample_negative(self, index: int) -> int:
        """Index of a random image of a class other than the anchor's."""
        target = self.targets[index].item()
        other = random.choice([c for c in self.target2indices if c != target])
        return random.choice(self.target2indices[other])

    def __getitem__(self, index: int):
        anchor = self.images[index].unsqueeze(0)  # (1, 28, 28)
        target = self.targets[index].item()
        if self.split != "train":
            return anchor, target
        positive = self.images[self._sample_positive(index)].unsqueeze(0)
        negative = self.images[self._sample_negative(index)].unsqueeze(0)
        return anchor, positive, negative, target

    def __len__(self) -> int:
        return len(self.images)


# ----------------------------------------------------------------------------- losses


def distance(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Row-wise d_i = ||x_i - y_i + eps||_2: x, y (B, D) -> (B,)."""
    return ((x - y + eps) ** 2).sum(dim=1).sqrt()


def triplet_loss(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """mean_i max(d(a_i, p_i) - d(a_i, n_i) + margin, 0) of (B, D) embeddings -> scalar."""
    losses = distance(anchor, positive) - distance(anchor, negative) + margin  # (B,)
    return torch.clamp(losses, min=0).mean()


def contrastive_loss(
    x1: torch.Tensor, x2: torch.Tensor, same: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """mean_i [y_i d_i^2 + (1 - y_i) max(margin - d_i, 0)^2], d_i = d(x1_i, x2_i), x1, x2 (B, D),
    same (B,) 0/1 -> scalar."""
    d = distance(x1, x2)  # (B,)
    y = same.to(d.dtype)
    return (y * d**2 + (1 - y) * torch.clamp(margin - d, min=0) ** 2).mean()


def batch_hard_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Triplet loss of each anchor that has a positive and a negative in the batch, with its
    farthest positive (j != i) and its nearest negative: embeddings (B, D), labels (B,) -> scalar.
    """
    with torch.no_grad():  # mining only chooses indices
        d = torch.cdist(embeddings, embeddings)  # (B, B)
    same = labels[:, None] == labels[None, :]  # (B, B)
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    negative = ~same
    valid = positive.any(dim=1) & negative.any(dim=1)  # (B,) anchors with both
    hardest_positive = torch.where(positive, d, -torch.inf).argmax(dim=1)  # (B,) farthest
    hardest_negative = torch.where(negative, d, torch.inf).argmin(dim=1)  # (B,) nearest
    return triplet_loss(
        embeddings[valid],
        embeddings[hardest_positive[valid]],
        embeddings[hardest_negative[valid]],
        margin,
    )


# ----------------------------------------------------------------------------- models


class _BNReluConv(nn.Sequential):
    """BatchNorm2d(num_maps_in) -> ReLU -> Conv2d(num_maps_in, num_maps_out, k), no padding."""

    def __init__(self, num_maps_in: int, num_maps_out: int, k: int = 3, bias: bool = True):
        super().__init__()
        self.append(nn.BatchNorm2d(num_maps_in))
        self.append(nn.ReLU(inplace=True))
        self.append(nn.Conv2d(num_maps_in, num_maps_out, kernel_size=k, bias=bias))


class SimpleMetricEmbedding(nn.Module):
    """Three _BNReluConv blocks (k = 3, emb_size maps) with max-pooling (3, 2) between them and
    global average pooling: images (B, C, H, W) -> embeddings (B, emb_size)."""

    def __init__(self, input_channels: int, emb_size: int = 32):
        super().__init__()
        self.emb_size = emb_size
        self.block1 = _BNReluConv(input_channels, emb_size)
        self.block2 = _BNReluConv(emb_size, emb_size)
        self.block3 = _BNReluConv(emb_size, emb_size)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2)

    def get_features(self, img: torch.Tensor) -> torch.Tensor:
        """img (B, C, H, W) -> (B, emb_size)."""
        x = self.block1(img)  # (B, E, H - 2, W - 2)
        x = self.block2(self.pool(x))
        x = self.block3(self.pool(x))  # (B, E, h, w)
        return F.adaptive_avg_pool2d(x, 1).flatten(start_dim=1)  # (B, E)


class IdentityModel(nn.Module):
    """The untrained baseline: an image's embedding is its pixels."""

    def get_features(self, img: torch.Tensor) -> torch.Tensor:
        """img (B, C, H, W) -> (B, C*H*W)"""
        return img.flatten(start_dim=1)
