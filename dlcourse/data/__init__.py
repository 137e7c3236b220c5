"""Data for the labs. Lab 1: random 2D Gaussian mixtures (``gaussian.sample_gmm_2d``).

Lab 0's ``Random2DGaussian`` and ``sample_gauss_2d`` are yours to write (their references are the
instructors'). Import the dataset modules themselves (they load torch): ``dlcourse.data.mnist``,
and for Lab 3 ``dlcourse.data.sst`` (the SST sentences and GloVe vectors).
"""

from dlcourse.data.gaussian import sample_gmm_2d

__all__ = ["sample_gmm_2d"]
