"""dlcourse.tasks.lab2: every check gives full points to a correct submission and takes exactly
the broken quantities' points from realistic wrong ones; the visible checks work without the
instructors' references too (the student handout)."""

import sys

import numpy as np
import pytest
import torch
from torch import nn

from autograder.reference import lab2 as ref
from dlcourse import reference
from dlcourse.check import numerical_gradient
from dlcourse.layers import Convolution, im2col, variance_scaling_initializer, zero_init
from dlcourse.tasks import lab2
from dlcourse.tasks.lab2 import TASKS

from .task_harness import TaskChecks, failing, run_cases

pytestmark = pytest.mark.lab2


# ----------------------------------------------------------------------------- a correct submission


class FC:
    def __init__(
        self,
        input_layer,
        num_outputs,
        name,
        weights_initializer_fn=variance_scaling_initializer,
        bias_initializer_fn=zero_init,
    ):
        self.N, num_inputs = input_layer.shape[0], int(np.prod(input_layer.shape[1:]))
        self.shape = (self.N, num_outputs)
        self.weights = weights_initializer_fn([num_outputs, num_inputs], fan_in=num_inputs)
        self.bias = bias_initializer_fn([num_outputs])
        self.name, self.has_params = name, True

    def forward(self, x):
        self.x = x
        return x @ self.weights.T + self.bias

    def backward_inputs(self, grad_out):
        return grad_out @ self.weights

    def backward_params(self, grad_out):
        return [[self.weights, grad_out.T @ self.x], [self.bias, grad_out.sum(0)], self.name]


class ReLU:
    has_params = False

    def __init__(self, input_layer, name):
        self.shape, self.name = input_layer.shape, name

    def forward(self, x):
        self.x = x
        return np.maximum(0, x)

    def backward_inputs(self, grad_out):
        return grad_out * (self.x > 0)


class SoftmaxCrossEntropyWithLogits:
    has_params = False

    def forward(self, x, y):
        z = x - x.max(axis=1, keepdims=True)
        return -np.mean(np.sum(y * (z - np.log(np.exp(z).sum(axis=1, keepdims=True))), axis=1))

    def backward_inputs(self, x, y):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True) - y) / len(x)


class L2Regularizer:
    def __init__(self, weights, weight_decay, name):
        self.weights, self.weight_decay, self.name = weights, weight_decay, name

    def forward(self):
        return 0.5 * self.weight_decay * np.sum(self.weights**2)

    def backward_params(self):
        return [[self.weights, self.weight_decay * self.weights], self.name]


class RegularizedLoss:
    has_params = True

    def __init__(self, data_loss, regularizer_losses):
        self.data_loss, self.regularizer_losses = data_loss, regularizer_losses

    def forward(self, x, y):
        return self.data_loss.forward(x, y) + sum(r.forward() for r in self.regularizer_losses)

    def backward_inputs(self, x, y):
        return self.data_loss.backward_inputs(x, y)

    def backward_params(self):
        return [r.backward_params() for r in self.regularizer_losses]


def conv_backward(x, weights, grad_out):
    F, C, k, _ = weights.shape
    N, _, H, W = x.shape
    pad = (k - 1) // 2
    flipped = weights[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, F, k, k)
    padded = np.pad(grad_out, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    grad_x = np.zeros_like(x)
    for i in range(k):
        for j in range(k):
            window = padded[:, :, i : i + H, j : j + W]  # (N, F, H, W)
            grad_x += np.einsum("nfhw,cf->nchw", window, flipped[:, :, i, j])
    grad_y = grad_out.transpose(1, 2, 3, 0).reshape(F, -1)  # (F, H W N)
    grad_w = (grad_y @ im2col(x, k).T).reshape(weights.shape)
    return grad_x, grad_w, grad_out.sum(axis=(0, 2, 3))


def multiclass_hinge_loss(logits, target, delta=1.0):
    correct = logits[torch.arange(len(logits)), target][:, None]
    margins = torch.clamp(logits - correct + delta, min=0)
    mask = torch.nn.functional.one_hot(target, logits.shape[1]).bool()
    return margins.masked_fill(mask, 0).sum(dim=1).mean()


# ----------------------------------------------------------------------------- PyTorch tasks


class MnistNet(nn.Module):
    """Sequential blocks and other names than the reference's: only shapes and values count."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding="same"),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(16, 32, 5, padding="same"),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(32 * 7 * 7, 512), nn.ReLU(), nn.Linear(512, num_classes)
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class CifarNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 16, 5, padding=2), nn.Conv2d(16, 32, 5, padding=2)
        self.fc1, self.fc2 = nn.Linear(1568, 256), nn.Linear(256, 128)
        self.fc_logits = nn.Linear(128, num_classes)

    def forward(self, x):
        h = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 3, 2)
        h = nn.functional.max_pool2d(torch.relu(self.conv2(h)), 3, 2)
        h = torch.relu(self.fc2(torch.relu(self.fc1(h.flatten(1)))))
        return self.fc_logits(h)


def learning_rate(epoch, lr_policy):
    return lr_policy[max(e for e in lr_policy if e <= epoch)]


def train_epoch(model, x, y, *, lr, weight_decay, batch_size):
    model.train()
    losses = []
    for start in range(0, len(x), batch_size):
        loss = nn.functional.cross_entropy(
            model(x[start : start + batch_size]), y[start : start + batch_size]
        )
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * (p.grad + (weight_decay * p if p.dim() > 1 else 0))
        losses.append(loss.item())
    return losses


def evaluate(model, x, y, num_classes):
    training = model.training
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.as_tensor(x[i : i + 7])) for i in range(0, len(x), 7)])
    model.train(training)
    predicted = logits.argmax(1).numpy()
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    for t, p in zip(y, predicted):
        confusion[t, p] += 1
    diagonal = np.diag(confusion)
    with np.errstate(invalid="ignore"):
        precision = np.nan_to_num(diagonal / confusion.sum(0))
        recall = np.nan_to_num(diagonal / confusion.sum(1))
    return dict(
        loss=nn.functional.cross_entropy(logits, torch.as_tensor(y)).item(),
        confusion=confusion,
        accuracy=diagonal.sum() / len(y),
        precision=precision,
        recall=recall,
    )


def worst_k(logits, y, k=20):
    probabilities = torch.softmax(torch.as_tensor(logits), 1).numpy()
    true = probabilities[np.arange(len(y)), y]
    wrong = np.flatnonzero(probabilities.argmax(1) != y)
    worst = wrong[np.argsort(true[wrong])][:k]
    return worst, torch.topk(torch.as_tensor(logits[worst]), 3).indices.numpy()


# task -> (check, cases as in a graded cell: visible and "hidden", correct submission)
CASES = {
    "fc": (lab2.check_fc, [dict(seed=1, N=3, D=4, M=2), dict(seed=1201, N=7, D=5, M=5)], FC),
    "relu": (
        lab2.check_relu,
        [dict(seed=1, shape=(3, 4)), dict(seed=1211, shape=(2, 3, 4, 4))],
        ReLU,
    ),
    "softmax_cross_entropy_with_logits": (
        lab2.check_softmax_cross_entropy_with_logits,
        [dict(seed=1, N=4, C=3), dict(seed=1221, N=9, C=10, scale=3.0)],
        SoftmaxCrossEntropyWithLogits,
    ),
    "l2_regularizer": (
        lab2.check_l2_regularizer,
        [
            dict(seed=1, shape=(3, 2), weight_decay=0.1),
            dict(seed=1231, shape=(2, 1, 3, 3), weight_decay=1e-3),
        ],
        L2Regularizer,
    ),
    "regularized_loss": (
        lab2.check_regularized_loss,
        [
            dict(seed=1, N=4, C=3, shapes=[(3, 2)], weight_decays=[0.1]),
            dict(seed=1241, N=6, C=5, shapes=[(2, 1, 3, 3), (5, 4)], weight_decays=[1e-2, 0.5]),
        ],
        RegularizedLoss,
    ),
    "mnist_convnet": (
        lab2.check_mnist_convnet,
        [dict(seed=1, N=2), dict(seed=1281, N=1, num_classes=7)],
        MnistNet,
    ),
    "cifar_convnet": (
        lab2.check_cifar_convnet,
        [dict(seed=1, N=2), dict(seed=1291, N=1)],
        CifarNet,
    ),
    "learning_rate": (
        lab2.check_learning_rate,
        [
            dict(seed=1, epochs=8, lr_policy={1: 0.1, 3: 0.01, 5: 0.001, 7: 1e-4}),
            dict(seed=1301, epochs=12),
        ],
        learning_rate,
    ),
    "train_epoch": (
        lab2.check_train_epoch,
        [dict(seed=1, N=10, batch_size=4), dict(seed=1311, N=12, batch_size=5, lr=0.3)],
        train_epoch,
    ),
    "evaluate": (
        lab2.check_evaluate,
        [dict(seed=1, N=30, C=4, absent=True), dict(seed=1321, N=40, C=5, ties=True)],
        evaluate,
    ),
    "worst_k": (
        lab2.check_worst_k,
        [dict(seed=1, N=40, C=10), dict(seed=1331, N=60, C=10, misclassified=30, ties=True)],
        worst_k,
    ),
    "conv_backward": (
        lab2.check_conv_backward,
        [
            dict(seed=1, N=2, C=1, H=5, W=5, filters=2, k=3),
            dict(seed=1261, N=2, C=3, H=6, W=7, filters=4, k=5),
        ],
        conv_backward,
    ),
    "multiclass_hinge_loss": (
        lab2.check_multiclass_hinge_loss,
        [dict(seed=1, N=5, C=3), dict(seed=1271, N=20, C=7, delta=0.5)],
        multiclass_hinge_loss,
    ),
}


# ----------------------------------------------------------------------------- wrong submissions


class FCTransposedGradW(FC):
    def backward_params(self, grad_out):
        return [[self.weights, self.x.T @ grad_out], [self.bias, grad_out.sum(0)], self.name]


class FCNoBias(FC):
    def forward(self, x):
        self.x = x
        return x @ self.weights.T


class FCMeanBiasGrad(FC):
    def backward_params(self, grad_out):
        return [[self.weights, grad_out.T @ self.x], [self.bias, grad_out.mean(0)], self.name]


class FCWeightsInputsByOutputs(FC):
    def __init__(
        self,
        input_layer,
        num_outputs,
        name,
        weights_initializer_fn=variance_scaling_initializer,
        bias_initializer_fn=zero_init,
    ):
        super().__init__(
            input_layer, num_outputs, name, weights_initializer_fn, bias_initializer_fn
        )
        self.weights = weights_initializer_fn(
            [self.weights.shape[1], num_outputs], fan_in=self.weights.shape[1]
        )


class FCOwnInit(FC):
    def __init__(self, input_layer, num_outputs, name, **initializers):
        super().__init__(input_layer, num_outputs, name)  # ignores the initialisers given


class FCAutograd(FC):
    def backward_params(self, grad_out):
        W = torch.tensor(self.weights, requires_grad=True)
        b = torch.tensor(self.bias, requires_grad=True)
        (torch.tensor(self.x) @ W.T + b).backward(torch.tensor(grad_out))
        return [[self.weights, W.grad.numpy()], [self.bias, b.grad.numpy()], self.name]


class FCFromCourse(ref.FC):
    pass


class ReLUWrongMask(ReLU):
    def backward_inputs(self, grad_out):
        return grad_out * (self.x < 0)


class LeakyReLU(ReLU):
    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, 0.01 * x)

    def backward_inputs(self, grad_out):
        return np.where(self.x > 0, grad_out, 0.01 * grad_out)


class ReLUWithParams(ReLU):
    has_params = True


class NaiveSoftmaxCE(SoftmaxCrossEntropyWithLogits):
    def forward(self, x, y):
        p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
        return -np.mean(np.sum(y * np.log(p), axis=1))

    def backward_inputs(self, x, y):
        return (np.exp(x) / np.exp(x).sum(axis=1, keepdims=True) - y) / len(x)


class SummedCE(SoftmaxCrossEntropyWithLogits):
    def forward(self, x, y):
        return super().forward(x, y) * len(x)


class GradNotAveragedCE(SoftmaxCrossEntropyWithLogits):
    def backward_inputs(self, x, y):
        return super().backward_inputs(x, y) * len(x)


class L2NoHalf(L2Regularizer):
    def forward(self):
        return self.weight_decay * np.sum(self.weights**2)


class L2GradTwice(L2Regularizer):
    def backward_params(self):
        return [[self.weights, 2 * self.weight_decay * self.weights], self.name]


class DataLossOnly(RegularizedLoss):
    def forward(self, x, y):
        return self.data_loss.forward(x, y)


class FlatRegularizerGrads(RegularizedLoss):
    def backward_params(self):
        grads = []
        for r in self.regularizer_losses:
            grads += r.backward_params()
        return grads


class RegularizedLossWithoutParams(RegularizedLoss):
    has_params = False


class FCNumerical(FC):
    def backward_inputs(self, grad_out):
        x = self.x.copy()
        return numerical_gradient(lambda v: v @ self.weights.T + self.bias, x, df=grad_out)


class RegularizedLossSwappedArguments(RegularizedLoss):
    def backward_inputs(self, x, y):
        return self.data_loss.backward_inputs(y, x)


def kernel_not_flipped(x, weights, grad_out):
    _, grad_w, grad_b = conv_backward(x, weights, grad_out)
    unflipped = weights[:, :, ::-1, ::-1]  # conv_backward flips it back: no flip at all
    return conv_backward(x, unflipped, grad_out)[0], grad_w, grad_b


def grad_w_channels_swapped(x, weights, grad_out):
    grad_x, grad_w, grad_b = conv_backward(x, weights, grad_out)
    return grad_x, grad_w.reshape(weights.shape[1], weights.shape[0], *weights.shape[2:]), grad_b


def grad_b_mean(x, weights, grad_out):
    grad_x, grad_w, _ = conv_backward(x, weights, grad_out)
    return grad_x, grad_w, grad_out.mean(axis=(0, 2, 3))


def given_layer_backward(x, weights, grad_out, layer=Convolution):
    conv = layer(x, weights.shape[0], weights.shape[-1], "c")
    conv.weights = weights
    conv.forward(x)
    (_, grad_w), (_, grad_b), _ = conv.backward_params(grad_out)
    return conv.backward_inputs(grad_out), grad_w, grad_b


def reference_layer_backward(x, weights, grad_out):
    return given_layer_backward(x, weights, grad_out, ref.NumpyConvolution)


def torch_conv_gradients(x, weights, grad_out):
    g = torch.from_numpy(grad_out)
    grad_x = torch.nn.grad.conv2d_input(
        x.shape, torch.from_numpy(weights), g, padding=weights.shape[-1] // 2
    )
    grad_w = torch.nn.grad.conv2d_weight(
        torch.from_numpy(x), weights.shape, g, padding=weights.shape[-1] // 2
    )
    return grad_x.numpy(), grad_w.numpy(), grad_out.sum(axis=(0, 2, 3))


def reference_col2im(x, weights, grad_out):
    F, C, k, _ = weights.shape
    grad_y = grad_out.transpose(1, 2, 3, 0).reshape(F, -1)  # (F, H W N)
    grad_x = ref.col2im(weights.reshape(F, -1).T @ grad_y, x.shape, k)
    return grad_x, (grad_y @ im2col(x, k).T).reshape(weights.shape), grad_out.sum(axis=(0, 2, 3))


def hinge_with_own_class(logits, target, delta=1.0):
    correct = logits[torch.arange(len(logits)), target][:, None]
    return torch.clamp(logits - correct + delta, min=0).sum(dim=1).mean()


def hinge_summed(logits, target, delta=1.0):
    return multiclass_hinge_loss(logits, target, delta) * len(logits)


def hinge_in_numpy(logits, target, delta=1.0):
    return torch.tensor(multiclass_hinge_loss(logits, target, delta).item())


def hinge_library(logits, target, delta=1.0):
    return torch.nn.functional.multi_margin_loss(logits, target, margin=delta) * logits.shape[1]


class MnistNoReluAfterFc(MnistNet):
    def __init__(self, num_classes=10):
        super().__init__(num_classes)
        self.classifier[1] = nn.Identity()


class MnistNoPadding(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 16, 5), nn.Conv2d(16, 32, 5)
        self.fc3, self.logits = nn.Linear(32 * 4 * 4, 512), nn.Linear(512, num_classes)

    def forward(self, x):
        h = torch.relu(nn.functional.max_pool2d(self.conv1(x), 2))
        h = torch.relu(nn.functional.max_pool2d(self.conv2(h), 2))
        return self.logits(torch.relu(self.fc3(h.flatten(1))))


class MnistSqueezed(MnistNet):
    def forward(self, x):
        return super().forward(x).squeeze()


class MnistFcFirst(nn.Module):
    """Layers defined in another order than used: fine, parameters are matched by shape."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.fc3, self.logits = nn.Linear(32 * 7 * 7, 512), nn.Linear(512, num_classes)
        self.conv2, self.conv1 = nn.Conv2d(16, 32, 5, padding=2), nn.Conv2d(1, 16, 5, padding=2)

    def forward(self, x):
        h = torch.relu(nn.functional.max_pool2d(self.conv1(x), 2))
        h = torch.relu(nn.functional.max_pool2d(self.conv2(h), 2))
        return self.logits(torch.relu(self.fc3(h.flatten(1))))


class CifarPool2(CifarNet):
    def __init__(self, num_classes=10):
        super().__init__(num_classes)
        self.fc1 = nn.Linear(32 * 8 * 8, 256)

    def forward(self, x):
        h = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        h = nn.functional.max_pool2d(torch.relu(self.conv2(h)), 2)
        h = torch.relu(self.fc2(torch.relu(self.fc1(h.flatten(1)))))
        return self.fc_logits(h)


class CifarNoReluAfterFc2(CifarNet):
    def forward(self, x):
        h = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 3, 2)
        h = nn.functional.max_pool2d(torch.relu(self.conv2(h)), 3, 2)
        return self.fc_logits(self.fc2(torch.relu(self.fc1(h.flatten(1)))))


class CifarFromCourse(ref.CifarConvNet):
    pass


def lr_before_epoch(epoch, lr_policy):  # the schedule one epoch late
    return lr_policy[max(e for e in lr_policy if e < epoch)] if epoch > 1 else lr_policy[1]


def lr_in_insertion_order(epoch, lr_policy):  # right only while the keys come sorted
    rate = None
    for start, lr in lr_policy.items():
        if epoch >= start:
            rate = lr
    return rate


def lr_exact_keys(epoch, lr_policy):
    return lr_policy.get(epoch, 0.1)


def train_no_weight_decay(model, x, y, *, lr, weight_decay, batch_size):
    return train_epoch(model, x, y, lr=lr, weight_decay=0.0, batch_size=batch_size)


def train_decays_biases(model, x, y, *, lr, weight_decay, batch_size):
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for start in range(0, len(x), batch_size):
        loss = nn.functional.cross_entropy(
            model(x[start : start + batch_size]), y[start : start + batch_size]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_drops_last_batch(model, x, y, *, lr, weight_decay, batch_size):
    n = len(x) // batch_size * batch_size
    return train_epoch(model, x[:n], y[:n], lr=lr, weight_decay=weight_decay, batch_size=batch_size)


def train_no_zero_grad(model, x, y, *, lr, weight_decay, batch_size):
    model.train()
    losses = []
    for start in range(0, len(x), batch_size):
        loss = nn.functional.cross_entropy(
            model(x[start : start + batch_size]), y[start : start + batch_size]
        )
        loss.backward()  # gradients pile up over the batches
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * (p.grad + (weight_decay * p if p.dim() > 1 else 0))
        losses.append(loss.item())
    return losses


def train_in_eval_mode(model, x, y, *, lr, weight_decay, batch_size):
    losses = train_epoch(model, x, y, lr=lr, weight_decay=weight_decay, batch_size=batch_size)
    model.eval()  # "ready for validation": the next epoch's forward calls run in eval mode
    return losses


def train_summed_loss(model, x, y, *, lr, weight_decay, batch_size):
    model.train()
    optimizer = torch.optim.SGD(ref_groups(model, weight_decay), lr=lr)
    losses = []
    for start in range(0, len(x), batch_size):
        loss = nn.functional.cross_entropy(
            model(x[start : start + batch_size]), y[start : start + batch_size], reduction="sum"
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def ref_groups(model, weight_decay):
    params = list(model.parameters())
    return [
        dict(params=[p for p in params if p.dim() > 1], weight_decay=weight_decay),
        dict(params=[p for p in params if p.dim() == 1], weight_decay=0.0),
    ]


def evaluate_transposed(model, x, y, num_classes):
    """Rows the predicted class: precision and recall, read with the lab's formulas, swap."""
    result = evaluate(model, x, y, num_classes)
    confusion = result["confusion"].T
    diagonal = np.diag(confusion)
    with np.errstate(invalid="ignore"):
        precision = np.nan_to_num(diagonal / confusion.sum(0))
        recall = np.nan_to_num(diagonal / confusion.sum(1))
    return {**result, "confusion": confusion, "precision": precision, "recall": recall}


def evaluate_swapped(model, x, y, num_classes):
    result = evaluate(model, x, y, num_classes)
    return {**result, "precision": result["recall"], "recall": result["precision"]}


def evaluate_nan_for_absent(model, x, y, num_classes):
    result = evaluate(model, x, y, num_classes)
    confusion = result["confusion"]
    with np.errstate(invalid="ignore"):
        diagonal = np.diag(confusion)
        return {
            **result,
            "precision": diagonal / confusion.sum(0),
            "recall": diagonal / confusion.sum(1),
        }


def evaluate_in_train_mode(model, x, y, num_classes):
    with torch.no_grad():
        logits = model(torch.as_tensor(x))
    model.eval()
    result = evaluate(FixedRows(logits), x, y, num_classes)
    return result


class FixedRows(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits[torch.as_tensor(x).long().flatten()]


def evaluate_left_in_eval_mode(model, x, y, num_classes):
    result = evaluate(model, x, y, num_classes)
    model.eval()
    return result


def evaluate_summed_loss(model, x, y, num_classes):
    result = evaluate(model, x, y, num_classes)
    return {**result, "loss": result["loss"] * len(y)}


def evaluate_with_sklearn(model, x, y, num_classes):
    from sklearn.metrics import confusion_matrix

    result = evaluate(model, x, y, num_classes)
    return {**result, "confusion": confusion_matrix(y, result["confusion"].argmax(1)[y])}


def worst_k_best_first(logits, y, k=20):
    worst, top3 = worst_k(logits, y, k)
    return worst[::-1].copy(), top3[::-1].copy()


def worst_k_all_images(logits, y, k=20):
    probabilities = torch.softmax(torch.as_tensor(logits), 1).numpy()
    worst = np.argsort(probabilities[np.arange(len(y)), y])[:k]
    return worst, np.argsort(-logits[worst], axis=1)[:, :3]


def worst_k_by_logit(logits, y, k=20):
    true = logits[np.arange(len(y)), y]
    wrong = np.flatnonzero(logits.argmax(1) != y)
    worst = wrong[np.argsort(true[wrong])][:k]
    return worst, np.argsort(-logits[worst], axis=1)[:, :3]


def worst_k_top3_ascending(logits, y, k=20):
    worst, _ = worst_k(logits, y, k)
    return worst, np.argsort(logits[worst], axis=1)[:, -3:]


def stub(*args, **kwargs):
    raise NotImplementedError("Lab 2, task x: write your code here")


class Stub:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("Lab 2, task x: write your code here")


ALL = {task: set(lab2.QUANTITIES[task]) for task in TASKS}
WRONG = [  # (task, submission, the quantities it must lose)
    ("fc", FCTransposedGradW, {"grad_weights"}, "transposed"),
    ("fc", FCNoBias, {"forward"}, "is a bias"),
    ("fc", FCMeanBiasGrad, {"grad_bias"}, "divide once too often"),
    ("fc", FCWeightsInputsByOutputs, ALL["fc"]),
    ("fc", FCOwnInit, ALL["fc"]),
    ("fc", FCAutograd, {"grad_weights", "grad_bias"}),
    ("fc", FCFromCourse, ALL["fc"]),
    ("fc", ref.FC, ALL["fc"]),
    ("fc", FCNumerical, {"backward_inputs"}),
    ("relu", ReLUWrongMask, {"backward_inputs"}),
    ("relu", LeakyReLU, {"forward", "backward_inputs"}),
    ("relu", ReLUWithParams, {"forward"}),
    ("relu", ref.ReLU, ALL["relu"]),
    ("softmax_cross_entropy_with_logits", NaiveSoftmaxCE, {"large_logits"}, "exp overflow"),
    (
        "softmax_cross_entropy_with_logits",
        SummedCE,
        {"loss", "large_logits"},
        "did you sum where the mean",
    ),
    (
        "softmax_cross_entropy_with_logits",
        GradNotAveragedCE,
        {"grad_inputs", "large_logits"},
        "did you sum where the mean",
    ),
    (
        "softmax_cross_entropy_with_logits",
        ref.SoftmaxCrossEntropyWithLogits,
        ALL["softmax_cross_entropy_with_logits"],
    ),
    ("l2_regularizer", L2NoHalf, {"loss"}, "a factor 2"),
    ("l2_regularizer", L2GradTwice, {"grad_weights"}, "a factor 2"),
    ("l2_regularizer", ref.L2Regularizer, ALL["l2_regularizer"]),
    ("regularized_loss", DataLossOnly, {"loss"}, "regularisers' losses left out"),
    ("regularized_loss", FlatRegularizerGrads, {"grad_params"}),
    ("regularized_loss", RegularizedLossWithoutParams, {"grad_params"}),
    ("regularized_loss", RegularizedLossSwappedArguments, {"grad_inputs"}),
    ("regularized_loss", ref.RegularizedLoss, ALL["regularized_loss"]),
    ("conv_backward", kernel_not_flipped, {"grad_inputs"}),
    ("conv_backward", grad_w_channels_swapped, {"grad_weights"}, "in another shape"),
    ("conv_backward", grad_b_mean, {"grad_bias"}, "divide once too often"),
    ("conv_backward", given_layer_backward, ALL["conv_backward"]),
    ("conv_backward", reference_layer_backward, ALL["conv_backward"]),
    ("conv_backward", torch_conv_gradients, ALL["conv_backward"]),
    ("conv_backward", reference_col2im, ALL["conv_backward"]),
    ("conv_backward", ref.conv_backward, ALL["conv_backward"]),
    ("multiclass_hinge_loss", hinge_with_own_class, {"loss"}),
    ("multiclass_hinge_loss", hinge_summed, {"loss", "grad_logits"}, "did you sum where the mean"),
    ("multiclass_hinge_loss", hinge_in_numpy, {"loss", "grad_logits"}),
    ("multiclass_hinge_loss", hinge_library, {"loss", "grad_logits"}),
    ("multiclass_hinge_loss", ref.multiclass_hinge_loss, {"loss", "grad_logits"}),
    ("mnist_convnet", MnistNoReluAfterFc, {"output"}),
    ("mnist_convnet", MnistNoPadding, {"parameters", "output"}),
    ("mnist_convnet", MnistSqueezed, {"output_shape"}),
    ("mnist_convnet", ref.MnistConvNet, ALL["mnist_convnet"]),
    ("cifar_convnet", CifarPool2, {"parameters", "output"}),
    ("cifar_convnet", CifarNoReluAfterFc2, {"output"}),
    ("cifar_convnet", CifarFromCourse, ALL["cifar_convnet"]),
    ("learning_rate", lr_before_epoch, {"lr"}, "shifted by one step"),
    ("learning_rate", lr_in_insertion_order, {"lr"}),
    ("learning_rate", lr_exact_keys, {"lr"}),
    ("learning_rate", ref.learning_rate, {"lr"}),
    ("train_epoch", train_no_weight_decay, {"parameters"}),
    ("train_epoch", train_decays_biases, {"parameters"}),
    ("train_epoch", train_drops_last_batch, {"losses", "parameters"}),
    ("train_epoch", train_no_zero_grad, {"parameters"}),
    ("train_epoch", train_in_eval_mode, {"mode"}),
    ("train_epoch", train_summed_loss, {"losses", "parameters"}, "did you sum where the mean"),
    ("train_epoch", ref.train_epoch, ALL["train_epoch"]),
    (
        "evaluate",
        evaluate_transposed,
        {"confusion", "precision", "recall"},
        ("transposed", "precision and recall swapped"),
    ),
    ("evaluate", evaluate_swapped, {"precision", "recall"}, "precision and recall swapped"),
    ("evaluate", evaluate_nan_for_absent, {"precision", "recall"}, "a division meet 0"),
    ("evaluate", evaluate_in_train_mode, {"mode"}),
    ("evaluate", evaluate_left_in_eval_mode, {"mode"}),
    ("evaluate", evaluate_summed_loss, {"loss"}, "did you sum where the mean"),
    ("evaluate", evaluate_with_sklearn, ALL["evaluate"]),
    ("evaluate", ref.evaluate, ALL["evaluate"]),
    ("worst_k", worst_k_best_first, {"indices"}, "in reverse order"),
    ("worst_k", worst_k_all_images, {"indices"}),
    ("worst_k", worst_k_by_logit, {"indices"}, "sort key or direction wrong"),
    ("worst_k", worst_k_top3_ascending, {"top3"}, "increasing order"),
    ("worst_k", ref.worst_k, ALL["worst_k"]),
] + [(task, Stub if isinstance(CASES[task][2], type) else stub, ALL[task]) for task in TASKS]


class TestTasks(TaskChecks):
    """The harness's tests (``tests/task_harness.py``) on Lab 2's cases."""

    lab, CASES, WRONG = lab2, CASES, WRONG


grade = TestTasks.grade


# ----------------------------------------------------------------------------- messages


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a naive exp overflows, as intended
def test_messages_name_the_problem():
    text = str(grade("fc", FCTransposedGradW)[0])
    assert "grad_weights [seed=1, N=3, D=4, M=2]: yours has shape (4, 2), expected (2, 4)" in text
    text = str(grade("fc", FCWeightsInputsByOutputs)[0])
    assert (
        "FC.weights has shape (4, 2); expected (2, 4) (weights: (num_outputs, num_inputs))" in text
    )
    text = str(grade("softmax_cross_entropy_with_logits", NaiveSoftmaxCE)[0])
    assert "large_logits [seed=1, N=4, C=3, logits times 1000: loss]: yours has nan" in text
    text = str(grade("fc", ref.FC)[0])
    assert "calls autograder.reference.lab2.FC.__init__: write your own code" in text
    text = str(grade("fc", FCFromCourse)[0])
    assert "calls autograder.reference.lab2.FC.__init__" in text
    text = str(grade("conv_backward", given_layer_backward)[0])
    assert "calls dlcourse.layers.conv.Convolution" in text
    text = str(grade("regularized_loss", RegularizedLossSwappedArguments)[0])
    assert "the data loss was given other logits or targets than RegularizedLoss got" in text
    assert "raised NotImplementedError: Lab 2, task x" in str(grade("relu", Stub)[0])
    assert "numerical_gradient: write your own code" in str(grade("fc", FCNumerical)[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a naive exp overflows, as intended
def test_visible_checks_grade_without_the_references(monkeypatch, tmp_path):
    """The student handout: no ``autograder.reference``, only the control outputs recorded when
    it was built. The layers' and losses' oracles are autograd and the evaluation's is
    scikit-learn, so they record none; the networks, the schedule, the epoch and the worst images
    record the reference's outputs. Each visible case still gives a correct submission full
    points and a wrong one fewer."""
    visible = {task: (check, cases[:1], correct) for task, (check, cases, correct) in CASES.items()}
    with reference.recording() as recorded:
        for task, cell in visible.items():
            assert run_cases(cell, cell[2])[1] == TASKS[task]
    recorded_tasks = {key.split("/")[0] for key in recorded["lab2"]}
    assert recorded_tasks == {
        "mnist_convnet",
        "cifar_convnet",
        "learning_rate",
        "train_epoch",
        "worst_k",
    }
    reference.write_controls(recorded, tmp_path)
    monkeypatch.setattr(reference, "CONTROLS", tmp_path)
    monkeypatch.setattr(reference, "_loaded", {})
    monkeypatch.setattr(reference, "available", lambda lab: False)
    monkeypatch.setattr(reference, "reference", lambda lab, name: None)
    monkeypatch.setitem(sys.modules, "autograder.reference.lab2", None)  # an import fails too
    for task, cell in visible.items():
        report, points = run_cases(cell, cell[2])
        assert points == TASKS[task], str(report)
    for task, wrong, lost, *_ in WRONG:
        if getattr(wrong, "__module__", "").startswith(__name__) and wrong not in (
            FCFromCourse,
            CifarFromCourse,
            reference_layer_backward,
            reference_col2im,
            MnistSqueezed,  # N = 1 is a hidden case
            lr_in_insertion_order,  # so are unsorted keys
        ):  # those need references
            report, points = run_cases(visible[task], wrong)
            assert failing(report) and failing(report) <= lost, (task, wrong, str(report))


class FCOtherArgumentNames(FC):
    """The contract's methods with other argument names: the checks call them positionally."""

    def forward(self, inputs):
        return super().forward(inputs)

    def backward_inputs(self, grads):
        return super().backward_inputs(grads)

    def backward_params(self, grads):
        return super().backward_params(grads)


class ReLUOtherArgumentNames(ReLU):
    def forward(self, inputs):
        return super().forward(inputs)

    def backward_inputs(self, grads):
        return super().backward_inputs(grads)


def test_argument_names_are_the_students_choice():
    """A student who names the arguments otherwise than the contract (``inputs``, ``grads``)
    loses nothing: every check calls the methods with positional arguments."""
    assert grade("fc", FCOtherArgumentNames)[1] == TASKS["fc"]
    assert grade("relu", ReLUOtherArgumentNames)[1] == TASKS["relu"]


def test_a_transposed_gradient_of_a_square_layer_is_caught_by_value():
    report = lab2.check_fc(FCTransposedGradW, seed=5, N=6, D=4, M=4)
    assert failing(report) == {"grad_weights"} and " at index (" in str(report)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_grading_on_cuda_gives_the_same_points(monkeypatch):
    """DLCOURSE_DEVICE=cuda moves the autograd oracles to the GPU; grades must not change."""
    monkeypatch.setenv("DLCOURSE_DEVICE", "cuda")
    for task in CASES:
        assert grade(task, CASES[task][2])[1] == TASKS[task]
    assert grade("fc", FCTransposedGradW)[1] == TASKS["fc"] - 1


def test_layers_may_be_defined_in_any_order():
    """Parameters are matched to the lab's by shape, not by the order of definition."""
    assert grade("mnist_convnet", MnistFcFirst)[1] == TASKS["mnist_convnet"]


@pytest.fixture(scope="module")
def student_kernel():
    """A Jupyter kernel holding the correct PyTorch submissions, as a grader sees a notebook."""
    import inspect

    import nbformat
    from nbclient import NotebookClient

    from autograder.config import KERNEL_ARGS

    names = [MnistNet, CifarNet, learning_rate, train_epoch, evaluate, worst_k]
    source = "import numpy as np\nimport torch\nfrom torch import nn\n\n" + "\n\n".join(
        inspect.getsource(obj) for obj in names
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    client = NotebookClient(nb, kernel_name="python3", extra_arguments=KERNEL_ARGS, timeout=120)
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)

        def execute(code):
            cell = nbformat.v4.new_code_cell(code)
            client.execute_cell(cell, 0, store_history=False)
            return cell.outputs

        yield execute


@pytest.mark.slow
def test_the_pytorch_checks_grade_a_student_kernel(student_kernel, tmp_path):
    """While grading, the student's names are proxies of objects in their kernel: the models,
    the grader's TinyNet and FixedLogits travel there and only data comes back."""
    from autograder.rpc import Link

    link = Link(student_kernel, str(tmp_path))
    names = {"mnist_convnet": "MnistNet", "cifar_convnet": "CifarNet"}
    for task in ["mnist_convnet", "learning_rate", "train_epoch", "evaluate", "worst_k"]:
        check, cases, correct = CASES[task]
        student = link.request("lookup", names.get(task, correct.__name__))
        report, points = run_cases((check, cases[:1], correct), student)
        assert points == TASKS[task], str(report)
