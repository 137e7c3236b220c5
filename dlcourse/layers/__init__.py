"""Numpy layers of Lab 2 with the course's contract (``forward``, ``backward_inputs``,
``backward_params``; see ``dlcourse.layers.base``).

Given to students: ``Convolution`` (im2col + GEMM, SAME padding, any stride), ``MaxPooling``,
``Flatten``, the initialisers, and the functions ``im2col``/``conv2d``. Students write ``FC``,
``ReLU``, ``SoftmaxCrossEntropyWithLogits``, ``L2Regularizer`` and ``RegularizedLoss``
themselves; the references here serve tests, checks and benchmarks (a graded check refuses them
as a submission). ``dlcourse.net`` runs networks built from these layers.
"""
from dlcourse.layers.base import Layer, variance_scaling_initializer, zero_init
from dlcourse.layers.conv import Convolution, col2im, conv2d, im2col, same_padding
from dlcourse.layers.dense import FC, Flatten, ReLU
from dlcourse.layers.losses import (L2Regularizer, RegularizedLoss, SoftmaxCrossEntropyWithLogits,
                                    log_softmax)
from dlcourse.layers.pooling import MaxPooling

__all__ = ["Layer", "variance_scaling_initializer", "zero_init", "Convolution", "col2im", "conv2d",
           "im2col", "same_padding", "FC", "Flatten", "ReLU", "L2Regularizer", "RegularizedLoss",
           "SoftmaxCrossEntropyWithLogits", "log_softmax", "MaxPooling"]
