"""The numpy layers Lab 2 gives, with the course's contract (``forward``, ``backward_inputs``,
``backward_params``; see ``dlcourse.layers.base``).

Given: ``Convolution`` (im2col + GEMM, SAME padding, any stride; its backward pass by PyTorch,
because the numpy one is the bonus task), ``MaxPooling``, ``Flatten``, the initialisers, and the
functions ``im2col``/``conv2d``. Students write ``FC``, ``ReLU``,
``SoftmaxCrossEntropyWithLogits``, ``L2Regularizer`` and ``RegularizedLoss`` in the notebook (the
instructors' references: ``autograder.reference.lab2``). ``dlcourse.net`` runs networks of them.
"""

from dlcourse.layers.base import Layer, variance_scaling_initializer, zero_init
from dlcourse.layers.conv import Convolution, conv2d, im2col, same_padding
from dlcourse.layers.flatten import Flatten
from dlcourse.layers.pooling import MaxPooling

__all__ = [
    "Layer",
    "variance_scaling_initializer",
    "zero_init",
    "Convolution",
    "conv2d",
    "im2col",
    "same_padding",
    "Flatten",
    "MaxPooling",
]
