"""Random 2D Gaussians: Lab 0's references (instructors only) and the course's mixture sampler."""

import numpy as np
import pytest

from autograder.reference.lab0 import Random2DGaussian, sample_gauss_2d
from dlcourse.data import sample_gmm_2d


def test_random2dgaussian_mean_in_box_and_covariance_valid():
    np.random.seed(0)
    for _ in range(50):
        G = Random2DGaussian()
        assert np.all((G.mean >= 0) & (G.mean <= 10))
        assert G.Sigma.shape == (2, 2)
        np.testing.assert_allclose(G.Sigma, G.Sigma.T, atol=1e-12)
        eig = np.linalg.eigvalsh(G.Sigma)
        assert np.all(eig >= -1e-12) and np.all(eig <= (10 / 5) ** 2 + 1e-9)


def test_random2dgaussian_sample_statistics():
    np.random.seed(1)
    G = Random2DGaussian()
    X = G.get_sample(200_000)
    assert X.shape == (200_000, 2)
    np.testing.assert_allclose(X.mean(axis=0), G.mean, atol=0.05)
    np.testing.assert_allclose(np.cov(X.T), G.Sigma, atol=0.05 * max(1.0, np.abs(G.Sigma).max()))


def test_random2dgaussian_is_reproducible():
    np.random.seed(5)
    a = Random2DGaussian().get_sample(4)
    np.random.seed(5)
    b = Random2DGaussian().get_sample(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, Random2DGaussian().get_sample(4))


@pytest.mark.parametrize("C, N", [(1, 5), (2, 10), (4, 3)])
def test_sample_gauss_2d(C, N):
    np.random.seed(C * 10 + N)
    X, Y_ = sample_gauss_2d(C, N)
    assert X.shape == (C * N, 2) and X.dtype == np.float64
    assert Y_.shape == (C * N,) and np.issubdtype(Y_.dtype, np.integer)
    np.testing.assert_array_equal(Y_, np.repeat(np.arange(C), N))


def test_sample_gauss_2d_classes_come_from_distinct_gaussians():
    np.random.seed(3)
    X, Y_ = sample_gauss_2d(3, 5000)
    means = np.array([X[c == Y_].mean(axis=0) for c in range(3)])
    np.random.seed(3)
    expected = np.array([Random2DGaussian().mean for _ in range(3)])
    np.testing.assert_allclose(means, expected, atol=0.15)


def test_sample_gmm_2d():
    np.random.seed(3)
    X, Y_ = sample_gmm_2d(ncomponents=6, nclasses=2, nsamples=30)
    assert X.shape == (180, 2) and Y_.shape == (180,)
    assert set(np.unique(Y_)) <= {0, 1}
    per_component = Y_.reshape(6, 30)
    assert np.all(per_component == per_component[:, :1])  # one class per component
    assert len(set(per_component[:, 0])) == 2  # with this seed both classes occur


def test_sample_gmm_2d_draws_the_components_lab0_draws():
    """A seed gives the course's usual data: each component is a Random2DGaussian's draw."""
    np.random.seed(7)
    X, Y_ = sample_gmm_2d(ncomponents=3, nclasses=2, nsamples=4)
    np.random.seed(7)
    expected, classes = [], []
    for _ in range(3):
        G = Random2DGaussian()
        expected.append(G)
        classes.append(np.random.randint(2))
    np.testing.assert_allclose(X, np.vstack([G.get_sample(4) for G in expected]), rtol=1e-12)
    np.testing.assert_array_equal(Y_, np.repeat(classes, 4))
