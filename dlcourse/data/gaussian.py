"""Random 2D Gaussian mixtures: Lab 1's data (given; Lab 0's ``Random2DGaussian`` is yours).

All randomness comes from ``np.random``, so ``np.random.seed(s)`` makes every call reproducible.
A component draws what Lab 0's ``Random2DGaussian`` draws, in the same order (the original FER lab
code builds the mixture from it), so a seed gives the course's usual data sets. Lab 0's checks
refuse ``sample_gmm_2d`` inside your ``Random2DGaussian`` or ``sample_gauss_2d``.
"""

from __future__ import annotations

import numpy as np

_BOX = np.array([10.0, 10.0])
"""Component means are uniform in [0, 10]^2."""


def sample_gmm_2d(ncomponents: int, nclasses: int, nsamples: int) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian mixture: ncomponents random Gaussians, each assigned a random class.

    Each component gives nsamples points labelled with its class, so a class can own several
    components (or none) and the classes need not be linearly separable (Lab 1). A component has a
    uniform random mean in [0, 10]^2 and the covariance R^T diag(eig) R, eig_i = (u_i * 10 / 5)^2
    with u_i ~ U[0, 1) and R a rotation by a uniform random angle.

    Returns:
        X: (ncomponents*nsamples, 2) float64 samples, grouped by component.
        Y_: (ncomponents*nsamples,) int class labels in 0..nclasses-1.
    """
    components, classes = [], []
    for _ in range(ncomponents):  # draws interleaved as in the original FER lab code
        mean = np.random.random_sample(2) * _BOX  # (2,)
        scale = np.random.random_sample(2) * _BOX / 5  # (2,) standard deviations along the axes
        angle = 2 * np.pi * np.random.random_sample()
        cos, sin = np.cos(angle), np.sin(angle)
        rotation = np.array([[cos, -sin], [sin, cos]])  # (2, 2)
        components.append((mean, rotation.T @ np.diag(scale**2) @ rotation))
        classes.append(np.random.randint(nclasses))
    X = np.vstack([np.random.multivariate_normal(m, cov, nsamples) for m, cov in components])
    Y_ = np.repeat(classes, nsamples)  # (ncomponents*nsamples,)
    return X, Y_
