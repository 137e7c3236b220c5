"""Lab 2 (convolutional models): the graded checks, one per task (see docs/lab2-contract.md).

Every ``check_<task>(student, *, seed, ...)`` seeds everything with ``seed``, draws its inputs
from ``np.random.default_rng(seed)``, talks to the student's class or function only through
``call_student`` (constructors and methods alike) and plain attribute reads, compares each
quantity with PyTorch autograd in float64 under a random upstream gradient (oracles built on
autograd and torch's own functions, never an implementation of a task), prints the report and
returns it. Autograd, numerical differentiation and the instructors' references
(``autograder.reference.lab2``, where installed) are refused inside the student's code.

The layers' and losses' expected values come from such oracles, and no check runs one task on
another: ``check_regularized_loss`` hands the student's class a data loss and regularisers that
return autograd's values for the case (``_RecordedLoss``, ``_RecordedL2``), in the handout as in
the grader.

The PyTorch half (``mnist_convnet``, ``learning_rate``, ``train_epoch``, ``evaluate``,
``cifar_convnet``, ``worst_k``): ``evaluate`` is compared with scikit-learn; the networks (with
weights the check loads into the student's model), the schedule, the epoch and the worst images
with the instructors' references where they are installed, and in the handout with the control
outputs recorded from them for the visible cases (``dlcourse.reference.expected``). A check that
hands the student's function a model of its own (``TinyNet``, ``FixedLogits``) runs the call where
the student's code lives (``run_on_model``), so the model's parameters and the mode of its forward
calls come back as data.

Layers are built as in the lab: ``FC(input_layer, num_outputs, name, weights_initializer_fn=...,
bias_initializer_fn=...)``, ``ReLU(input_layer, name)``, where ``input_layer`` is anything with a
``.shape`` (here the input array). ``check_fc`` hands FC initialisers of its own
(``init_weights``, ``init_bias``: fixed pseudo-random values, a nonzero bias) and reads the
parameters back, so the weights' layout (num_outputs, num_inputs) is checked too. Methods are
called with positional arguments only, so a student's argument names are theirs to choose (the
contract's are ``forward(x)``, ``backward_inputs(grad_out)``, ``backward_params(grad_out)``).

Task ids are snake_case as in every lab (``fc``, ``relu``, ``softmax_cross_entropy_with_logits``,
``l2_regularizer``, ``regularized_loss``, ``mnist_convnet``, ...); the classes the student
writes keep the course's names (``FC``, ``ReLU``, ``MnistConvNet``, ...), and messages name
those.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import scipy.special
import sklearn.metrics
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import config, reference
from dlcourse.check import (
    AUTOGRAD,
    RemoteError,
    Report,
    Variant,
    autograd_reference,
    call_student,
    call_student_many,
    case_label,
    case_starter,
    compare,
    run_where,
    show,
    student_autograd,
    swapped_variants,
    verdict,
)
from dlcourse.check.student import _run_student, _watching
from dlcourse.layers import Convolution

TASKS: dict[str, int] = {
    "fc": 4,
    "relu": 2,
    "softmax_cross_entropy_with_logits": 3,
    "l2_regularizer": 2,
    "regularized_loss": 3,
    "mnist_convnet": 3,
    "learning_rate": 1,
    "train_epoch": 3,
    "evaluate": 3,
    "cifar_convnet": 2,
    "worst_k": 2,
    "conv_backward": 3,
    "multiclass_hinge_loss": 2,
}
"""Task id -> points: the one place they are declared (``dlcourse.tasks``). The gradient
check is given (``dlcourse.check.numerical_gradient``), not graded."""

BONUS: frozenset[str] = frozenset({"conv_backward", "multiclass_hinge_loss"})
"""Extra credit: added to the score, not to the maximum."""

QUESTIONS: dict[str, int] = {
    "q_gradient_check": 2,
    "q_receptive_field": 2,
    "q_regularisation_strength": 2,
    "q_confusion_matrix": 2,
    "q_hinge_vs_cross_entropy": 2,
}
"""Question id -> points of its written answer, graded by hand (``dlcourse.tasks``)."""

QUANTITIES: dict[str, tuple[str, ...]] = {
    "fc": ("forward", "backward_inputs", "grad_weights", "grad_bias"),
    "relu": ("forward", "backward_inputs"),
    "softmax_cross_entropy_with_logits": ("loss", "grad_inputs", "large_logits"),
    "l2_regularizer": ("loss", "grad_weights"),
    "regularized_loss": ("loss", "grad_inputs", "grad_params"),
    "mnist_convnet": ("parameters", "output_shape", "output"),
    "learning_rate": ("lr",),
    "train_epoch": ("losses", "parameters", "mode"),
    "evaluate": ("loss", "confusion", "accuracy", "precision", "recall", "mode"),
    "cifar_convnet": ("parameters", "output_shape", "output"),
    "worst_k": ("indices", "top3"),
    "conv_backward": ("grad_inputs", "grad_weights", "grad_bias"),
    "multiclass_hinge_loss": ("loss", "grad_logits"),
}
"""Task id -> the quantities graded (each one an equal share of the task's points)."""

LARGE = 1000.0
"""Logits are multiplied by this for 'large_logits': exp overflows unless the maximum is
subtracted."""


def _forbidden(
    fn: Any, references: tuple[str, ...], others: tuple[Any, ...] = AUTOGRAD
) -> tuple[Any, ...]:
    """What ``fn`` must not call: ``others`` (by default autograd and numerical gradients) and
    the named Lab 2 references where installed (a local hint: a grader's call watches nothing,
    its rules are checked on the source)."""
    return reference.installed("lab2", references) + others


# ----------------------------------------------------------------------------- torch oracles


def _fc(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.linear(x, W, b)  # (N, M)


def _cross_entropy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -y . log softmax(x), y one-hot (or any distribution) (N, C)."""
    return F.cross_entropy(x, y)  # y as class probabilities


def _l2(W: torch.Tensor, *, weight_decay: float) -> torch.Tensor:
    return weight_decay / 2 * (W**2).sum()


def _regularized(
    x: torch.Tensor, y: torch.Tensor, *, weight_decays: tuple[float, ...], **weights: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy + sum_k weight_decay_k / 2 ||W_k||^2 for weights named W0, W1, ..."""
    return _cross_entropy(x, y) + sum(
        _l2(weights[f"W{k}"], weight_decay=wd) for k, wd in enumerate(weight_decays)
    )


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SAME convolution, stride 1, odd kernel: (k - 1) / 2 zeros on every side."""
    return F.conv2d(x, w, b, padding=(w.shape[-1] - 1) // 2)


def _hinge(logits: torch.Tensor, target: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """1/N sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta): torch's multi-margin loss divides
    each example's sum by the number of classes C, so C times it."""
    return logits.shape[1] * F.multi_margin_loss(logits, target, margin=float(delta))


def init_weights(shape: Any, fan_in: int | None = None) -> np.ndarray:
    """Fixed pseudo-random weights of ``shape`` (a function of the shape only), ~N(0, 1/fan_in)."""
    shape = tuple(int(n) for n in shape)
    scale = 1 / np.sqrt(fan_in or shape[-1])
    return scale * np.random.default_rng([1, *shape]).standard_normal(shape)


def init_bias(shape: Any, fan_in: int | None = None) -> np.ndarray:
    """Fixed pseudo-random, nonzero biases of ``shape`` (a zero bias would hide a missing + b)."""
    shape = tuple(int(n) for n in shape)
    return np.random.default_rng([2, *shape]).standard_normal(shape)


# ----------------------------------------------------------------------------- shared steps

_start = case_starter(QUANTITIES, TASKS)


def _one_hot(rng: np.random.Generator, N: int, C: int) -> np.ndarray:
    """(N, C) one-hot rows of random classes."""
    return np.eye(C)[rng.integers(0, C, N)]


def _read(
    report: Report, case: str, obj: Any, attribute: str, owner: str, quantities: list[str]
) -> tuple[bool, Any]:
    """(True, obj.attribute), or (False, None) after failing ``quantities`` with the reason."""
    try:
        return True, getattr(obj, attribute)
    except Exception as exc:  # AttributeError here, anything from a grader's proxy
        report.fail(
            quantities,
            case,
            f"{owner} has no attribute '{attribute}' "
            f"({type(exc).__name__}); set it in __init__ as the lab describes",
        )
        return False, None


def _param_grads(out: Any, count: int, owner: str) -> tuple[list[Any] | None, str]:
    """The gradients of ``[[param, grad], ..., name]`` with ``count`` pairs, or (None, why not)."""
    form = f"[{', '.join(['[param, grad]'] * count)}, name]"
    if not (
        isinstance(out, list | tuple)
        and len(out) == count + 1
        and all(isinstance(pair, list | tuple) and len(pair) == 2 for pair in out[:count])
    ):
        return None, f"{owner}.backward_params() must return {form}"
    return [pair[1] for pair in out[:count]], ""


def _compare_grads(
    report: Report,
    case: str,
    out: Any,
    quantities: list[str],
    expected: list[np.ndarray],
    owner: str,
) -> None:
    """Compare each gradient of a ``backward_params`` result with its expected value."""
    grads, problem = _param_grads(out, len(expected), owner)
    if grads is None:
        report.fail(quantities, case, problem)
        return
    for quantity, mine, ref in zip(quantities, grads, expected):
        report.add(compare(quantity, mine, ref, case=case))


# ----------------------------------------------------------------------------- layers


def check_fc(FC: Any, *, seed: int, N: int, D: int, M: int) -> Report:
    """FC(x, M, "fc", weights_initializer_fn=init_weights, bias_initializer_fn=init_bias) on
    x (N, D): 'forward' (y = x W^T + b, and ``shape`` = (N, M)), 'backward_inputs', and the
    two gradients of backward_params: 'grad_weights' (M, D), 'grad_bias' (M,)."""
    report, rng = _start("fc", seed)
    case = case_label(seed=seed, N=N, D=D, M=M)
    everything = list(QUANTITIES["fc"])
    x = rng.standard_normal((N, D))  # (N, D)
    forbidden = _forbidden(FC, ("FC",), AUTOGRAD + (_fc,))
    ok, fc = call_student(
        report,
        case,
        FC,
        x,
        M,
        "fc",
        weights_initializer_fn=init_weights,
        bias_initializer_fn=init_bias,
        name="FC",
        forbidden=forbidden,
    )
    if not ok or not _fc_parameters_ok(report, case, fc, N, D, M):
        return show(report)
    W, b = init_weights((M, D), D), init_bias((M,))
    g = rng.standard_normal((N, M))  # upstream gradient, independent of x
    y_ref, grads = autograd_reference(_fc, dict(x=x, W=W, b=b), ["x", "W", "b"], grad_out=g)
    ok, y = call_student(
        report, case, fc.forward, x, name="FC.forward", quantities=everything, forbidden=forbidden
    )
    if not ok:
        return show(report)
    report.add(compare("forward", y, y_ref, case=case))
    ok, grad_x = call_student(
        report,
        case,
        fc.backward_inputs,
        g,
        name="FC.backward_inputs",
        quantities=["backward_inputs"],
        forbidden=forbidden,
    )
    if ok:
        report.add(compare("backward_inputs", grad_x, grads["x"], case=case))
    ok, out = call_student(
        report,
        case,
        fc.backward_params,
        g,
        name="FC.backward_params",
        quantities=["grad_weights", "grad_bias"],
        forbidden=forbidden,
    )
    if ok:
        _compare_grads(
            report, case, out, ["grad_weights", "grad_bias"], [grads["W"], grads["b"]], "FC"
        )
    return show(report)


def _fc_parameters_ok(report: Report, case: str, fc: Any, N: int, D: int, M: int) -> bool:
    """FC's attributes as the contract says; otherwise every quantity fails with the reason."""
    everything = list(QUANTITIES["fc"])
    values = {}
    for attribute in ("weights", "bias", "shape", "has_params"):
        ok, values[attribute] = _read(report, case, fc, attribute, "FC", everything)
        if not ok:
            return False
    expected = dict(weights=init_weights((M, D), D), bias=init_bias((M,)))
    for attribute, value in expected.items():
        if np.shape(values[attribute]) != value.shape:
            report.fail(
                everything,
                case,
                f"FC.{attribute} has shape "
                f"{np.shape(values[attribute])}; expected {value.shape} "
                "(weights: (num_outputs, num_inputs))",
            )
            return False
        if not np.allclose(values[attribute], value):
            report.fail(
                everything,
                case,
                f"FC.{attribute} is not what {attribute}_initializer_fn "
                "returned: create the parameters with the initialisers you are given",
            )
            return False
    if tuple(values["shape"]) != (N, M) or values["has_params"] is not True:
        report.fail(
            everything,
            case,
            f"FC.shape must be (N, num_outputs) = {(N, M)} and "
            f"FC.has_params True; yours are {values['shape']} and {values['has_params']}",
        )
        return False
    return True


def check_relu(ReLU: Any, *, seed: int, shape: tuple[int, ...]) -> Report:
    """ReLU(x, "relu") on x of ``shape`` (2-D or 4-D): 'forward' (max(0, x), ``shape`` and
    ``has_params`` False) and 'backward_inputs'."""
    report, rng = _start("relu", seed)
    shape = tuple(shape)
    case = case_label(seed=seed, shape=shape)
    x = rng.standard_normal(shape)
    forbidden = _forbidden(ReLU, ("ReLU",))
    ok, relu = call_student(
        report,
        case,
        ReLU,
        x,
        "relu",
        name="ReLU",
        quantities=list(QUANTITIES["relu"]),
        forbidden=forbidden,
    )
    if not ok:
        return show(report)
    _relu_attributes(report, case, relu, shape)
    g = rng.standard_normal(shape)  # upstream gradient
    y_ref, grads = autograd_reference(torch.relu, dict(input=x), ["input"], grad_out=g)
    ok, y = call_student(
        report,
        case,
        relu.forward,
        x,
        name="ReLU.forward",
        quantities=list(QUANTITIES["relu"]),
        forbidden=forbidden,
    )
    if not ok:
        return show(report)
    report.add(compare("forward", y, y_ref, case=case))
    ok, grad_x = call_student(
        report,
        case,
        relu.backward_inputs,
        g,
        name="ReLU.backward_inputs",
        quantities=["backward_inputs"],
        forbidden=forbidden,
    )
    if ok:
        report.add(compare("backward_inputs", grad_x, grads["input"], case=case))
    return show(report)


def _relu_attributes(report: Report, case: str, relu: Any, shape: tuple[int, ...]) -> None:
    """'forward' fails unless ReLU.shape is the input's shape and has_params is False."""
    ok, out_shape = _read(report, case, relu, "shape", "ReLU", ["forward"])
    if ok:
        ok, has_params = _read(report, case, relu, "has_params", "ReLU", ["forward"])
    if ok and (tuple(out_shape) != shape or has_params):
        report.fail(
            ["forward"],
            case,
            f"ReLU.shape must be the input's shape {shape} and "
            f"has_params False; yours are {out_shape} and {has_params}",
        )


# ----------------------------------------------------------------------------- losses

# library softmaxes and cross-entropies would do the task
_SOFTMAXES = (
    F.cross_entropy,
    F.log_softmax,
    F.softmax,
    scipy.special.softmax,
    scipy.special.log_softmax,
    _cross_entropy,
)


def check_softmax_cross_entropy_with_logits(
    SoftmaxCrossEntropyWithLogits: Any, *, seed: int, N: int, C: int, scale: float = 1.0
) -> Report:
    """'loss' = forward(x, y) and 'grad_inputs' = backward_inputs(x, y) for logits x (N, C)
    (standard normal times ``scale``) and one-hot y; 'large_logits': both again for 1000 x,
    which overflow a softmax that does not subtract the row maximum."""
    report, rng = _start("softmax_cross_entropy_with_logits", seed)
    case = case_label(seed=seed, N=N, C=C, scale=None if scale == 1 else scale)
    x, y = scale * rng.standard_normal((N, C)), _one_hot(rng, N, C)
    name = "SoftmaxCrossEntropyWithLogits"
    forbidden = _forbidden(
        SoftmaxCrossEntropyWithLogits, (name, "log_softmax"), AUTOGRAD + _SOFTMAXES
    )
    ok, loss = call_student(
        report, case, SoftmaxCrossEntropyWithLogits, name=name, forbidden=forbidden
    )
    if not ok:
        return show(report)
    large = f"{case}, logits times {LARGE:g}"
    for logits, q_loss, q_grad, loss_case, grad_case in (
        (x, "loss", "grad_inputs", case, case),
        (LARGE * x, "large_logits", "large_logits", f"{large}: loss", f"{large}: gradient"),
    ):
        value, grads = autograd_reference(_cross_entropy, dict(x=logits, y=y), ["x"])
        ok, mine = call_student(
            report,
            case,
            loss.forward,
            logits,
            y,
            name=f"{name}.forward",
            quantities=[q_loss],
            forbidden=forbidden,
        )
        if ok:
            report.add(compare(q_loss, mine, value, case=loss_case))
        ok, mine = call_student(
            report,
            case,
            loss.backward_inputs,
            logits,
            y,
            quantities=[q_grad],
            name=f"{name}.backward_inputs",
            forbidden=forbidden,
        )
        if ok:
            report.add(compare(q_grad, mine, grads["x"], case=grad_case))
    return show(report)


def check_l2_regularizer(
    L2Regularizer: Any, *, seed: int, shape: tuple[int, ...], weight_decay: float
) -> Report:
    """L2Regularizer(W, weight_decay, "l2") for W of ``shape``: 'loss' = forward() against
    weight_decay / 2 ||W||^2 and 'grad_weights' from backward_params() = [[W, dL/dW], name]."""
    report, rng = _start("l2_regularizer", seed)
    shape = tuple(shape)
    case = case_label(seed=seed, shape=shape, weight_decay=weight_decay)
    W = rng.standard_normal(shape)
    forbidden = _forbidden(L2Regularizer, ("L2Regularizer",))
    ok, reg = call_student(
        report,
        case,
        L2Regularizer,
        W,
        weight_decay,
        "l2",
        name="L2Regularizer",
        forbidden=forbidden,
    )
    if not ok:
        return show(report)
    value, grads = autograd_reference(partial(_l2, weight_decay=weight_decay), dict(W=W), ["W"])
    ok, mine = call_student(
        report,
        case,
        reg.forward,
        name="L2Regularizer.forward",
        quantities=["loss"],
        forbidden=forbidden,
    )
    if ok:
        report.add(compare("loss", mine, value, case=case))
    ok, out = call_student(
        report,
        case,
        reg.backward_params,
        name="L2Regularizer.backward_params",
        quantities=["grad_weights"],
        forbidden=forbidden,
    )
    if ok:
        _compare_grads(report, case, out, ["grad_weights"], [grads["W"]], "L2Regularizer")
    return show(report)


class _RecordedLoss:
    """The data loss handed to a student's RegularizedLoss: the cross-entropy of one case's
    logits x (N, C) and targets y (N, C) and its gradient, from autograd, computed up front (so
    no autograd runs inside the student's call, and no implementation of a task is handed out).
    """

    has_params = False
    name = "data_loss"

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y
        value, grads = autograd_reference(_cross_entropy, dict(x=x, y=y), ["x"])
        self.value, self.grad = float(value), grads["x"]

    def forward(self, x: np.ndarray, y: np.ndarray) -> float:
        self._same(x, y)
        return self.value

    def backward_inputs(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self._same(x, y)
        return self.grad.copy()

    def _same(self, x: np.ndarray, y: np.ndarray) -> None:
        if not (np.array_equal(x, self.x) and np.array_equal(y, self.y)):
            raise ValueError(
                "the data loss was given other logits or targets than "
                "RegularizedLoss got: pass x and y on unchanged"
            )


class _RecordedL2:
    """A regulariser handed to a student's RegularizedLoss: weight_decay / 2 ||W||^2 of its
    weights and the gradient, from autograd, computed up front (as ``_RecordedLoss``)."""

    has_params = True

    def __init__(self, weights: np.ndarray, weight_decay: float, name: str) -> None:
        self.weights, self.weight_decay, self.name = weights, weight_decay, name
        value, grads = autograd_reference(
            partial(_l2, weight_decay=weight_decay), dict(W=weights), ["W"]
        )
        self.value, self.grad = float(value), grads["W"]

    def forward(self) -> float:
        return self.value

    def backward_params(self) -> list[Any]:
        return [[self.weights, self.grad.copy()], self.name]


def check_regularized_loss(
    RegularizedLoss: Any,
    *,
    seed: int,
    N: int,
    C: int,
    shapes: list[tuple[int, ...]],
    weight_decays: list[float],
) -> Report:
    """RegularizedLoss(data_loss, regularizers) with a cross-entropy data loss and one L2
    regulariser per shape: 'loss' = forward(x, y) (data loss + every regulariser's),
    'grad_inputs' = backward_inputs(x, y), 'grad_params' = backward_params(), a list of each
    regulariser's [[W, dL/dW], name] (and ``has_params`` True).

    The data loss and the regularisers are stand-ins that return autograd's values for this
    case (``_RecordedLoss``, ``_RecordedL2``), so RegularizedLoss is graded on its own: neither
    the student's earlier losses nor a reference is needed, in the handout or in the grader."""
    report, rng = _start("regularized_loss", seed)
    case = case_label(
        seed=seed, N=N, C=C, shapes=[tuple(s) for s in shapes], weight_decays=list(weight_decays)
    )
    x, y = rng.standard_normal((N, C)), _one_hot(rng, N, C)
    weights = {f"W{k}": rng.standard_normal(tuple(s)) for k, s in enumerate(shapes)}
    regularizers = [
        _RecordedL2(W, wd, f"l2_{k}")
        for k, (W, wd) in enumerate(zip(weights.values(), weight_decays))
    ]
    forbidden = _forbidden(RegularizedLoss, ("RegularizedLoss",))
    ok, loss = call_student(
        report,
        case,
        RegularizedLoss,
        _RecordedLoss(x, y),
        regularizers,
        name="RegularizedLoss",
        forbidden=forbidden,
    )
    if not ok:
        return show(report)
    value, grads = autograd_reference(
        partial(_regularized, weight_decays=tuple(weight_decays)),
        dict(x=x, y=y, **weights),
        ["x", *weights],
    )
    ok, mine = call_student(
        report,
        case,
        loss.forward,
        x,
        y,
        name="RegularizedLoss.forward",
        quantities=["loss"],
        forbidden=forbidden,
    )
    if ok:
        data_only = Variant(
            float(_cross_entropy(torch.as_tensor(x), torch.as_tensor(y))),
            "is your total only the data loss: are the regularisers' losses left out?",
        )
        report.add(compare("loss", mine, value, case=case, variants=[data_only]))
    ok, mine = call_student(
        report,
        case,
        loss.backward_inputs,
        x,
        y,
        quantities=["grad_inputs"],
        name="RegularizedLoss.backward_inputs",
        forbidden=forbidden,
    )
    if ok:
        report.add(compare("grad_inputs", mine, grads["x"], case=case))
    ok, has_params = _read(report, case, loss, "has_params", "RegularizedLoss", ["grad_params"])
    if ok and has_params is not True:
        report.fail(
            ["grad_params"],
            case,
            "RegularizedLoss.has_params must be True: backward_pass "
            "collects the regularisers' gradients only from losses with parameters",
        )
        ok = False
    if ok:
        ok, out = call_student(
            report,
            case,
            loss.backward_params,
            quantities=["grad_params"],
            name="RegularizedLoss.backward_params",
            forbidden=forbidden,
        )
    if ok:
        _compare_regularizer_grads(report, case, out, [grads[k] for k in weights])
    return show(report)


def _compare_regularizer_grads(
    report: Report, case: str, out: Any, expected: list[np.ndarray]
) -> None:
    """'grad_params': a list of one [[W, dL/dW], name] per regulariser, each gradient right."""
    if not (isinstance(out, list | tuple) and len(out) == len(expected)):
        report.fail(
            ["grad_params"],
            case,
            "RegularizedLoss.backward_params() must return a list "
            f"with one [[W, grad], name] per regulariser ({len(expected)})",
        )
        return
    if not expected:
        report.add(
            verdict(
                "grad_params", True, "an empty list, as expected without regularisers", case=case
            )
        )
    for k, (item, ref) in enumerate(zip(out, expected)):
        grads, problem = _param_grads(item, 1, f"regulariser {k}'s")
        report.add(
            compare("grad_params", grads[0], ref, case=f"{case}, regulariser {k}")
            if grads is not None
            else verdict("grad_params", False, problem, case=case)
        )


# ----------------------------------------------------------------------------- bonus tasks


def check_conv_backward(
    conv_backward: Any, *, seed: int, N: int, C: int, H: int, W: int, filters: int, k: int
) -> Report:
    """(grad_inputs (N, C, H, W), grad_weights (filters, C, k, k), grad_bias (filters,)) =
    conv_backward(x, weights, grad_out) of a SAME, stride-1 convolution with an odd k x k
    kernel, against autograd of torch's conv2d. ``dlcourse.layers.im2col`` and ``conv2d`` may
    be used; the given ``Convolution`` layer (its backward pass is PyTorch's) and torch's
    convolution gradients may not."""
    report, rng = _start("conv_backward", seed)
    case = case_label(seed=seed, N=N, C=C, H=H, W=W, filters=filters, k=k)
    x, weights = rng.standard_normal((N, C, H, W)), rng.standard_normal((filters, C, k, k))
    g = rng.standard_normal((N, filters, H, W))  # upstream gradient
    forbidden = _forbidden(
        conv_backward,
        ("conv_backward", "col2im", "NumpyConvolution"),
        AUTOGRAD + (Convolution, torch.nn.grad.conv2d_input, torch.nn.grad.conv2d_weight, _conv),
    )
    ok, out = call_student(
        report,
        case,
        conv_backward,
        x,
        weights,
        g,
        name="conv_backward",
        outputs=3,
        forbidden=forbidden,
    )
    if ok:
        _, grads = autograd_reference(
            _conv, dict(x=x, w=weights, b=np.zeros(filters)), ["x", "w", "b"], grad_out=g
        )
        for quantity, mine, ref in zip(QUANTITIES["conv_backward"], out, grads.values()):
            report.add(compare(quantity, mine, ref, case=case))
    return show(report)


def check_multiclass_hinge_loss(
    multiclass_hinge_loss: Any, *, seed: int, N: int, C: int, delta: float = 1.0
) -> Report:
    """'loss' = multiclass_hinge_loss(logits, target, delta) for logits (N, C) float64 and
    target (N,) int64 tensors, and 'grad_logits' (autograd through the student's torch code),
    against 1/N sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta)."""
    report, rng = _start("multiclass_hinge_loss", seed)
    case = case_label(seed=seed, N=N, C=C, delta=delta)
    inputs = dict(
        logits=2 * rng.standard_normal((N, C)),
        target=rng.integers(0, C, N),
        delta=np.float64(delta),
    )
    ok, loss, grads = student_autograd(
        report,
        case,
        multiclass_hinge_loss,
        inputs,
        ["logits"],
        name="multiclass_hinge_loss",
        forbidden=_forbidden(
            multiclass_hinge_loss,
            ("multiclass_hinge_loss",),
            (F.multi_margin_loss, torch.nn.MultiMarginLoss, _hinge),
        ),
    )
    if ok:
        value, expected = autograd_reference(_hinge, inputs, ["logits"])
        report.add(compare("loss", loss, value, case=case))
        report.add(compare("grad_logits", grads["logits"], expected["logits"], case=case))
    return show(report)


# ----------------------------------------------------------------------------- PyTorch: models

_MODELS = {
    "mnist_convnet": ("MnistConvNet", (1, 28, 28), (16, 32), (512,)),
    "cifar_convnet": ("CifarConvNet", (3, 32, 32), (16, 32), (256, 128)),
}
"""Task -> (class, input (C, H, W), convolution channels, hidden fully connected sizes): two 5x5
SAME convolutions, pools that leave 7 x 7, then the fully connected layers."""


def _model_shapes(task: str, num_classes: int) -> list[tuple[int, ...]]:
    """The parameter shapes of the lab's network, in order of definition (weight, bias, ...)."""
    _, (channels, _, _), convs, hidden = _MODELS[task]
    shapes: list[tuple[int, ...]] = []
    for c_in, c_out in zip((channels, *convs), convs):
        shapes += [(c_out, c_in, 5, 5), (c_out,)]
    for n_in, n_out in zip((convs[-1] * 7 * 7, *hidden), (*hidden, num_classes)):
        shapes += [(n_out, n_in), (n_out,)]
    return shapes


def _draw_weights(rng: np.random.Generator, shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
    """He-uniform weights and biases of spread 0.2 (so every ReLU clips something), float32
    values: loaded into a float32 model and run in float64 they stay exact."""
    drawn = []
    for shape in shapes:
        if len(shape) > 1:
            bound = np.sqrt(6 / np.prod(shape[1:]))
            value = rng.uniform(-bound, bound, shape)
        else:
            value = 0.2 * rng.standard_normal(shape)
        drawn.append(torch.as_tensor(value, dtype=torch.float32))
    return drawn


def _reference_logits(task: str, weights: list[torch.Tensor], x: torch.Tensor, C: int) -> Any:
    """Logits (N, C) of the reference network with ``weights`` (in order), float64."""
    model = reference.reference("lab2", _MODELS[task][0])(C)
    model.load_state_dict(dict(zip(model.state_dict(), weights)))
    with torch.no_grad():
        return model.double()(x).numpy()


def _plain_dict(mapping: Any) -> dict[str, Any] | None:
    """A dict copy of a mapping (also of a grader's proxy of one), None if it is none."""
    try:
        return {key: mapping[key] for key in mapping}
    except Exception:  # not a mapping: the caller says so
        return None


def _match(state: Any, expected: list[tuple[int, ...]]) -> list[str] | str:
    """The state dict's keys in the order of ``expected`` shapes (each key once, any order of
    definition), or why its tensors are not the lab's parameters. The graded cases keep every
    shape distinct (num_classes is never 16, 32, 128, 256 or 512), so the match is unique."""
    if state is None or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "state_dict() did not return a dict of tensors (keep nn.Module's own state_dict)"
    free, keys = dict.fromkeys(state), []
    for shape in expected:
        key = next((k for k in free if tuple(state[k].shape) == shape), None)
        if key is None:
            break
        keys.append(key)
        del free[key]
    if len(keys) == len(expected) and not free:
        return keys
    shapes = [tuple(v.shape) for v in state.values()]
    count = sum(int(np.prod(s)) for s in shapes)
    return (
        f"the parameters have shapes {shapes}, {count:,} values; expected {expected}, "
        f"{sum(int(np.prod(s)) for s in expected):,}: 5x5 SAME convolutions and each pool as "
        "the lab says"
    )


def _check_convnet(task: str, student: Any, seed: int, N: int, num_classes: int) -> Report:
    """The shared check of the two networks (see ``check_mnist_convnet``)."""
    report, rng = _start(task, seed)
    name, image, _, _ = _MODELS[task]
    case = case_label(seed=seed, N=N, num_classes=None if num_classes == 10 else num_classes)
    shapes = _model_shapes(task, num_classes)
    weights, x = _draw_weights(rng, shapes), torch.as_tensor(rng.standard_normal((N, *image)))
    forbidden = _forbidden(student, (name,), ())
    ok, model = call_student(report, case, student, num_classes, name=name, forbidden=forbidden)
    if not ok:
        return show(report)
    ok, state = _student_call(report, case, model, "state_dict", name, ["parameters", "output"])
    keys = _match(_plain_dict(state), shapes) if ok else None
    if isinstance(keys, str):
        report.fail(["parameters", "output"], case, keys)
    elif ok:
        count = sum(int(np.prod(s)) for s in shapes)
        report.add(
            verdict("parameters", True, f"{len(shapes)} tensors, {count:,} values", case=case)
        )
        named = dict(zip(keys, weights))
        ok, _ = _student_call(report, case, model, "load_state_dict", name, ["output"], named)
    loaded = ok and isinstance(keys, list)
    quantities = ["output_shape", "output"] if loaded else ["output_shape"]
    ok, _ = _student_call(report, case, model, "double", name, quantities)
    ok, y = (
        call_student(
            report,
            case,
            model,
            x,
            name=f"{name}.forward",
            quantities=quantities,
            forbidden=forbidden,
        )
        if ok
        else (False, None)
    )
    if ok:
        _compare_logits(report, case, task, y, loaded, weights, x, num_classes)
    return show(report)


def _student_call(
    report: Report, case: str, obj: Any, method: str, owner: str, quantities: list[str], *args: Any
) -> tuple[bool, Any]:
    """``obj.<method>(*args)`` of a student's object, as ``call_student`` makes it."""
    ok, bound = _read(report, case, obj, method, owner, quantities)
    if not ok:
        return False, None
    return call_student(report, case, bound, *args, name=f"{owner}.{method}", quantities=quantities)


def _compare_logits(
    report: Report,
    case: str,
    task: str,
    y: Any,
    loaded: bool,
    weights: list[torch.Tensor],
    x: torch.Tensor,
    C: int,
) -> None:
    """'output_shape': (N, C), also for N = 1; 'output' (when the check's weights were loaded):
    the reference network's logits with the same weights."""
    N = len(x)
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y
    shape = tuple(getattr(y, "shape", ()))
    report.add(
        verdict(
            "output_shape",
            shape == (N, C),
            f"the logits have shape {shape}"
            + (
                "" if shape == (N, C) else f", expected {(N, C)}: one row per image, also for N = 1"
            ),
            case=case,
        )
    )
    if not loaded:
        return
    expected = _expected(f"{task}/{case}/output", lambda: _reference_logits(task, weights, x, C))
    if not isinstance(y, np.ndarray) or y.size != N * C:
        report.add(verdict("output", False, f"the logits have shape {shape}", case=case))
        return
    report.add(compare("output", np.asarray(y).reshape(N, C), expected, case=case))


def _expected(key: str, compute: Any) -> Any:
    """``compute()`` where the references are installed, else the handout's control output."""
    return reference.expected("lab2", key, compute)


def check_mnist_convnet(MnistConvNet: Any, *, seed: int, N: int, num_classes: int = 10) -> Report:
    """``MnistConvNet(num_classes)``: 'parameters': its state dict holds, in order, conv 16 5x5
    (1 channel), conv 32 5x5, fc 512, fc num_classes (weights and biases); 'output_shape': the
    logits of x (N, 1, 28, 28) are (N, num_classes), also for N = 1; 'output': with weights drawn
    by the check (``load_state_dict``, keys the student's own) and the model in float64
    (``double()``), the logits equal the reference network's with the same weights."""
    return _check_convnet("mnist_convnet", MnistConvNet, seed, N, num_classes)


def check_cifar_convnet(CifarConvNet: Any, *, seed: int, N: int, num_classes: int = 10) -> Report:
    """As ``check_mnist_convnet`` for ``CifarConvNet(num_classes)`` on x (N, 3, 32, 32): conv 16
    5x5, conv 32 5x5, fc 256, fc 128, fc num_classes."""
    return _check_convnet("cifar_convnet", CifarConvNet, seed, N, num_classes)


# ----------------------------------------------------------------------------- PyTorch: training


def check_learning_rate(
    learning_rate: Any, *, seed: int, epochs: int, lr_policy: dict[int, float] | None = None
) -> Report:
    """'lr': ``learning_rate(epoch, lr_policy)`` for epochs 1..``epochs`` equals the rate of the
    largest key <= epoch (the course's ``train.py``: {1: 0.1, 3: 0.01, 5: 0.001, 7: 1e-4}).
    Without ``lr_policy`` one is drawn: key 1 and a few later epochs, in shuffled order."""
    report, rng = _start("learning_rate", seed)
    if lr_policy is None:
        later = rng.choice(np.arange(2, epochs + 1), size=min(3, epochs - 1), replace=False)
        keys = rng.permutation([1, *later.tolist()]).tolist()
        lr_policy = {int(k): float(10.0 ** -rng.uniform(0, 4)) for k in keys}
    case = case_label(seed=seed, epochs=epochs, lr_policy=lr_policy)
    forbidden = _forbidden(learning_rate, ("learning_rate",), ())
    ok, rates = call_student_many(
        report,
        case,
        learning_rate,
        [(epoch, dict(lr_policy)) for epoch in range(1, epochs + 1)],
        name="learning_rate",
        forbidden=forbidden,
    )
    if ok:
        policy = dict(lr_policy)
        expected = _expected(
            f"learning_rate/{case}/lr",
            lambda: np.array(
                [_lab2_reference("learning_rate")(e, policy) for e in range(1, epochs + 1)]
            ),
        )
        report.add(compare("lr", _floats(rates), expected, case=f"{case}, epochs 1..{epochs}"))
    return show(report)


def _lab2_reference(name: str) -> Any:
    return reference.reference("lab2", name)


def _floats(values: Any) -> Any:
    """A list of numbers (python, numpy or one-element tensors) as a float64 array; else as is,
    for ``compare`` to say what it is."""
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return values


class TinyNet(nn.Module):
    """The network ``check_train_epoch`` trains: conv 3x3 (SAME) -> ReLU -> fc, float64. It
    records every forward call's (training mode, gradients enabled) in ``calls``."""

    def __init__(self, channels: int, size: int, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 3, 3, padding=1)
        self.fc = nn.Linear(3 * size * size, classes)
        self.calls: list[tuple[bool, bool]] = []
        self.double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.fc(torch.relu(self.conv(x)).flatten(1))

    def probe(self) -> dict[str, Any]:
        """What the check reads after the student's call: parameters, mode and the calls."""
        state = {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}
        return dict(state=state, training=self.training, calls=list(self.calls))


class FixedLogits(nn.Module):
    """A 'model' whose logits are given: x (B, 1) holds row numbers of ``table`` (N, C). It
    records every forward call's (training mode, gradients enabled) in ``calls``; its one
    parameter is unused (it tells a student's code the model's device)."""

    def __init__(self, table: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("table", torch.as_tensor(table, dtype=torch.float64))
        self.unused = nn.Parameter(torch.zeros(1, dtype=torch.float64))
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        rows = x.reshape(len(x), -1)[:, 0].round().long()
        return self.table[rows.to(self.table.device)]

    def probe(self) -> dict[str, Any]:
        return dict(training=self.training, calls=list(self.calls))


def run_on_model(
    fn: Any, model: Any, args: tuple, kwargs: dict, name: str, forbidden: tuple | None
) -> tuple[bool, Any, str, dict[str, Any]]:
    """``fn(model, *args, **kwargs)`` where ``fn`` lives (``run_where``), on ``model`` itself (a
    check's ``TinyNet`` or ``FixedLogits``, sent there by value) and copies of the rest: (ok,
    result, why not, ``model.probe()`` afterwards). The model and the tensors among ``args``
    are on the default device there (``config.device()``): code that sends its batches to the
    model's device, to the default one or nowhere works alike."""
    device = config.device()
    model.to(device)
    args = tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)
    ok, result, problem = _run_student(partial(fn, model), args, kwargs, name, forbidden)
    return ok, result, problem, model.probe()


def _call_on_model(
    report: Report,
    case: str,
    fn: Any,
    model: nn.Module,
    args: tuple,
    kwargs: dict,
    *,
    name: str,
    forbidden: tuple,
) -> tuple[bool, Any, dict[str, Any]]:
    """``run_on_model`` where the student's ``fn`` lives; on failure every quantity fails."""
    try:
        ok, result, problem, probe = run_where(
            fn, run_on_model, fn, model, args, kwargs, name, _watching(fn, forbidden)
        )
    except RemoteError as exc:
        ok, result, problem, probe = False, None, str(exc), {}
    if not ok:
        report.fail(report.quantities, case, problem)
    return ok, result, probe


def _reference_epoch(
    state: dict[str, torch.Tensor], shape: tuple[int, int, int], x: Any, y: Any, **options: Any
) -> dict[str, Any]:
    """The reference ``train_epoch`` on a ``TinyNet`` with ``state``: losses and parameters."""
    model = TinyNet(shape[0], shape[1], shape[2])
    model.load_state_dict(state)
    losses = _lab2_reference("train_epoch")(model, x, y, **options)
    return dict(losses=np.array(losses), state=model.probe()["state"])


def check_train_epoch(
    train_epoch: Any,
    *,
    seed: int,
    N: int,
    batch_size: int,
    lr: float = 0.1,
    weight_decay: float = 0.05,
    channels: int = 2,
    size: int = 4,
    classes: int = 3,
) -> Report:
    """``train_epoch(model, x, y, lr=, weight_decay=, batch_size=)`` on a ``TinyNet`` (float64)
    handed over in evaluation mode, x (N, channels, size, size), y (N,) int64 tensors:
    'losses': the returned list has each batch's mean cross-entropy (before its step), batches
    in the given order, the last one shorter when batch_size does not divide N (the number of
    losses and the first one are checked); 'parameters': the
    model's parameters afterwards equal plain SGD's with ``weight_decay`` W added to the
    gradient of every weight (dim > 1), not of the biases; 'mode': every forward call ran in
    training mode with gradients, and the model is left in training mode."""
    report, rng = _start("train_epoch", seed)
    case = case_label(seed=seed, N=N, batch_size=batch_size, lr=lr, weight_decay=weight_decay)
    model = TinyNet(channels, size, classes)
    state = {
        k: torch.as_tensor(rng.standard_normal(tuple(v.shape)) / np.sqrt(max(v[0].numel(), 1)))
        for k, v in model.state_dict().items()
    }
    model.load_state_dict(state)
    model.eval()
    x = torch.as_tensor(rng.standard_normal((N, channels, size, size)))
    y = torch.as_tensor(rng.integers(0, classes, N))
    options = dict(lr=lr, weight_decay=weight_decay, batch_size=batch_size)
    forbidden = _forbidden(train_epoch, ("train_epoch",), ())
    ok, losses, probe = _call_on_model(
        report, case, train_epoch, model, (x, y), options, name="train_epoch", forbidden=forbidden
    )
    if not ok:
        return show(report)
    expected = _expected(
        f"train_epoch/{case}",
        lambda: _reference_epoch(state, (channels, size, classes), x, y, **options),
    )
    _record_losses(report, case, _floats(losses), expected["losses"])
    for key, value in expected["state"].items():
        c = compare("parameters", probe["state"][key], value, case=f"{case}, {key} after the epoch")
        report.add(replace(c, hint=None))  # shape-based guesses mislead on a trained parameter
    _record_mode(report, case, probe, training=True)
    return show(report)


def _record_losses(report: Report, case: str, losses: Any, expected: np.ndarray) -> None:
    """'losses': one per batch, the first one the first batch's mean cross-entropy before any
    step (later ones follow the student's own steps: those are graded as 'parameters')."""
    if not isinstance(losses, np.ndarray) or losses.shape != expected.shape:
        report.add(
            verdict(
                "losses",
                False,
                f"train_epoch returned {_describe_losses(losses)}; expected {len(expected)} "
                "numbers, one per batch (the last batch shorter when batch_size does not "
                "divide N)",
                case=case,
            )
        )
        return
    report.add(compare("losses", losses[:1], expected[:1], case=f"{case}: first batch"))


def _describe_losses(losses: Any) -> str:
    if isinstance(losses, np.ndarray):
        return f"{len(losses)} numbers"
    return type(losses).__name__


def _record_mode(report: Report, case: str, probe: dict[str, Any], *, training: bool) -> None:
    """'mode': every forward call in training mode with gradients (``training``), or in
    evaluation mode without (not ``training``); the model left in training mode."""
    calls = probe["calls"]
    if not calls:
        report.add(verdict("mode", False, "the model was never called", case=case))
        return
    wrong = [i for i, (mode, grad) in enumerate(calls) if (mode, grad) != (training, training)]
    want = "training mode with gradients" if training else "eval mode under torch.no_grad()"
    if wrong:
        mode, grad = calls[wrong[0]]
        detail = (
            f"forward call {wrong[0] + 1} of {len(calls)} ran in "
            f"{'training' if mode else 'eval'} mode with gradients "
            f"{'enabled' if grad else 'disabled'}; expected {want}"
        )
    elif not probe["training"]:
        detail = "the model is left in eval mode; " + (
            "model.train() before the epoch" if training else "put it back as it came (training)"
        )
    else:
        detail = f"all {len(calls)} forward calls in {want}"
    report.add(verdict("mode", not wrong and probe["training"], detail, case=case))


# ----------------------------------------------------------------------------- PyTorch: evaluation

_METRICS = (
    sklearn.metrics.confusion_matrix,
    sklearn.metrics.accuracy_score,
    sklearn.metrics.precision_score,
    sklearn.metrics.recall_score,
    sklearn.metrics.precision_recall_fscore_support,
)
"""Library metrics would do the task (they are the check's oracle)."""

EVALUATION = ("loss", "confusion", "accuracy", "precision", "recall")
"""The keys of the dict ``evaluate`` returns (each one a quantity of its own)."""


def _evaluation_case(
    rng: np.random.Generator, N: int, C: int, ties: bool, absent: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and labels (N,): ``ties``: small integer logits, so rows often share their
    maximum (argmax takes the first); ``absent``: class 0 is never predicted and class C - 1
    never occurs (their precision and recall are 0, not nan)."""
    logits = rng.integers(0, 3, (N, C)).astype(np.float64) if ties else rng.standard_normal((N, C))
    y = rng.integers(0, C - 1 if absent else C, N)
    if absent:
        logits[:, 0] -= 10
    return logits, y


def check_evaluate(
    evaluate: Any,
    *,
    seed: int,
    N: int,
    C: int,
    ties: bool = False,
    absent: bool = False,
) -> Report:
    """``evaluate(model, x, y, C)`` for a model whose logits are fixed (``FixedLogits``, handed
    over in training mode; x (N, 1) float64 row numbers, y (N,) int64 numpy arrays) returns a
    dict: 'loss' (mean cross-entropy, a float), 'confusion' (C, C) integers, rows the true class,
    columns the predicted one (argmax, the first on ties), 'accuracy', 'precision' and 'recall'
    (C,) from it, 0 for a class never predicted or never present, all against scikit-learn;
    'mode': the model ran in eval mode under ``torch.no_grad()`` and is back in training mode."""
    report, rng = _start("evaluate", seed)
    case = case_label(seed=seed, N=N, C=C, ties=ties or None, absent=absent or None)
    logits, y = _evaluation_case(rng, N, C, ties, absent)
    forbidden = _forbidden(evaluate, ("evaluate",), _METRICS)
    model = FixedLogits(logits).train()
    x = np.arange(N, dtype=np.float64)[:, None]
    ok, result, probe = _call_on_model(
        report, case, evaluate, model, (x, y, C), {}, name="evaluate", forbidden=forbidden
    )
    if not ok:
        return show(report)
    result = _plain_dict(result)
    if result is None or not set(EVALUATION) <= set(result):
        report.fail(
            EVALUATION, case, f"evaluate must return a dict with the keys {list(EVALUATION)}"
        )
    else:
        expected = _sklearn_metrics(logits, y, C)
        likely = swapped_variants("precision", "recall", expected)
        for quantity, value in expected.items():
            variants = likely.get(quantity, [])
            report.add(compare(quantity, result[quantity], value, case=case, variants=variants))
    _record_mode(report, case, probe, training=False)
    return show(report)


def _sklearn_metrics(logits: np.ndarray, y: np.ndarray, C: int) -> dict[str, Any]:
    """The oracle: scikit-learn's metrics of the argmax predictions and torch's cross-entropy."""
    predicted, labels = logits.argmax(axis=1), np.arange(C)
    scores = dict(labels=labels, average=None, zero_division=0)
    return dict(
        loss=float(F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(y))),
        confusion=sklearn.metrics.confusion_matrix(y, predicted, labels=labels),
        accuracy=float(sklearn.metrics.accuracy_score(y, predicted)),
        precision=sklearn.metrics.precision_score(y, predicted, **scores).astype(np.float64),
        recall=sklearn.metrics.recall_score(y, predicted, **scores).astype(np.float64),
    )


def _worst_case(
    rng: np.random.Generator, N: int, C: int, misclassified: int, ties: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) of spread 1 and labels (N,): ``misclassified`` rows get another label than
    their argmax, the rest their argmax (correct, some with a larger loss than misclassified
    ones); ``ties``: a few rows are copies of others (equal losses) and a few have their 3rd and
    4th largest logits equal (two right top-3 answers; the 2nd and 3rd when C = 3)."""
    logits = rng.standard_normal((N, C))
    y = logits.argmax(axis=1)
    wrong = rng.choice(N, misclassified, replace=False)
    y[wrong] = (y[wrong] + rng.integers(1, C, misclassified)) % C
    if ties:
        for i, j in rng.choice(N, (max(N // 8, 1), 2), replace=False):
            logits[j], y[j] = logits[i], y[i]
        second, third = (2, 3) if C > 3 else (1, 2)  # below the row's maximum
        for i in rng.choice(N, max(N // 8, 1), replace=False):
            order = np.argsort(-logits[i])
            logits[i, order[third]] = logits[i, order[second]]
    return logits, y


def check_worst_k(
    worst_k: Any,
    *,
    seed: int,
    N: int,
    C: int,
    k: int = 20,
    misclassified: int = 10,
    ties: bool = False,
) -> Report:
    """``worst_k(logits, y, k)`` for logits (N, C) float64 and labels (N,) int64 returns
    (indices, top3): 'indices': the min(k, number misclassified) misclassified rows (argmax !=
    y) with the largest cross-entropy (the lowest probability of the true class), largest
    first, each row once (on equal losses any of them); 'top3': (len(indices), 3) each returned
    row's three most probable classes, most probable first (on equal logits any of them)."""
    report, rng = _start("worst_k", seed)
    case = case_label(seed=seed, N=N, C=C, k=k, misclassified=misclassified, ties=ties or None)
    logits, y = _worst_case(rng, N, C, misclassified, ties)
    forbidden = _forbidden(worst_k, ("worst_k",), ())
    ok, out = call_student(
        report, case, worst_k, logits, y, k, name="worst_k", outputs=2, forbidden=forbidden
    )
    if not ok:
        return show(report)
    losses = F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(y), reduction="none")
    losses = losses.numpy()
    expected = _expected(
        f"worst_k/{case}/indices", lambda: _lab2_reference("worst_k")(logits, y, k)[0]
    )
    indices = _indices(out[0], N)
    problem = _worst_problem(indices, N, logits.argmax(axis=1) != y, len(expected))
    if problem or indices is None:
        report.fail(["indices"], case, problem)
    else:
        report.add(
            compare("indices", losses[indices], losses[expected], case=f"{case}: their losses")
        )
    _record_top3(report, case, out[1], indices, logits)
    return show(report)


def _indices(value: Any, N: int) -> np.ndarray | None:
    """``value`` as a 1-D integer array of row numbers in [0, N), or None."""
    array = np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value)
    if array.ndim != 1 or array.dtype.kind not in "iu" or not np.all((array >= 0) & (array < N)):
        return None
    return array.astype(np.int64)


def _worst_problem(
    indices: np.ndarray | None, N: int, misclassified: np.ndarray, n: int
) -> str | None:
    """Why ``indices`` can't be the worst misclassified rows, before their losses, or None."""
    if indices is None:
        return f"indices must be a 1-D array of integer row numbers in [0, {N})"
    if len(indices) != n:
        return (
            f"{len(indices)} indices, expected {n}: min(k, number of misclassified rows "
            f"({int(misclassified.sum())}))"
        )
    if len(set(indices.tolist())) != n:
        return "a row is returned twice"
    if not misclassified[indices].all():
        first = int(indices[~misclassified[indices]][0])
        return f"row {first} is classified correctly; only misclassified rows count"
    return None


def _record_top3(
    report: Report, case: str, top3: Any, indices: np.ndarray | None, logits: np.ndarray
) -> None:
    """'top3': for each returned row, its 3 classes' logits are the row's 3 largest, in order."""
    array = np.asarray(top3.cpu() if isinstance(top3, torch.Tensor) else top3)
    if indices is None or array.shape != (len(indices), 3) or array.dtype.kind not in "iu":
        report.fail(
            ["top3"], case, "top3 must be integer classes, shape (number of indices returned, 3)"
        )
        return
    C = logits.shape[1]
    if not (np.all((array >= 0) & (array < C)) and all(len(set(row)) == 3 for row in array)):
        report.fail(["top3"], case, f"top3 must hold 3 different classes in [0, {C}) per row")
        return
    rows = logits[indices]  # (n, C)
    mine = np.take_along_axis(rows, array, axis=1)
    largest = -np.sort(-rows, axis=1)[:, :3]
    increasing = Variant(
        largest[:, ::-1], "are your top 3 in increasing order? The most probable class comes first"
    )
    report.add(
        compare(
            "top3", mine, largest, case=f"{case}: the logits of your top 3", variants=[increasing]
        )
    )
