"""Data for the labs. Lab 0/1: random 2D Gaussians (``gaussian``).

Import the dataset modules themselves (they load torch): ``dlcourse.data.mnist``, and for Lab 3
``dlcourse.data.sst`` (the SST sentences and GloVe vectors).
"""
from dlcourse.data.gaussian import Random2DGaussian, sample_gauss_2d, sample_gmm_2d

__all__ = ["Random2DGaussian", "sample_gauss_2d", "sample_gmm_2d"]
