"""Plots (matplotlib): 2D classification problems (data points and a classifier's surface) and,
for the convolutional labs, grids of images and of first-layer filters.

Typical use, after the FER lab code::

    rect = (X.min(axis=0), X.max(axis=0))
    ax = graph_surface(lambda G: binlogreg_classify(G, w, b), rect, offset=0.5)
    graph_data(X, Y_, Y, ax=ax)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

_GREYS = ([0.5, 0.5, 0.5], [1.0, 1.0, 1.0])  # class 0, class 1


def graph_data(
    X: np.ndarray,
    Y_: np.ndarray,
    Y: np.ndarray,
    special: Sequence[int] = (),
    ax: Axes | None = None,
) -> Axes:
    """Scatter 2D points coloured by true class, with wrongly classified points as squares.

    Two classes are drawn in grey levels, more with a colormap. Correct points (Y == Y_) are
    circles, wrong ones squares; points whose indices are in ``special`` (e.g. support vectors)
    are drawn larger.

    Args:
        X: (N, 2) points.
        Y_: (N,) true class indices.
        Y: (N,) predicted class indices.
        special: indices of points to emphasise.
        ax: Axes to draw on (default: the current one).

    Returns:
        The Axes.
    """
    ax = plt.gca() if ax is None else ax
    X, Y_, Y = np.asarray(X), np.asarray(Y_, dtype=int), np.asarray(Y, dtype=int)
    C = int(Y_.max()) + 1 if len(Y_) else 0
    if C <= 2:
        colors = np.array(_GREYS)[Y_]  # (N, 3)
    elif C <= 10:
        colors = plt.get_cmap("tab10")(Y_)  # (N, 4); an int picks the i-th listed colour
    else:
        colors = plt.get_cmap("viridis")(Y_ / (C - 1))  # (N, 4)
    sizes = np.full(len(Y_), 20.0)
    sizes[list(special)] = 40.0
    for mask, marker in ((Y == Y_, "o"), (Y != Y_, "s")):
        ax.scatter(
            X[mask, 0], X[mask, 1], c=colors[mask], s=sizes[mask], marker=marker, edgecolors="black"
        )
    return ax


def graph_surface(
    function: Callable[[np.ndarray], np.ndarray],
    rect,
    offset: float | None = 0.5,
    width: int = 256,
    height: int = 256,
    ax: Axes | None = None,
) -> Axes:
    """Draw a scalar function of 2D points as a colour mesh, with its level curve at ``offset``.

    The colour range is centred on ``offset`` (symmetric around it), so the decision boundary sits
    in the middle of the colormap. ``offset=None`` centres on 0 and draws no level curve.

    Args:
        function: maps an (M, 2) array of points to (M,) values, e.g. P(Y=1|x).
        rect: ((xmin, ymin), (xmax, ymax)), the area to draw.
        offset: the decision level, e.g. 0.5 for a probability, 0 for a score.
        width, height: grid resolution along x and y.
        ax: Axes to draw on (default: the current one).

    Returns:
        The Axes.
    """
    ax = plt.gca() if ax is None else ax
    (xmin, ymin), (xmax, ymax) = rect
    xx, yy = np.meshgrid(np.linspace(xmin, xmax, width), np.linspace(ymin, ymax, height))  # (H, W)
    grid = np.stack((xx.ravel(), yy.ravel()), axis=1)  # (H*W, 2)
    values = np.asarray(function(grid), dtype=np.float64).reshape(height, width)  # (H, W)
    centre = 0.0 if offset is None else offset
    half = max(np.max(values) - centre, centre - np.min(values), 1e-12)
    ax.pcolormesh(xx, yy, values, vmin=centre - half, vmax=centre + half, shading="auto")
    if offset is not None and values.min() < offset < values.max():  # else there is no curve
        ax.contour(xx, yy, values, colors="black", levels=[offset])
    return ax


def image_grid(
    images: np.ndarray, titles: Sequence[str] = (), ncols: int = 8, scale: float = 1.6
) -> plt.Figure:
    """A figure of images, ``ncols`` per row, each with its title (if given).

    Args:
        images: (N, H, W) grey or (N, H, W, 3) RGB, uint8 or floats (each image is scaled to
            [0, 1] on its own, so filters and standardised inputs show their pattern).
        titles: up to N titles, small font.
    """
    images = np.asarray(images)
    nrows = max(1, -(-len(images) // ncols))
    title_lines = max((title.count("\n") + 1 for title in titles), default=0)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(scale * ncols, nrows * (scale + 0.15 * title_lines)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        image = images[i].astype(np.float64)
        image = (image - image.min()) / max(np.ptp(image), 1e-12)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        if i < len(titles):
            ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def filter_grid(weights: np.ndarray, title: str = "", ncols: int = 8) -> plt.Figure:
    """First-layer filters (F, C, k, k) as images: grey for C = 1, RGB for C = 3."""
    weights = np.asarray(weights)
    images = weights[:, 0] if weights.shape[1] == 1 else weights.transpose(0, 2, 3, 1)
    fig = image_grid(images, ncols=ncols, scale=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
    return fig
