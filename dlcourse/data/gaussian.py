"""Random 2D Gaussian data: the course's reference generators (students write their own in Lab 0).

All randomness comes from ``np.random``, so ``np.random.seed(s)`` makes every call reproducible.
"""
from __future__ import annotations

import numpy as np


class Random2DGaussian:
    """A 2D Gaussian with a random mean in the box [minx, maxx] x [miny, maxy] and a random covariance.

    The covariance is Sigma = R^T diag(eig) R with eigenvalues
    eig_i = (u_i * range_i / 5)^2, u_i ~ U[0, 1), range = (maxx - minx, maxy - miny),
    and R the rotation by an angle drawn uniformly from [0, 2 pi).

    Attributes:
        mean: (2,) mean.
        Sigma: (2, 2) symmetric positive semi-definite covariance.
    """

    minx = 0
    maxx = 10
    miny = 0
    maxy = 10

    def __init__(self) -> None:
        dx, dy = self.maxx - self.minx, self.maxy - self.miny
        self.mean = (self.minx, self.miny) + np.random.random_sample(2) * (dx, dy)  # (2,)
        eigvals = (np.random.random_sample(2) * (dx, dy) / 5) ** 2  # (2,)
        theta = np.random.random_sample() * np.pi * 2
        R = np.array([[np.cos(theta), -np.sin(theta)],
                      [np.sin(theta), np.cos(theta)]])  # (2, 2)
        self.Sigma = R.T @ np.diag(eigvals) @ R  # (2, 2)

    def get_sample(self, n: int) -> np.ndarray:
        """n samples from the Gaussian: returns X of shape (n, 2)."""
        return np.random.multivariate_normal(self.mean, self.Sigma, n)


def sample_gauss_2d(C: int, N: int) -> tuple[np.ndarray, np.ndarray]:
    """N samples from each of C random Gaussians; class i is the i-th Gaussian.

    Returns:
        X: (C*N, 2) float64 samples, grouped by class.
        Y_: (C*N,) int class labels in 0..C-1.
    """
    Gs = [Random2DGaussian() for _ in range(C)]
    X = np.vstack([G.get_sample(N) for G in Gs])  # (C*N, 2)
    Y_ = np.repeat(np.arange(C), N)  # (C*N,)
    return X, Y_


def sample_gmm_2d(ncomponents: int, nclasses: int, nsamples: int) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian mixture: ncomponents random Gaussians, each assigned a random class.

    Each component gives nsamples points labelled with its class, so a class can own several
    components (or none) and the classes need not be linearly separable (Lab 1).

    Returns:
        X: (ncomponents*nsamples, 2) float64 samples, grouped by component.
        Y_: (ncomponents*nsamples,) int class labels in 0..nclasses-1.
    """
    Gs, classes = [], []
    for _ in range(ncomponents):  # draws interleaved as in the original FER lab code
        Gs.append(Random2DGaussian())
        classes.append(np.random.randint(nclasses))
    X = np.vstack([G.get_sample(nsamples) for G in Gs])  # (ncomponents*nsamples, 2)
    Y_ = np.repeat(classes, nsamples)  # (ncomponents*nsamples,)
    return X, Y_
