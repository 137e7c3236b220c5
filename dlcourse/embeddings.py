"""Metric embeddings (Lab 4): training, nearest class-mean classification, retrieval, PCA plots.

A metric embedding maps an image to a vector so that images of one class lie close together. A
model here is anything with ``get_features(img) -> (B, E)`` for images ``img`` (B, C, H, W): the
lab's ``SimpleMetricEmbedding`` and ``IdentityModel`` (E = C*H*W, the image space). Loaders yield
batches whose first item is the images and whose last is the labels: ``(images, labels)`` or
``(anchor, positive, negative, labels)``. The student's classes and losses come in as arguments.

- ``EMB_SIZE``, ``BATCH_SIZE``, ``LEARNING_RATE``, ``EPOCHS``, ``MARGIN``, ``cosine_schedule``:
  the lab's schedule.
- ``train_embedding_epoch``: one epoch of a metric loss of the embeddings, with a progress bar
  -> mean loss.
- ``embed``: features and labels of everything a loader yields.
- ``compute_representations``: per-class mean embeddings -> (C, E).
- ``class_mean_accuracy``: nearest class-mean classification (``nearest_class_mean``), top-1
  accuracy; by raw Euclidean distance, or with ``normalize=True`` as the course's utilities do
  (class means and queries scaled to unit length first).
- ``average_precision``, ``retrieval_average_precision``, ``mean_average_precision``: retrieval,
  where each query ranks a gallery by distance; the AP of a query is scikit-learn's
  (``sklearn.metrics.average_precision_score``) of its ranking.
- ``plot_pca``: the first two principal components (scikit-learn) of images or embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from sklearn.decomposition import PCA
from sklearn.metrics import average_precision_score
from tqdm.auto import tqdm

from dlcourse.config import model_device

__all__ = [
    "EMB_SIZE",
    "BATCH_SIZE",
    "LEARNING_RATE",
    "EPOCHS",
    "MARGIN",
    "cosine_schedule",
    "train_embedding_epoch",
    "embed",
    "compute_representations",
    "nearest_class_mean",
    "class_mean_accuracy",
    "average_precision",
    "retrieval_average_precision",
    "mean_average_precision",
    "plot_pca",
]

# The lab's schedule, shared by the notebook and the benchmark: FER's lab 4 (Adam 1e-3, batches
# of 64 triplets, 3 epochs), with the step decayed to 0 along a cosine over the 3 epochs, batch by
# batch (``cosine_schedule``): in one run each, 98.1% test accuracy against 97.8% with a
# constant step.
EMB_SIZE = 32
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
EPOCHS = 3
MARGIN = 1.0


def cosine_schedule(
    optimizer: torch.optim.Optimizer, steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The step size decayed from its start to 0 along a half cosine over ``steps`` batches."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))


def train_embedding_epoch(
    model: torch.nn.Module,
    loader: Iterable[Sequence[Any]],
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor],
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    desc: str = "train",
) -> float:
    """One pass over ``loader`` in training mode, one optimizer step per batch.

    A batch is ``(*images, labels)``: one image tensor (B, C, H, W) of labelled images, or three
    of triplets (anchor, positive, negative). All its images go through ``model.get_features``
    in one pass (batch normalisation sees all of them), the embeddings are split back into one
    (B, E) tensor per image tensor, and ``loss = loss_fn(*embeddings, labels)``: e.g.
    ``loss_fn(anchor, positive, negative, labels)`` for triplets. Then the backward pass, the
    optimizer's step and, when given, a step of ``scheduler`` (per batch).

    The progress bar shows the mean loss of the last 100 batches. Returns the epoch's mean loss.
    """
    model.train()
    device = model_device(model)
    losses = []
    with tqdm(loader, desc=desc, unit="batch") as bar:
        for *images, labels in bar:
            features = model.get_features(torch.cat(images).to(device))  # (k B, E)
            loss = loss_fn(*features.split(len(images[0])), torch.as_tensor(labels).to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-100:]):.3f}", refresh=False)
    if not losses:
        raise ValueError("the loader yielded no batch: nothing to train on")
    return float(np.mean(losses))


@torch.no_grad()
def embed(
    model: torch.nn.Module, loader: Iterable[Sequence[Any]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, E) and labels (N,) of everything ``loader`` yields, model in eval mode, on
    the CPU."""
    model.eval()
    device = model_device(model)
    features, labels = [], []
    for batch in loader:
        images, batch_labels = batch[0], torch.as_tensor(batch[-1])
        f = model.get_features(images.to(device))
        if f.shape != (len(images), f.shape[-1]):
            raise ValueError(
                f"get_features returned shape {tuple(f.shape)} for {len(images)} "
                "images; it must return (B, E), also for B = 1"
            )
        features.append(f.float().cpu())
        labels.append(batch_labels.cpu())
    if not features:
        raise ValueError("the loader yielded no batch: nothing to embed")
    return torch.cat(features), torch.cat(labels)


def compute_representations(
    model: torch.nn.Module, loader: Iterable[Sequence[Any]], num_classes: int
) -> torch.Tensor:
    """The representation of each class: the mean of its images' embeddings.

    r_c = mean of f(x) over the images x of class c in ``loader``, not normalised here: the
    course's utilities scale each mean to unit length, which ``nearest_class_mean(...,
    normalize=True)`` does (so both rules can be measured from the same means).

    Returns:
        (num_classes, E) float32 tensor on the CPU.
    """
    features, labels = embed(model, loader)
    missing = sorted(set(range(num_classes)) - set(labels.tolist()))
    if missing:
        raise ValueError(
            f"the loader has no image of class(es) {missing}: compute the class "
            "representations on a split that has every class (e.g. 'traineval')"
        )
    return torch.stack([features[labels == c].mean(dim=0) for c in range(num_classes)])  # (C, E)


def nearest_class_mean(
    features: torch.Tensor, representations: torch.Tensor, *, normalize: bool = False
) -> torch.Tensor:
    """Class of each row of ``features`` (N, E): the representation (C, E) nearest to it.

    ``normalize=False``: raw Euclidean distance, the distance the triplet loss shapes (lengths
    count). ``normalize=True``: the course's rule (its ``compute_representations`` and
    ``evaluate``): means and queries are scaled to unit length first, so only directions count;
    ||a - b||^2 = 2 - 2 cos(a, b) for unit vectors, i.e. the largest cosine similarity wins.
    Returns (N,) int64.
    """
    queries, means = features.float(), representations.float().to(features.device)
    if normalize:
        queries, means = F.normalize(queries, dim=1), F.normalize(means, dim=1)
    return torch.cdist(queries, means).argmin(dim=1)


def class_mean_accuracy(
    model: torch.nn.Module,
    representations: torch.Tensor,
    loader: Iterable[Sequence[Any]],
    *,
    normalize: bool = False,
) -> float:
    """Top-1 accuracy of nearest class-mean classification of the images of ``loader``
    (``normalize``: as in ``nearest_class_mean``)."""
    features, labels = embed(model, loader)
    predicted = nearest_class_mean(features, representations, normalize=normalize)
    return float((predicted == labels).float().mean())


# ----------------------------------------------------------------------------- retrieval


def average_precision(scores: Any, relevant: Any) -> np.ndarray:
    """Average precision of each query (row) of a retrieval.

    Query q ranks the gallery by ``scores[q]`` (higher first); ``relevant[q]`` marks the items it
    should find. With P_q relevant items, AP_q = (1 / P_q) * sum over relevant items j of the
    precision of the ranking cut just after j, where items with equal scores are cut together
    (after the last of them): ``sklearn.metrics.average_precision_score(relevant[q], scores[q])``,
    one query at a time. (Given code computes it with scikit-learn, not by hand: the AP of a
    ranking is a graded task of Lab 0.)

    Args:
        scores: (Q, G) finite real scores.
        relevant: (Q, G) bool or 0/1; every row needs a relevant item.

    Returns:
        (Q,) float64.
    """
    scores, relevant = np.asarray(scores, dtype=np.float64), np.asarray(relevant)
    if scores.ndim != 2 or scores.shape != relevant.shape:
        raise ValueError(
            f"scores {scores.shape} and relevant {relevant.shape} must be two "
            "arrays of one shape (queries, gallery)"
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity: they can't rank the gallery")
    relevant = relevant.astype(bool)
    positives = relevant.sum(axis=1)  # (Q,)
    if not positives.all():
        raise ValueError(
            f"query {int(np.argmin(positives))} has no relevant item in the "
            "gallery: its average precision is undefined"
        )
    return np.array(
        [average_precision_score(r, s) for r, s in zip(relevant, scores)], dtype=np.float64
    )


def retrieval_average_precision(
    queries: torch.Tensor,
    query_labels: Any,
    gallery: torch.Tensor,
    gallery_labels: Any,
    *,
    exclude_self: bool = False,
    chunk: int = 512,
) -> np.ndarray:
    """AP of each query (N_q, E) ranking the gallery (N_g, E) by Euclidean distance, nearest
    first; the relevant items are those with the query's label.

    ``exclude_self``: the queries are the gallery (same rows, same order) and query i leaves item
    i out of its ranking. Queries are processed ``chunk`` at a time to bound memory. Each query
    costs one scikit-learn call, a few ms against 10k items (10k queries: about half a minute).

    Returns:
        (N_q,) float64.
    """
    queries, gallery = torch.as_tensor(queries).double(), torch.as_tensor(gallery).double()
    query_labels, gallery_labels = np.asarray(query_labels), np.asarray(gallery_labels)
    if exclude_self and queries.shape != gallery.shape:
        raise ValueError(
            "exclude_self needs the queries to be the gallery: shapes "
            f"{tuple(queries.shape)} and {tuple(gallery.shape)} differ"
        )
    ap = []
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        scores = -torch.cdist(q, gallery).numpy()  # (n, N_g)
        relevant = query_labels[start : start + chunk, None] == gallery_labels[None, :]
        if exclude_self:
            # ranked strictly last and not relevant: leaves every precision cut as it was
            rows = np.arange(len(q))
            scores[rows, start + rows] = scores.min(axis=1) - 1
            relevant[rows, start + rows] = False
        ap.append(average_precision(scores, relevant))
    return np.concatenate(ap)


def mean_average_precision(*args: Any, **kwargs: Any) -> float:
    """Mean over queries of ``retrieval_average_precision(*args, **kwargs)``."""
    return float(np.mean(retrieval_average_precision(*args, **kwargs)))


# ----------------------------------------------------------------------------- plots


def plot_pca(
    data: Any, labels: Any, *, ax: Axes | None = None, title: str = "", seed: int = 0
) -> Axes:
    """Scatter the first two principal components of ``data`` (N, ...), flattened to (N, D):
    images or embeddings, one colour per class (tab10), with a legend.

    The PCA is scikit-learn's, seeded with ``seed`` (its randomised solver on large data).
    """
    ax = plt.gca() if ax is None else ax
    X = torch.as_tensor(data).detach().cpu().reshape(len(data), -1).double().numpy()  # (N, D)
    labels = np.asarray(labels)
    points = PCA(n_components=2, random_state=seed).fit_transform(X)  # (N, 2)
    colors = plt.get_cmap("tab10")
    for c in np.unique(labels):
        mask = labels == c
        ax.scatter(points[mask, 0], points[mask, 1], s=4, color=colors(int(c) % 10), label=str(c))
    ax.legend(markerscale=3, fontsize="small", loc="best", title="class")
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    return ax
