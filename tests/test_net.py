"""dlcourse.net: running numpy networks (forward, backward, SGD, training, evaluation, summary),
here with Lab 2's reference FC, ReLU and losses standing in for a student's."""

import numpy as np
import pytest

from autograder.reference.lab2 import (
    FC,
    L2Regularizer,
    RegularizedLoss,
    ReLU,
    SoftmaxCrossEntropyWithLogits,
)
from dlcourse import convnets
from dlcourse.net import backward_pass, evaluate, forward_pass, sgd_update, summary, train

pytestmark = pytest.mark.lab2


def blobs(n=60, seed=0):
    """Three well separated classes in 2-D, one-hot labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    x = 3 * np.eye(3)[labels][:, :2] + 0.3 * rng.standard_normal((n, 2))
    return x, np.eye(3)[labels]


def small_net(x):
    np.random.seed(0)
    net = [FC(x, 8, "fc1")]
    net += [ReLU(net[-1], "relu1")]
    net += [FC(net[-1], 3, "logits")]
    return net


def test_sgd_update_changes_parameters_in_place_and_checks_shapes():
    W = np.ones((2, 3))
    sgd_update([[[W, np.full((2, 3), 2.0)], "fc"]], lr=0.5)
    np.testing.assert_array_equal(W, np.zeros((2, 3)))
    with pytest.raises(
        ValueError, match=r"fc: a gradient has shape \(3, 2\) but its parameter \(2, 3\)"
    ):
        sgd_update([[[W, np.ones((3, 2))], "fc"]], lr=0.1)


def test_backward_pass_skips_the_input_gradient_of_the_first_layer():
    x, y = blobs(6)
    net = small_net(x)
    calls = []
    original = net[0].backward_inputs
    net[0].backward_inputs = lambda g: calls.append(g) or original(g)
    loss = RegularizedLoss(
        SoftmaxCrossEntropyWithLogits(), [L2Regularizer(net[0].weights, 0.1, "l2")]
    )
    grads = backward_pass(net, loss, forward_pass(net, x), y)
    assert calls == [] and [g[-1] for g in grads] == ["l2", "logits", "fc1"]


def test_train_follows_the_lr_policy_and_learns():
    x, y = blobs()
    net = small_net(x)
    loss = SoftmaxCrossEntropyWithLogits()
    config = dict(max_epochs=3, batch_size=10, lr_policy={1: {"lr": 0.5}, 3: {"lr": 0.05}})
    np.random.seed(1)
    history = train(x, y, x, y, net, loss, config)
    assert history["lr"] == [0.5, 0.5, 0.05] and len(history["batch_loss"]) == 18
    assert len(history["seconds"]) == 3 and all(s > 0 for s in history["seconds"])
    assert (
        history["train_loss"][-1] < history["train_loss"][0]
        and history["valid_accuracy"][-1] == 1.0
    )


def test_train_rejects_a_batch_size_that_does_not_divide_the_data():
    x, y = blobs(10)
    with pytest.raises(ValueError, match="10 examples do not split into batches of 3"):
        train(
            x,
            y,
            x,
            y,
            small_net(x),
            SoftmaxCrossEntropyWithLogits(),
            dict(max_epochs=1, batch_size=3, lr_policy={1: {"lr": 0.1}}),
        )
    with pytest.raises(ValueError, match="needs a learning rate for epoch 1"):
        train(
            x,
            y,
            x,
            y,
            small_net(x),
            SoftmaxCrossEntropyWithLogits(),
            dict(max_epochs=1, batch_size=5, lr_policy={2: {"lr": 0.1}}),
        )


def test_evaluate_averages_over_examples_with_a_smaller_last_batch(capsys):
    x, y = blobs(7)
    net, loss = small_net(x), SoftmaxCrossEntropyWithLogits()
    logits = forward_pass(net, x)
    mean_loss, accuracy = evaluate("Test", x, y, net, loss, dict(batch_size=4))
    assert mean_loss == pytest.approx(loss.forward(logits, y))
    assert accuracy == np.mean(logits.argmax(1) == y.argmax(1))
    assert capsys.readouterr().out.startswith("Test: loss ")


def test_summary_of_the_mnist_network():
    rows = summary(convnets.numpy_mnist_net(np.zeros((50, 1, 28, 28)), FC=FC, ReLU=ReLU))
    by_name = {row["name"]: row for row in rows}
    assert [by_name[n]["params"] for n in ("conv1", "conv2", "fc3", "logits")] == [
        416,
        12832,
        803328,
        5130,
    ]
    assert [by_name[n]["receptive_field"] for n in ("conv1", "pool1", "conv2", "pool2")] == [
        5,
        6,
        14,
        16,
    ]
    assert by_name["flatten3"]["shape"] == (50, 1568) and by_name["fc3"]["receptive_field"] is None
    assert by_name["conv1"]["output_bytes"] == 50 * 16 * 28 * 28 * 8
