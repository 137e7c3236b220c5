"""dlcourse.layers (given) and Lab 2's references (``autograder.reference.lab2``: the graded
layers and losses, the numpy convolution backward): every layer's forward, backward_inputs and
backward_params against PyTorch autograd in float64 with a random upstream gradient (the oracle
runs on CUDA too, where present)."""

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.reference.lab2 import (
    FC,
    L2Regularizer,
    NumpyConvolution,
    RegularizedLoss,
    ReLU,
    SoftmaxCrossEntropyWithLogits,
    col2im,
    conv_backward,
)
from dlcourse import layers
from dlcourse.check import autograd_reference, numerical_gradient, upstream_gradient
from dlcourse.data.onehot import class_to_onehot
from dlcourse.layers import Convolution, Flatten, MaxPooling, conv2d, im2col, same_padding

pytestmark = pytest.mark.lab2

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
        ],
    ),
]


def torch_conv(x, weights, bias, *, stride):
    """SAME padding as TensorFlow: the odd pixel of padding goes after (bottom, right)."""
    (top, bottom), (left, right) = (same_padding(n, weights.shape[-1], stride) for n in x.shape[2:])
    return F.conv2d(F.pad(x, (left, right, top, bottom)), weights, bias, stride=stride)


def backward(layer, x, seed):
    """(y, dL/dx, [dL/dparam, ...]) of the layer for a random upstream gradient."""
    y = layer.forward(x)
    g = upstream_gradient(y.shape, seed)
    grad_x = layer.backward_inputs(g)
    params = layer.backward_params(g)[:-1] if layer.has_params else []
    return y, g, grad_x, [grad for _, grad in params]


def assert_close(mine, expected):
    np.testing.assert_allclose(mine, expected, rtol=1e-10, atol=1e-12)


# (N, C, H, W, filters, kernel, stride): odd and even kernels, strides that divide H and don't
CONV_CASES = [
    (2, 3, 7, 6, 4, 3, 1),
    (2, 3, 7, 6, 4, 3, 2),
    (2, 2, 8, 9, 3, 4, 3),
    (1, 1, 5, 5, 2, 1, 2),
    (3, 2, 6, 6, 3, 5, 1),
    (2, 1, 28, 28, 4, 5, 1),
    (1, 2, 4, 4, 2, 5, 1),
    (2, 2, 9, 7, 3, 2, 1),
]


@pytest.mark.parametrize("layer", [Convolution, NumpyConvolution])  # given, and numpy backward
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("N, C, H, W, filters, k, stride", CONV_CASES)
def test_convolution_matches_autograd(N, C, H, W, filters, k, stride, device, layer):
    rng = np.random.default_rng(N * 1000 + H * 10 + k)
    x = rng.standard_normal((N, C, H, W))
    conv = layer(x, filters, k, "conv", stride=stride)
    conv.bias = rng.standard_normal(filters)  # zero-initialised: make the bias count
    y, g, grad_x, (grad_w, grad_b) = backward(conv, x, seed=1)
    expected, grads = autograd_reference(
        lambda x, w, b: torch_conv(x, w, b, stride=stride),
        dict(x=x, w=conv.weights, b=conv.bias),
        ["x", "w", "b"],
        grad_out=g,
        device=device,
    )
    assert y.shape == conv.shape == (N, filters, -(-H // stride), -(-W // stride))
    assert_close(y, expected)
    assert_close(grad_x, grads["x"])
    assert_close(grad_w, grads["w"])
    assert_close(grad_b, grads["b"])


def test_convolution_parameters_and_initialisation():
    np.random.seed(0)
    x = np.zeros((50, 16, 14, 14))
    conv = Convolution(x, 32, 5, "conv2")
    assert conv.weights.shape == (32, 16, 5, 5) and conv.bias.shape == (32,)
    assert conv.has_params and conv.name == "conv2"
    assert np.all(conv.bias == 0)
    assert conv.weights.std() == pytest.approx(np.sqrt(2 / (16 * 25)), rel=0.05)  # He: 2 / fan_in


def test_im2col_columns_are_patches_and_col2im_is_its_adjoint():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 4))
    cols = im2col(x, 3, stride=2)  # H' = 3, W' = 2
    assert cols.shape == (3 * 9, 2 * 3 * 2)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 1)))  # W: 1 pixel missing, padded after
    n, i, j = 1, 2, 1  # column (i, j, n) is the patch under output pixel (i, j) of image n
    np.testing.assert_array_equal(
        cols[:, (i * 2 + j) * 2 + n], padded[n, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].reshape(-1)
    )
    # <im2col(x), c> = <x, col2im(c)> for every x and c: col2im is im2col's transpose
    c = rng.standard_normal(cols.shape)
    assert np.sum(cols * c) == pytest.approx(np.sum(x * col2im(c, x.shape, 3, stride=2)), rel=1e-12)


@pytest.mark.parametrize(
    "N, C, H, W, filters, k", [(2, 3, 6, 7, 4, 5), (1, 2, 4, 3, 3, 1), (3, 1, 5, 5, 2, 3)]
)
def test_conv_backward_is_the_layers_backward(N, C, H, W, filters, k):
    """The bonus's reference gives what the given layer's (PyTorch) backward pass gives."""
    rng = np.random.default_rng(k)
    x, g = rng.standard_normal((N, C, H, W)), rng.standard_normal((N, filters, H, W))
    conv = Convolution(x, filters, k, "c")
    conv.forward(x)
    (_, grad_w), (_, grad_b), _ = conv.backward_params(g)
    for mine, expected in zip(
        conv_backward(x, conv.weights, g), (conv.backward_inputs(g), grad_w, grad_b)
    ):
        assert_close(mine, expected)


def test_float32_stays_float32():
    """The benchmark runs the given layer in float32: its torch backward keeps the dtype."""
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    conv = Convolution(x, 4, 3, "c")
    conv.weights = conv.weights.astype(np.float32)
    y = conv.forward(x)
    (_, grad_w), _, _ = conv.backward_params(np.ones_like(y))
    assert y.dtype == conv.backward_inputs(np.ones_like(y)).dtype == grad_w.dtype == np.float32


def test_the_given_layers_hold_no_graded_answer():
    """FC, ReLU, the losses and the numpy convolution backward are the student's: not given."""
    for name in (
        "FC",
        "ReLU",
        "SoftmaxCrossEntropyWithLogits",
        "L2Regularizer",
        "RegularizedLoss",
        "log_softmax",
        "col2im",
    ):
        assert not hasattr(layers, name), name


@pytest.mark.parametrize("layer", [Convolution, MaxPooling, Flatten, NumpyConvolution, FC, ReLU])
def test_layers_name_their_arguments_as_the_contract(layer):
    """``forward(x)``, ``backward_inputs(grad_out)``, ``backward_params(grad_out)``, as the base
    class and the notebook say (the checks pass arguments by position, so students may differ)."""
    for method, argument in (
        ("forward", "x"),
        ("backward_inputs", "grad_out"),
        ("backward_params", "grad_out"),
    ):
        assert list(inspect.signature(getattr(layer, method)).parameters) == ["self", argument]


def test_conv2d_is_the_layers_forward():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    conv = Convolution(x, 4, 3, "c", stride=2)
    conv.weights, conv.bias = w, b
    np.testing.assert_array_equal(conv2d(x, w, b, stride=2), conv.forward(x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "shape, pool, stride",
    [((2, 3, 8, 8), 2, 2), ((2, 2, 15, 14), 3, 2), ((1, 2, 7, 9), 3, 1), ((2, 1, 9, 9), 2, 3)],
)
def test_max_pooling_matches_autograd(shape, pool, stride, device):
    x = np.random.default_rng(sum(shape)).standard_normal(shape)  # no ties: one maximum per window
    layer = MaxPooling(x, "pool", pool_size=pool, stride=stride)
    y, g, grad_x, _ = backward(layer, x, seed=2)
    expected, grads = autograd_reference(
        lambda x: F.max_pool2d(x, pool, stride), dict(x=x), ["x"], grad_out=g, device=device
    )
    assert y.shape == layer.shape == expected.shape and not layer.has_params
    assert_close(y, expected)
    assert_close(grad_x, grads["x"])


def test_max_pooling_gradient_goes_to_the_first_maximum_of_a_tie():
    x = np.zeros((1, 1, 2, 2))  # after a ReLU, ties at 0 are common
    layer = MaxPooling(x, "pool")
    layer.forward(x)
    np.testing.assert_array_equal(
        layer.backward_inputs(np.ones((1, 1, 1, 1))), [[[[1.0, 0.0], [0.0, 0.0]]]]
    )


@pytest.mark.parametrize("device", DEVICES)
def test_fc_relu_flatten_match_autograd(device):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 2, 3, 3))
    flat = Flatten(x, "flatten")
    fc = FC(flat, 5, "fc")
    fc.bias = rng.standard_normal(5)
    relu = ReLU(fc, "relu")
    h = flat.forward(x)
    y, g, grad_h, (grad_w, grad_b) = backward(fc, h, seed=3)
    expected, grads = autograd_reference(
        lambda x, w, b: x.flatten(1) @ w.T + b,
        dict(x=x, w=fc.weights, b=fc.bias),
        ["x", "w", "b"],
        grad_out=g,
        device=device,
    )
    assert flat.shape == (4, 18) and fc.shape == (4, 5) and fc.weights.shape == (5, 18)
    assert_close(y, expected)
    assert_close(flat.backward_inputs(grad_h), grads["x"])
    assert_close(grad_w, grads["w"])
    assert_close(grad_b, grads["b"])
    z, g, grad_z, _ = backward(relu, y, seed=4)
    expected, grads = autograd_reference(
        torch.relu, dict(input=y), ["input"], grad_out=g, device=device
    )
    assert_close(z, expected)
    assert_close(grad_z, grads["input"])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("scale", [1.0, 1000.0])  # large logits: a naive exp overflows
def test_softmax_cross_entropy_matches_autograd(scale, device):
    rng = np.random.default_rng(6)
    x, y = scale * rng.standard_normal((7, 4)), class_to_onehot(rng.integers(0, 4, 7), 4)
    loss = SoftmaxCrossEntropyWithLogits()
    expected, grads = autograd_reference(
        lambda x, y: F.cross_entropy(x, y.argmax(1)), dict(x=x, y=y), ["x"], device=device
    )
    assert loss.forward(x, y) == pytest.approx(float(expected), rel=1e-12)
    assert_close(loss.backward_inputs(x, y), grads["x"])


@pytest.mark.parametrize("device", DEVICES)
def test_regularized_loss_matches_autograd(device):
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((5, 3)), class_to_onehot(rng.integers(0, 3, 5), 3)
    W1, W2 = rng.standard_normal((3, 4)), rng.standard_normal((2, 2, 3, 3))
    loss = RegularizedLoss(
        SoftmaxCrossEntropyWithLogits(),
        [L2Regularizer(W1, 1e-2, "l2_fc"), L2Regularizer(W2, 0.3, "l2_conv")],
    )
    expected, grads = autograd_reference(
        lambda x, y, W1, W2: F.cross_entropy(x, y.argmax(1))
        + 1e-2 / 2 * (W1**2).sum()
        + 0.3 / 2 * (W2**2).sum(),
        dict(x=x, y=y, W1=W1, W2=W2),
        ["x", "W1", "W2"],
        device=device,
    )
    assert loss.forward(x, y) == pytest.approx(float(expected), rel=1e-12)
    assert_close(loss.backward_inputs(x, y), grads["x"])
    (pair1, name1), (pair2, name2) = loss.backward_params()
    assert (name1, name2) == ("l2_fc", "l2_conv") and pair1[0] is W1 and pair2[0] is W2
    assert_close(pair1[1], grads["W1"])
    assert_close(pair2[1], grads["W2"])


def test_whole_network_gradient_matches_central_differences():
    """The layers chained as in the lab's network (small): backprop = central differences."""
    from dlcourse.net import backward_pass, forward_pass

    rng = np.random.default_rng(8)
    np.random.seed(8)
    x, y = rng.standard_normal((2, 1, 8, 8)), class_to_onehot([3, 1], 4)
    net = [Convolution(x, 2, 3, "conv1")]
    net += [MaxPooling(net[-1], "pool1")]
    net += [ReLU(net[-1], "relu1")]
    net += [Flatten(net[-1], "flatten")]
    net += [FC(net[-1], 4, "fc")]
    loss = RegularizedLoss(
        SoftmaxCrossEntropyWithLogits(), [L2Regularizer(net[0].weights, 0.1, "l2")]
    )
    grads = backward_pass(net, loss, forward_pass(net, x), y)
    assert [g[-1] for g in grads] == ["l2", "fc", "conv1"]  # the loss's first, then top-down
    conv_grad = grads[0][0][1] + grads[2][0][1]  # regulariser's + data loss's

    expected = numerical_gradient(lambda w: loss.forward(forward_pass(net, x), y), net[0].weights)
    np.testing.assert_allclose(conv_grad, expected, rtol=1e-6, atol=1e-9)
