"""dlcourse.convnets (data preparation, the numpy network, the training plot) and the reference
PyTorch models, training and evaluation (``autograder.reference.lab2``)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, precision_score, recall_score

from autograder.reference import lab2 as ref
from autograder.reference.lab2 import FC, NumpyConvolution, ReLU
from dlcourse import convnets
from dlcourse.layers import Convolution
from dlcourse.net import forward_pass

pytestmark = pytest.mark.lab2


def test_images_become_float_nchw_and_standardised_per_channel():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 4, 5, 3), dtype=np.uint8)
    x = convnets.to_float_images(rgb)
    assert x.shape == (20, 3, 4, 5) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    assert convnets.to_float_images(rgb[..., 0]).shape == (20, 1, 4, 5)
    train, other = convnets.standardize_channels(x[:10], x[10:])
    np.testing.assert_allclose(train.mean(axis=(0, 2, 3)), 0, atol=1e-6)
    np.testing.assert_allclose(train.std(axis=(0, 2, 3)), 1, atol=1e-5)
    assert other.shape == (10, 3, 4, 5)
    train, other = convnets.subtract_mean(x[:10], x[10:])
    assert abs(train.mean()) < 1e-6 and other.mean() == pytest.approx(
        x[10:].mean() - x[:10].mean(), abs=1e-6
    )


def test_the_pytorch_mnist_model_is_the_numpy_network():
    """With the numpy network's parameters, MnistConvNet gives the same logits."""
    np.random.seed(0)
    x = np.random.randn(3, 1, 28, 28)
    net = convnets.numpy_mnist_net(x, FC=FC, ReLU=ReLU)
    for layer in net:
        if layer.has_params:
            layer.bias = np.random.randn(*layer.bias.shape)
    model = ref.MnistConvNet().double()
    with torch.no_grad():
        for name in ("conv1", "conv2", "fc3", "logits"):
            layer = next(l for l in net if l.name == name)
            getattr(model, name).weight.copy_(torch.from_numpy(layer.weights))
            getattr(model, name).bias.copy_(torch.from_numpy(layer.bias))
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(forward_pass(net, x), expected, rtol=1e-9, atol=1e-9)


def test_the_numpy_network_takes_its_graded_layers_from_the_caller():
    """The course gives no FC or ReLU: numpy_mnist_net has no default for them."""
    x = np.zeros((2, 1, 28, 28))
    with pytest.raises(TypeError, match="FC"):
        convnets.numpy_mnist_net(x)
    net = convnets.numpy_mnist_net(x, FC=FC, ReLU=ReLU, Convolution=NumpyConvolution)
    assert [type(layer).__name__ for layer in net].count("NumpyConvolution") == 2
    assert type(convnets.numpy_mnist_net(x, FC=FC, ReLU=ReLU)[0]) is Convolution
    assert sum(isinstance(layer, FC) for layer in net) == 2


@pytest.mark.parametrize(
    "model, shape",
    [(ref.MnistConvNet, (2, 1, 28, 28)), (ref.CifarConvNet, (2, 3, 32, 32))],
)
def test_models_output_logits_and_start_from_kaiming_weights(model, shape):
    torch.manual_seed(0)
    m = model()
    assert m(torch.zeros(shape)).shape == (2, 10)
    assert all(
        float(p.detach().abs().max()) == 0 for n, p in m.named_parameters() if n.endswith("bias")
    )
    assert m.fc3.weight.std().item() == pytest.approx(np.sqrt(2 / m.fc3.in_features), rel=0.05)


class FixedLogits(torch.nn.Module):
    """A 'model' whose logits are given: evaluate's arithmetic is checked alone."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.as_tensor(logits), requires_grad=False)

    def forward(self, x):
        return self.logits[x.long()]


def test_evaluate_derives_everything_from_the_confusion_matrix():
    rng = np.random.default_rng(3)
    logits, y = rng.standard_normal((40, 4)), rng.integers(0, 4, 40)
    result = ref.evaluate(FixedLogits(logits), np.arange(40), y, num_classes=4, batch_size=15)
    predicted = logits.argmax(1)
    np.testing.assert_array_equal(result["confusion"], confusion_matrix(y, predicted))
    assert result["accuracy"] == np.mean(predicted == y)
    for key, score in (("precision", precision_score), ("recall", recall_score)):
        np.testing.assert_allclose(result[key], score(y, predicted, average=None, zero_division=0))
    expected = torch.nn.functional.cross_entropy(torch.as_tensor(logits), torch.as_tensor(y))
    assert result["loss"] == pytest.approx(float(expected))


def test_train_learns_follows_the_schedule_and_records_history(monkeypatch):
    monkeypatch.setenv("DLCOURSE_DEVICE", "cpu")
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = (rng.standard_normal((40, 1, 8, 8)) * 0.1 + y[:, None, None, None]).astype(np.float32)
    torch.manual_seed(0)
    small = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(256, 2),
    )
    history = ref.train(
        small,
        (x, y),
        (x, y),
        epochs=3,
        batch_size=15,
        lr_policy={1: 0.05, 3: 0.01},
        weight_decay=1e-3,
    )
    assert history["lr"] == [0.05, 0.05, 0.01] and len(history["batch_loss"]) == 9
    assert set(history) == set(ref.HISTORY)
    assert history["filters"][0].shape == (4, 1, 3, 3) and history["valid_accuracy"][-1] == 1.0
    assert not np.array_equal(history["filters"][0], history["filters"][-1])
    figure = convnets.plot_training_progress(history, "MNIST")
    assert [ax.get_title() for ax in figure.axes] == ["cross-entropy", "accuracy", "learning rate"]
