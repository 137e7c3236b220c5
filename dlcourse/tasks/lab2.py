"""Lab 2 (convolutional models): the graded checks, one per task (see docs/lab2-contract.md).

Every ``check_<task>(student, *, seed, ...)`` seeds everything with ``seed``, draws its inputs
from ``np.random.default_rng(seed)``, talks to the student's class or function only through
``call_student`` (constructors and methods alike) and plain attribute reads, compares each
quantity with PyTorch autograd in float64 under a random upstream gradient (oracles built on
autograd and torch's own functions, never an implementation of a task), prints the report and
returns it. Autograd, numerical differentiation and the instructors' references
(``autograder.reference.lab2``, where installed) are refused inside the student's code.

Every expected value comes from such an oracle, so the handout needs no control outputs for this
lab, and no check runs one task on another: ``check_regularized_loss`` hands the student's class a
data loss and regularisers that return autograd's values for the case (``_RecordedLoss``,
``_RecordedL2``), in the handout as in the grader.

Layers are built as in the lab: ``FC(input_layer, num_outputs, name, weights_initializer_fn=...,
bias_initializer_fn=...)``, ``ReLU(input_layer, name)``, where ``input_layer`` is anything with a
``.shape`` (here the input array). ``check_fc`` hands FC initialisers of its own
(``init_weights``, ``init_bias``: fixed pseudo-random values, a nonzero bias) and reads the
parameters back, so the weights' layout (num_outputs, num_inputs) is checked too. Methods are
called with positional arguments only, so a student's argument names are theirs to choose (the
contract's are ``forward(x)``, ``backward_inputs(grad_out)``, ``backward_params(grad_out)``).

Task ids are snake_case as in every lab (``fc``, ``relu``, ``softmax_cross_entropy_with_logits``,
``l2_regularizer``, ``regularized_loss``); the classes the student writes keep the course's names
(``FC``, ``ReLU``, ...), and messages name those.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import scipy.special
import torch
import torch.nn.functional as F

from dlcourse import reference
from dlcourse.check import (
    AUTOGRAD,
    Report,
    autograd_reference,
    call_student,
    case_label,
    case_starter,
    compare,
    show,
    student_autograd,
    verdict,
)
from dlcourse.layers import Convolution

TASKS: dict[str, int] = {
    "fc": 4,
    "relu": 2,
    "softmax_cross_entropy_with_logits": 3,
    "l2_regularizer": 2,
    "regularized_loss": 3,
    "conv_backward": 3,
    "multiclass_hinge_loss": 2,
}
"""Task id -> points: the one place they are declared (``dlcourse.tasks``). The gradient
check is given (``dlcourse.check.numerical_gradient``), not graded."""

BONUS: frozenset[str] = frozenset({"conv_backward", "multiclass_hinge_loss"})
"""Extra credit: added to the score, not to the maximum."""

QUANTITIES: dict[str, tuple[str, ...]] = {
    "fc": ("forward", "backward_inputs", "grad_weights", "grad_bias"),
    "relu": ("forward", "backward_inputs"),
    "softmax_cross_entropy_with_logits": ("loss", "grad_inputs", "large_logits"),
    "l2_regularizer": ("loss", "grad_weights"),
    "regularized_loss": ("loss", "grad_inputs", "grad_params"),
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
        report.add(compare("loss", mine, value, case=case))
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
