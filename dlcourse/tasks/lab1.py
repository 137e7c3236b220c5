"""Lab 1 (fully connected models): the graded checks, one per task (see docs/lab1-contract.md).

Every ``check_<task>(student, *, seed, ...)`` seeds everything with ``seed`` and draws its inputs
from ``np.random.default_rng(seed)``, calls the student's code only through ``call_student`` and
``student_autograd`` (an exception or a call into a course reference costs only that case),
compares each quantity with an oracle, prints the report and returns it. Oracles: PyTorch autograd
in float64 for losses, gradients, probabilities and fcann2's gradient descent
(``autograd_reference``), scikit-learn's ``SVC`` for ``KSVMWrap``,
``torch.nn.functional.batch_norm`` for ``BatchNorm``, and for the trajectories of ``train``,
``train_mb`` and early stopping (and ``eval``'s probabilities) the instructors' references
(``autograder.reference.lab1``) through ``dlcourse.reference.expected``: computed where they are
installed, the control outputs recorded for the visible cases in the student handout.

Tasks that build on another one are graded on their own where the references are installed (the
grader): ``fcann2_train`` runs with the reference ``fcann2_loss_grad``, early stopping with the
reference ``eval``. In the handout they run on the student's own earlier functions, as the
notebook does. ``train``, ``eval``, ``train_mb`` and early stopping train a given model
(``_Net``: ``torch.nn.Linear`` layers, float64, parameters drawn from the case's seed), the same
in the grader and in the handout. Student models are given known parameters through
``load_state_dict`` and differentiated by ``student_autograd``. Randomness inside the student's
code (initialisation, shuffling) is checked by its properties: the same seed gives the same
initialisation, every epoch covers the data once in a new order.

Expected values that come from a reference are computed before the student's code runs, so that
recording them (``python -m autograder release``, the references standing in for the student)
does not depend on how the student's call goes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.svm import SVC
from torch import nn

from dlcourse import config
from dlcourse import reference as references
from dlcourse.check import (
    AUTOGRAD,
    Report,
    Variant,
    autograd_reference,
    call_student,
    case_label,
    case_starter,
    compare,
    isolate,
    regularisation_variants,
    show,
    softmax_variants,
    student_autograd,
    verdict,
)

T = TypeVar("T")

TASKS: dict[str, int] = {
    "fcann2_loss_grad": 5,
    "fcann2_train": 2,
    "fcann2_classify": 1,
    "linreg_grads": 2,
    "ptlogreg": 3,
    "train": 2,
    "eval": 1,
    "ptdeep": 4,
    "ksvmwrap": 3,
    "train_mb": 4,
    "early_stopping": 2,
    "batchnorm": 4,
}
"""Task id -> points: the one place they are declared (``dlcourse.tasks``)."""

BONUS: frozenset[str] = frozenset({"batchnorm"})
"""Extra credit: added to the score, not to the maximum."""

QUESTIONS: dict[str, int] = {
    "q_ptdeep_configurations": 2,
    "q_weight_images": 1,
    "q_deep_regularisation": 2,
    "q_full_vs_minibatch": 2,
    "q_early_stopping": 2,
    "q_adam": 2,
}
"""Question id -> points of its written answer, graded by hand (``dlcourse.tasks``)."""

QUANTITIES: dict[str, tuple[str, ...]] = {
    "fcann2_loss_grad": ("loss", "grad_W1", "grad_b1", "grad_W2", "grad_b2"),
    "fcann2_train": ("init", "W1", "b1", "W2", "b2"),
    "fcann2_classify": ("probs",),
    "linreg_grads": ("grad_a", "grad_b"),
    "ptlogreg": ("parameters", "probs", "loss"),
    "train": ("losses", "regularised"),
    "eval": ("probs",),
    "ptdeep": ("parameters", "count_params", "probs", "loss"),
    "ksvmwrap": ("predict", "scores", "support"),
    "train_mb": ("full_batch", "batches", "shuffled", "schedule"),
    "early_stopping": ("val_accuracy", "best_epoch"),
    "batchnorm": ("train_output", "train_grads", "running_stats", "eval"),
}
"""Task id -> the quantities graded (each one an equal share of the task's points)."""

# the instructors' PyTorch references (where installed): any of them would do a task
_FC = ("PTLogreg", "PTDeep", "cross_entropy", "l2_penalty", "train", "train_mb", "eval", "predict")
# training tasks get a given model, whose methods they may call
_TRAINING = ("l2_penalty", "train", "train_mb", "eval", "predict")
_PARAMS = ("W1", "b1", "W2", "b2")


# ----------------------------------------------------------------------------- references


def _reference(name: str) -> Any | None:
    """``autograder.reference.lab1.<name>``, or None where the references are not installed (the
    student handout, a grading kernel)."""
    return references.reference("lab1", name)


def _references(*names: str) -> tuple[Any, ...]:
    """The installed references among ``names`` (none in the handout): calls a check forbids."""
    return tuple(r for r in map(_reference, names) if r is not None)


def _expected(key: str, compute: Callable[[], T]) -> T:
    """``compute()`` (from the references) where they are installed, else the control output
    recorded for ``key`` when the handout was built (``NoControl`` for the grader's cases)."""
    return references.expected("lab1", key, compute)


def _isolated(fn: Any, **dependencies: Any) -> AbstractContextManager[list[str]]:
    """``isolate(fn, ...)`` with those of ``dependencies`` that are installed: the grader grades a
    task on its own, the handout runs it on the student's own earlier functions."""
    return isolate(fn, **{k: v for k, v in dependencies.items() if v is not None})


# ----------------------------------------------------------------------------- torch oracles


def _linreg_loss(
    X: torch.Tensor, Y: torch.Tensor, a: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """mean_i (a x_i + b - y_i)^2."""
    return ((a * X + b - Y) ** 2).mean()


def _fcann2_scores(
    X: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    """relu(X W1^T + b1) W2^T + b2: (N, C)."""
    return torch.relu(X @ W1.T + b1) @ W2.T + b2


def _fcann2_loss(
    X: torch.Tensor,
    Y_: torch.Tensor,
    W1: torch.Tensor,
    b1: torch.Tensor,
    W2: torch.Tensor,
    b2: torch.Tensor,
    *,
    param_lambda: float,
) -> torch.Tensor:
    """Mean cross-entropy of softmax(scores) + param_lambda (||W1||_F^2 + ||W2||_F^2)."""
    return F.cross_entropy(_fcann2_scores(X, W1, b1, W2, b2), Y_) + param_lambda * (
        (W1**2).sum() + (W2**2).sum()
    )


def _fcann2_probs(
    X: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    return torch.softmax(_fcann2_scores(X, W1, b1, W2, b2), dim=1)


def _fcann2_reference(
    X: np.ndarray,
    Y_: np.ndarray,
    W1: np.ndarray,
    b1: np.ndarray,
    W2: np.ndarray,
    b2: np.ndarray,
    param_lambda: float = 0.0,
) -> tuple[float, tuple[np.ndarray, ...]]:
    """What a correct fcann2_loss_grad returns: (loss, (grad_W1, grad_b1, grad_W2, grad_b2))."""
    loss, grads = autograd_reference(
        partial(_fcann2_loss, param_lambda=param_lambda),
        dict(X=X, Y_=Y_, W1=W1, b1=b1, W2=W2, b2=b2),
        _PARAMS,
    )
    return float(loss), tuple(grads[k] for k in _PARAMS)


def _logreg_probs(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.softmax(X @ W.T + b, dim=1)


def _logreg_loss(
    X: torch.Tensor, Yoh_: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    return F.cross_entropy(X @ W.T + b, Yoh_)  # one-hot rows as class probabilities


def _deep_logits(X: torch.Tensor, activation: Any, **params: torch.Tensor) -> torch.Tensor:
    """Scores of PTDeep with parameters weights.i (out, in) and biases.i (out,)."""
    h, layers = X, len(params) // 2
    for i in range(layers):
        h = h @ params[f"weights.{i}"].T + params[f"biases.{i}"]
        if i < layers - 1:
            h = activation(h)
    return h


def _deep_probs(X: torch.Tensor, *, activation: Any, **params: torch.Tensor) -> torch.Tensor:
    return torch.softmax(_deep_logits(X, activation, **params), dim=1)


def _deep_loss(
    X: torch.Tensor, Yoh_: torch.Tensor, *, activation: Any, **params: torch.Tensor
) -> torch.Tensor:
    return F.cross_entropy(_deep_logits(X, activation, **params), Yoh_)


def _batch_norm(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    *,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool,
    momentum: float,
    eps: float,
) -> torch.Tensor:
    """torch.nn.functional.batch_norm on copies of the running statistics."""
    rm, rv = (torch.as_tensor(np.array(s), device=x.device) for s in (running_mean, running_var))
    return F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=momentum, eps=eps)


# ----------------------------------------------------------------------------- shared steps

_start = case_starter(QUANTITIES, TASKS)


def _compare_all(
    report: Report,
    case: str,
    quantities: tuple[str, ...],
    yours: tuple,
    expected: tuple,
    variants: list[list[Variant]] = (),
) -> None:
    """Compare each quantity with its expected value; ``variants``: each one's likely mistakes
    (``dlcourse.check.diagnosis``), for the hints."""
    for k, (quantity, mine, ref) in enumerate(zip(quantities, yours, expected)):
        likely = variants[k] if variants else ()
        report.add(compare(quantity, mine, ref, case=case, variants=likely))


def _flat_outputs(out: tuple[float, tuple[np.ndarray, ...]]) -> tuple[Any, ...]:
    """(loss, (grads...)) -> (loss, grad, grad, ...)."""
    return (np.float64(out[0]), *out[1])


def _at(variants: list[list[Variant]], k: int) -> list[Variant]:
    """The k-th quantity's variants, or none (lambda = 0: no regularisation variants)."""
    return variants[k] if variants else []


def _classes(rng: np.random.Generator, N: int, D: int, C: int) -> tuple[np.ndarray, np.ndarray]:
    """X (N, D) around C random centres, Y_ (N,) with every class present (N >= C)."""
    Y_ = rng.permutation(np.arange(N) % C)
    X = 2 * rng.standard_normal((C, D))[Y_] + rng.standard_normal((N, D))
    return X, Y_


def _onehot(Y_: np.ndarray, C: int) -> np.ndarray:
    return np.eye(C)[Y_]  # (N, C) float64


def _tensor(x: np.ndarray) -> torch.Tensor:
    """A float64 (integer arrays keep their dtype) tensor on the grading device."""
    t = torch.as_tensor(x, device=config.device())
    return t.double() if t.is_floating_point() else t


class _Net(nn.Module):
    """The model ``train``, ``eval``, ``train_mb`` and early stopping get: ``torch.nn.Linear``
    layers of ``sizes`` = [D, H1, ..., C] with ReLU between them, float64; ``forward`` returns the
    class probabilities (N, C), ``get_loss`` the mean cross-entropy with one-hot labels.

    Given course code (the ``PTDeep`` task writes its layers by hand): the handout builds the very
    model its control outputs were recorded with. Weights N(0, 1/in) from ``rng`` (numpy, so the
    same on every machine and torch version), zero biases.
    """

    def __init__(self, sizes: list[int], rng: np.random.Generator) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layer = nn.Linear(n_in, n_out, dtype=torch.float64)
            with torch.no_grad():
                layer.weight.copy_(
                    torch.from_numpy(rng.standard_normal((n_out, n_in)) / math.sqrt(n_in))
                )
                layer.bias.zero_()
            self.layers.append(layer)

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            X = torch.relu(layer(X))
        return self.layers[-1](X)  # (N, C)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(X), dim=1)

    def get_loss(self, X: torch.Tensor, Yoh_: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(X), Yoh_)


def _given_model(sizes: list[int], rng: np.random.Generator) -> _Net:
    """``_Net(sizes)`` drawn from ``rng``, on the grading device."""
    return _Net(sizes, rng).to(config.device())


def _floats(x: Any, what: str, n: int | None = None) -> tuple[np.ndarray | None, str]:
    """A list of numbers (floats, numpy scalars, 0-d tensors) as a float64 array, or why not."""
    if isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim == 1:
        x = list(x)
    if not isinstance(x, (list, tuple)):
        return None, f"{what} is a {type(x).__name__}; expected a list of floats"
    try:
        values = np.array([float(v) for v in x])
    except (TypeError, ValueError, RuntimeError):
        return None, f"{what} holds items that are not numbers (use loss.item())"
    if n is not None and len(values) != n:
        return None, f"{what} has {len(values)} items, expected {n}"
    return values, ""


def _state(
    report: Report,
    case: str,
    model: Any,
    name: str,
    expected: dict[str, tuple[int, ...]],
    quantity: str,
    dependents: list[str],
) -> bool:
    """Whether ``model.state_dict()`` holds the tensors ``expected`` (name -> shape): a verdict
    on ``quantity``; when not, the ``dependents`` (quantities that need them) fail too."""
    ok, state = call_student(
        report,
        case,
        getattr(model, "state_dict", None),
        name=f"{name}.state_dict",
        quantities=[quantity, *dependents],
    )
    if not ok:
        return False
    shapes = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    wanted = ", ".join(f"{k} {s}" for k, s in expected.items())
    missing = [k for k in expected if shapes.get(k) != expected[k]]
    found = ", ".join(f"{k} {s}" for k, s in shapes.items()) or "none"
    report.add(
        verdict(
            quantity,
            not missing,
            f"expected {wanted}; yours has {found}" if missing else wanted,
            case=case,
        )
    )
    if missing:
        report.fail(dependents, case, f"needs {wanted}")
    return not missing


def _load(
    report: Report,
    case: str,
    model: Any,
    name: str,
    values: dict[str, np.ndarray],
    quantities: list[str],
) -> bool:
    """Put float64 ``values`` into the student's model (model.double(), load_state_dict)."""
    ok, _ = call_student(
        report, case, getattr(model, "double", None), name=f"{name}.double", quantities=quantities
    )
    if ok:
        state = {k: _tensor(v) for k, v in values.items()}
        ok, _ = call_student(
            report,
            case,
            getattr(model, "load_state_dict", None),
            state,
            strict=False,
            name=f"{name}.load_state_dict",
            quantities=quantities,
        )
    return ok


def _compare_autograd(
    report: Report,
    case: str,
    quantity: str,
    out: np.ndarray,
    grads: dict[str, np.ndarray],
    ref_out: np.ndarray,
    ref_grads: dict[str, np.ndarray],
) -> None:
    """Output and each gradient under one quantity; messages name the gradient."""
    report.add(compare(quantity, out, ref_out, case=case))
    for k, g in ref_grads.items():
        report.add(compare(quantity, grads.get(k), g, case=f"{case}, gradient w.r.t. {k}"))


# ----------------------------------------------------------------------------- linear regression


def check_linreg_grads(fn: Any, *, seed: int, N: int) -> Report:
    """(grad_a, grad_b) = fn(X, Y, a, b) against autograd of mean_i (a x_i + b - y_i)^2;
    X, Y (N,), a, b floats."""
    report, rng = _start("linreg_grads", seed)
    case = case_label(seed=seed, N=N)
    X, Y = rng.standard_normal(N), rng.standard_normal(N)  # (N,), (N,)
    a, b = float(rng.standard_normal()), float(rng.standard_normal())
    ok, out = call_student(
        report,
        case,
        fn,
        X,
        Y,
        a,
        b,
        name="linreg_grads",
        outputs=2,
        forbidden=AUTOGRAD + (_linreg_loss,) + _references("linreg_grads"),
    )
    if ok:
        _, grads = autograd_reference(_linreg_loss, dict(X=X, Y=Y, a=a, b=b), ["a", "b"])
        _compare_all(report, case, ("grad_a", "grad_b"), out, (grads["a"], grads["b"]))
    return show(report)


# ----------------------------------------------------------------------------- fcann2 (numpy)


def _fcann2_params(
    rng: np.random.Generator, D: int, H: int, C: int, scale: float
) -> tuple[np.ndarray, ...]:
    """Random W1 (H, D), b1 (H,), W2 (C, H), b2 (C,); scale multiplies W2 (large scores)."""
    return (
        rng.standard_normal((H, D)),
        rng.standard_normal(H),
        scale * rng.standard_normal((C, H)),
        rng.standard_normal(C),
    )


def check_fcann2_loss_grad(
    fn: Any,
    *,
    seed: int,
    N: int,
    D: int,
    H: int,
    C: int,
    param_lambda: float = 0.0,
    scale: float = 1.0,
) -> Report:
    """loss and the gradients w.r.t. W1 (H, D), b1 (H,), W2 (C, H), b2 (C,) of
    fn(X, Y_, W1, b1, W2, b2, param_lambda=...) -> (loss, (grad_W1, grad_b1, grad_W2, grad_b2))
    against autograd. ``scale`` multiplies W2: scores in the hundreds overflow a naive softmax."""
    report, rng = _start("fcann2_loss_grad", seed)
    case = case_label(
        seed=seed,
        N=N,
        D=D,
        H=H,
        C=C,
        param_lambda=param_lambda or None,
        scale=None if scale == 1 else scale,
    )
    X, Y_ = rng.standard_normal((N, D)), rng.integers(0, C, N)  # (N, D), (N,)
    params = _fcann2_params(rng, D, H, C, scale)
    ok, out = call_student(
        report,
        case,
        fn,
        X,
        Y_,
        *params,
        param_lambda=param_lambda,
        outputs=2,
        name="fcann2_loss_grad",
        forbidden=AUTOGRAD + (_fcann2_loss, _fcann2_reference) + _references("fcann2_loss_grad"),
    )
    if not ok:
        return show(report)
    loss, grads = out
    ref_loss, ref_grads = _fcann2_reference(X, Y_, *params, param_lambda)
    mistakes = regularisation_variants(
        lambda lam: _flat_outputs(_fcann2_reference(X, Y_, *params, lam)), param_lambda
    )
    report.add(compare("loss", loss, np.float64(ref_loss), case=case, variants=_at(mistakes, 0)))
    names = [f"grad_{k}" for k in _PARAMS]
    if isinstance(grads, (tuple, list)) and len(grads) == 4:
        _compare_all(report, case, tuple(names), grads, ref_grads, mistakes[1:])
    else:
        report.fail(
            names,
            case,
            "the second return value must be the tuple (grad_W1, grad_b1, " "grad_W2, grad_b2)",
        )
    return show(report)


def _gradient_descent(
    params: tuple[np.ndarray, ...],
    X: np.ndarray,
    Y_: np.ndarray,
    param_niter: int,
    param_delta: float,
    param_lambda: float,
) -> list[np.ndarray]:
    """param_niter steps of p <- p - param_delta * dL/dp from ``params``, autograd's gradients:
    an oracle the handout has too (the student's initialisation is not known beforehand)."""
    params = list(params)
    for _ in range(param_niter):
        _, grads = _fcann2_reference(X, Y_, *params, param_lambda)
        params = [p - param_delta * g for p, g in zip(params, grads)]
    return params


def _init_problem(init: Any, again: Any, other: Any, D: int, H: int, C: int) -> str | None:
    """Why three initialisations (seed s, s again, another seed) break the contract, or None."""
    shapes = ((H, D), (H,), (C, H), (C,))
    for name, p, shape in zip(_PARAMS, init, shapes):
        if not (
            isinstance(p, np.ndarray)
            and p.shape == shape
            and p.dtype == np.float64
            and np.isfinite(p).all()
        ):
            return f"{name} must be a finite float64 array of shape {shape}"
    if len({init[0][i].tobytes() for i in range(H)}) < H:
        return "hidden units start with identical weights (W1 rows): draw W1 at random"
    if np.any(init[1]) or np.any(init[3]):
        return "b1 and b2 must start at zero (did training run before returning?)"
    if not all(np.array_equal(p, q) for p, q in zip(init, again)):
        return (
            "the same seed gave different initial parameters: draw them from "
            "np.random.default_rng(seed)"
        )
    if all(np.array_equal(p, q) for p, q in zip(init, other)):
        return "different seeds gave the same initial parameters: use the seed argument"
    return None


def check_fcann2_train(
    fn: Any,
    *,
    seed: int,
    N: int,
    D: int,
    C: int,
    param_hidden: int,
    param_niter: int,
    param_delta: float,
    param_lambda: float = 0.0,
) -> Report:
    """'init': fn(..., param_niter=0, seed=s) returns the initial (W1, b1, W2, b2): right shapes,
    random W1, zero biases, the same for the same seed, different for another; 'W1'..'b2':
    fn(..., param_niter) equals gradient descent from that initialisation. Runs with the reference
    fcann2_loss_grad where installed (the grader); in the handout with the student's own, so a
    wrong fcann2_loss_grad shows here too."""
    report, rng = _start("fcann2_train", seed)
    case = case_label(
        seed=seed,
        N=N,
        D=D,
        C=C,
        param_hidden=param_hidden,
        param_niter=param_niter,
        param_delta=param_delta,
        param_lambda=param_lambda or None,
    )
    X, Y_ = _classes(rng, N, D, C)
    student = partial(
        call_student,
        report,
        case,
        fn,
        X,
        Y_,
        param_hidden=param_hidden,
        param_delta=param_delta,
        param_lambda=param_lambda,
        outputs=4,
        name="fcann2_train",
        forbidden=(_gradient_descent, _fcann2_reference) + _references("fcann2_train"),
    )
    inits = []
    with _isolated(fn, fcann2_loss_grad=_reference("fcann2_loss_grad")):
        for s in (seed, seed, seed + 1):  # same seed twice, then another
            ok, init = student(param_niter=0, seed=s, quantities=["init"])
            if not ok:
                report.fail(
                    _PARAMS, case, "needs the initialisation (param_niter=0) to compare with"
                )
                return show(report)
            inits.append(init)
        ok, trained = student(param_niter=param_niter, seed=seed, quantities=list(_PARAMS))
    problem = _init_problem(*inits, D, param_hidden, C)
    report.add(verdict("init", problem is None, problem or "shapes, random W1, seeded", case=case))
    if ok and problem is None:
        expected = _gradient_descent(tuple(inits[0]), X, Y_, param_niter, param_delta, param_lambda)
        _compare_all(report, case, _PARAMS, trained, expected)
    elif ok:
        report.fail(_PARAMS, case, "needs a valid, seeded initialisation to compare with")
    return show(report)


def check_fcann2_classify(
    fn: Any, *, seed: int, N: int, D: int, H: int, C: int, scale: float = 1.0
) -> Report:
    """probs = fn(X, W1, b1, W2, b2) against softmax(relu(X W1^T + b1) W2^T + b2), (N, C)."""
    report, rng = _start("fcann2_classify", seed)
    case = case_label(seed=seed, N=N, D=D, H=H, C=C, scale=None if scale == 1 else scale)
    X = rng.standard_normal((N, D))
    params = _fcann2_params(rng, D, H, C, scale)
    ok, probs = call_student(
        report,
        case,
        fn,
        X,
        *params,
        name="fcann2_classify",
        forbidden=(_fcann2_probs,) + _references("fcann2_classify"),
    )
    if ok:
        inputs = dict(zip(("X",) + _PARAMS, (X,) + params))
        expected = autograd_reference(_fcann2_probs, inputs, [])[0]
        likely = softmax_variants(autograd_reference(_fcann2_scores, inputs, [])[0])
        report.add(compare("probs", probs, expected, case=case, variants=likely))
    return show(report)


# ----------------------------------------------------------------------------- PyTorch models


def _check_model(
    report: Report,
    case: str,
    model: Any,
    name: str,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Yoh_: np.ndarray,
    seed: int,
    probs_fn: Any,
    loss_fn: Any,
) -> None:
    """'probs' and 'loss' of a student's model holding ``params``: forward(X) and
    get_loss(X, Yoh_), values and gradients (w.r.t. X and every parameter), against autograd."""
    if not _load(report, case, model, name, params, ["probs", "loss"]):
        return
    runs = (
        ("probs", "forward", {"X": X}, probs_fn),
        ("loss", "get_loss", {"X": X, "Yoh_": Yoh_}, loss_fn),
    )
    for quantity, method, inputs, oracle in runs:
        ok, out, grads = student_autograd(
            report,
            case,
            getattr(model, method, None),
            inputs,
            ["X"],
            module=model,
            seed=seed,
            name=f"{name}.{method}",
            quantities=[quantity],
            forbidden=_references(*_FC),
        )
        if ok:
            ref_out, ref_grads = autograd_reference(
                oracle, {**inputs, **params}, ["X", *params], seed=seed
            )
            _compare_autograd(report, case, quantity, out, grads, ref_out, ref_grads)


def check_ptlogreg(
    PTLogreg: Any, *, seed: int, N: int, D: int, C: int, scale: float = 1.0
) -> Report:
    """'parameters': PTLogreg(D, C) has parameters W (C, D) and b (C,); 'probs': forward(X)
    (N, C) probabilities, 'loss': get_loss(X, Yoh_) the mean cross-entropy; both with given
    parameters, their values and gradients against autograd."""
    report, rng = _start("ptlogreg", seed)
    case = case_label(seed=seed, N=N, D=D, C=C, scale=None if scale == 1 else scale)
    X, Y_ = rng.standard_normal((N, D)), rng.integers(0, C, N)
    params = {"W": scale * rng.standard_normal((C, D)), "b": rng.standard_normal(C)}
    ok, model = call_student(
        report, case, PTLogreg, D, C, name="PTLogreg", forbidden=_references(*_FC)
    )
    if ok and _state(
        report, case, model, "PTLogreg", {"W": (C, D), "b": (C,)}, "parameters", ["probs", "loss"]
    ):
        _check_model(
            report,
            case,
            model,
            "PTLogreg",
            params,
            X,
            _onehot(Y_, C),
            seed,
            _logreg_probs,
            _logreg_loss,
        )
    return show(report)


def _deep_shapes(config: list[int]) -> dict[str, tuple[int, ...]]:
    """weights.i (config[i+1], config[i]), biases.i (config[i+1],) of PTDeep(config)."""
    shapes = {}
    for i, (n_in, n_out) in enumerate(zip(config[:-1], config[1:])):
        shapes[f"weights.{i}"], shapes[f"biases.{i}"] = (n_out, n_in), (n_out,)
    return shapes


def check_ptdeep(PTDeep: Any, *, seed: int, config: list[int], activation: Any, N: int) -> Report:
    """'parameters': PTDeep(config, activation) keeps W_i (config[i+1], config[i]) and b_i in the
    ParameterLists ``weights`` and ``biases``; 'count_params': count_params() returns their
    number of scalars; 'probs', 'loss': forward and get_loss with given parameters, values and
    gradients against autograd (``activation`` after every layer but the last)."""
    report, rng = _start("ptdeep", seed)
    act = getattr(activation, "__name__", str(activation))
    case = case_label(seed=seed, config=config, activation=act, N=N)
    D, C = config[0], config[-1]
    X, Y_ = rng.standard_normal((N, D)), rng.integers(0, C, N)
    shapes = _deep_shapes(config)
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    ok, model = call_student(
        report, case, PTDeep, list(config), activation, name="PTDeep", forbidden=_references(*_FC)
    )
    if not ok:
        return show(report)
    ok_count, count = call_student(
        report,
        case,
        getattr(model, "count_params", None),
        name="PTDeep.count_params",
        quantities=["count_params"],
    )
    if ok_count:
        total = np.int64(sum(math.prod(s) for s in shapes.values()))
        report.add(compare("count_params", count, total, case=case))
    if _state(report, case, model, "PTDeep", shapes, "parameters", ["probs", "loss"]):
        _check_model(
            report,
            case,
            model,
            "PTDeep",
            params,
            X,
            _onehot(Y_, C),
            seed,
            partial(_deep_probs, activation=activation),
            partial(_deep_loss, activation=activation),
        )
    return show(report)


# ----------------------------------------------------------------------------- PyTorch training


def _problem_data(seed: int, N: int, D: int, C: int, hidden: list[int]) -> tuple[Any, ...]:
    """Seeded classification data and a given model: (X, Y_, Yoh_ tensors, model)."""
    rng = np.random.default_rng(seed)
    X, Y_ = _classes(rng, N, D, C)
    return _tensor(X), Y_, _tensor(_onehot(Y_, C)), _given_model([D, *hidden, C], rng)


def check_train(
    fn: Any,
    *,
    seed: int,
    N: int,
    D: int,
    C: int,
    param_niter: int,
    param_delta: float,
    param_lambda: float = 0.1,
    hidden: list[int] = (),
) -> Report:
    """fn(model, X, Yoh_, param_niter=..., param_delta=..., param_lambda=...) returns the list of
    param_niter losses of full-batch gradient descent on a given model, as the reference train's:
    'losses' with param_lambda = 0, 'regularised' with the given param_lambda (> 0)."""
    if not param_lambda > 0:
        raise ValueError("check_train needs param_lambda > 0 for 'regularised'")
    report, _ = _start("train", seed)
    case = case_label(
        seed=seed,
        N=N,
        D=D,
        C=C,
        hidden=list(hidden) or None,
        param_niter=param_niter,
        param_delta=param_delta,
    )
    X, _, Yoh_, model = _problem_data(seed, N, D, C, list(hidden))
    for quantity, lam in (("losses", 0.0), ("regularised", param_lambda)):
        where = f"{case}, param_lambda={lam:g}"
        expected = _expected(
            f"train/{where}/{quantity}",
            lambda lam=lam: _reference("train")(
                copy.deepcopy(model), X, Yoh_, param_niter, param_delta, lam
            ),
        )
        ok, losses = call_student(
            report,
            case,
            fn,
            model,
            X,
            Yoh_,
            param_niter=param_niter,
            param_delta=param_delta,
            param_lambda=lam,
            name="train",
            quantities=[quantity],
            forbidden=_references(*_TRAINING),
        )
        if not ok:
            continue
        values, problem = _floats(losses, "train's return value", param_niter)
        report.add(
            verdict(quantity, False, problem + " (the loss before each step)", case=where)
            if problem
            else compare(quantity, values, np.array(expected), case=where)
        )
    return show(report)


def check_eval(fn: Any, *, seed: int, N: int, D: int, C: int, hidden: list[int] = ()) -> Report:
    """probs = fn(model, X) for numpy X (N, D): a numpy array (N, C) equal to the model's
    probabilities (float64 for a float64 model), as the reference eval's."""
    report, rng = _start("eval", seed)
    case = case_label(seed=seed, N=N, D=D, C=C, hidden=list(hidden) or None)
    model = _given_model([D, *hidden, C], rng)
    X = rng.standard_normal((N, D))
    expected = _expected(f"eval/{case}/probs", lambda: _reference("eval")(model, X))
    ok, probs = call_student(
        report, case, fn, model, X, name="eval", forbidden=_references(*_TRAINING)
    )
    if ok and not isinstance(probs, np.ndarray):
        report.add(
            verdict(
                "probs",
                False,
                f"eval returned a {type(probs).__name__}; return a numpy "
                "array (.detach().cpu().numpy())",
                case=case,
            )
        )
    elif ok:
        report.add(compare("probs", probs, expected, case=case))
    return show(report)


def _history(
    report: Report, case: str, history: Any, quantities: list[str], key: str = "loss"
) -> list | None:
    """history[key] of a train_mb result, or None after recording why it is not there."""
    if not (isinstance(history, dict) and key in history):
        report.fail(
            quantities,
            case,
            f"train_mb returned {type(history).__name__}; expected a dict "
            "{'loss': [...], 'val_accuracy': [...], 'best_epoch': ...}",
        )
        return None
    return history[key]


def _batch_sizes(N: int, batch_size: int) -> np.ndarray:
    """Sizes of the batches of one epoch: full ones, then the rest."""
    return np.array([min(batch_size, N - start) for start in range(0, N, batch_size)])


def check_train_mb(
    fn: Any,
    *,
    seed: int,
    N: int,
    D: int,
    C: int,
    batch_size: int,
    param_epochs: int = 2,
    param_delta: float = 0.1,
    param_lambda: float = 0.0,
    lr_gamma: float = 0.5,
    hidden: list[int] = (),
) -> Report:
    """fn(model, X, Yoh_, param_epochs, param_delta, param_lambda, batch_size, optimizer,
    lr_gamma) on a given model, three runs (expected trajectories: the reference train_mb's):

    - 'full_batch': batch_size >= N, SGD: the losses equal full-batch gradient descent;
    - 'batches', 'shuffled': param_delta = 0 (the model stays put), ``batch_size``: ceil(N /
      batch_size) losses per epoch whose mean weighted by batch size is the full loss (every
      sample once per epoch); the order is not the data's and changes between epochs;
    - 'schedule': Adam, ``lr_gamma``, ``batch_size``, on 2 batch_size copies of one sample
      (every batch then has the same loss, whatever the order): equals the reference trajectory,
      so the learning rate must decay once per epoch, not per batch.
    """
    if not (1 <= batch_size < N and param_epochs >= 2):
        raise ValueError(
            "check_train_mb needs batch_size < N and param_epochs >= 2 to see the " "shuffling"
        )
    report, _ = _start("train_mb", seed)
    case = case_label(
        seed=seed,
        N=N,
        D=D,
        C=C,
        hidden=list(hidden) or None,
        batch_size=batch_size,
        param_epochs=param_epochs,
        param_delta=param_delta,
        param_lambda=param_lambda or None,
        lr_gamma=lr_gamma,
    )
    X, _, Yoh_, model = _problem_data(seed, N, D, C, list(hidden))
    common = dict(param_epochs=param_epochs, param_lambda=param_lambda)
    copies = 2 * batch_size  # two whole batches per epoch of one sample
    same = (X[:1].repeat(copies, 1), Yoh_[:1].repeat(copies, 1))
    runs = {
        "full_batch": ((X, Yoh_), dict(param_delta=param_delta, batch_size=N)),
        "batches": ((X, Yoh_), dict(param_delta=0.0, batch_size=batch_size)),
        "schedule": (
            same,
            dict(
                param_delta=param_delta / 10,
                batch_size=batch_size,
                optimizer=torch.optim.Adam,
                lr_gamma=lr_gamma,
            ),
        ),
    }
    for quantity, (data, args) in runs.items():
        quantities = ["batches", "shuffled"] if quantity == "batches" else [quantity]
        expected = (
            None
            if quantity == "batches"
            else _expected(
                f"train_mb/{case}/{quantity}",
                lambda data=data, args=args: _reference("train_mb")(
                    copy.deepcopy(model), *data, **common, **args
                )["loss"],
            )
        )
        ok, history = call_student(
            report,
            case,
            fn,
            model,
            *data,
            quantities=quantities,
            name="train_mb",
            forbidden=_references(*_TRAINING),
            **common,
            **args,
        )
        losses = _history(report, case, history, quantities) if ok else None
        if losses is None:
            continue
        if expected is None:
            _check_batches(
                report, case, losses, model, X, Yoh_, batch_size, param_epochs, param_lambda
            )
            continue
        values, problem = _floats(losses, "history['loss']", len(expected))
        report.add(
            verdict(quantity, False, problem, case=case)
            if problem
            else compare(quantity, values, np.array(expected), case=case)
        )
    return show(report)


def _weight_penalty(model: _Net) -> float:
    """Sum of the squared weights of the given model's layers (not the biases)."""
    return sum(float((layer.weight**2).sum()) for layer in model.layers)


def _check_batches(
    report: Report,
    case: str,
    losses: Any,
    model: _Net,
    X: torch.Tensor,
    Yoh_: torch.Tensor,
    batch_size: int,
    param_epochs: int,
    param_lambda: float,
) -> None:
    """'batches' and 'shuffled' from the losses of a run that does not move the model."""
    sizes = _batch_sizes(len(X), batch_size)
    values, problem = _floats(losses, "history['loss']")
    if problem:
        report.fail(["batches", "shuffled"], case, problem)
        return
    with torch.no_grad():
        penalty = param_lambda * _weight_penalty(model)
        full = model.get_loss(X, Yoh_).item() + penalty
        in_order = (
            np.array(
                [
                    model.get_loss(X[s : s + batch_size], Yoh_[s : s + batch_size]).item()
                    for s in range(0, len(X), batch_size)
                ]
            )
            + penalty
        )
    per_epoch = len(values) // param_epochs
    if len(values) != param_epochs * len(sizes):
        expected = param_epochs * len(sizes)
        report.add(
            verdict(
                "batches",
                False,
                f"history['loss'] has {len(values)} items, expected "
                f"{expected} (ceil(N / batch_size) per epoch)",
                case=case,
            )
        )
    else:
        epochs = values.reshape(param_epochs, len(sizes))  # (epochs, batches)
        report.add(
            compare(
                "batches",
                epochs @ sizes / len(X),
                np.full(param_epochs, full),
                case=f"{case}, mean loss of each epoch",
            )
        )
    if not (len(values) % param_epochs == 0 and 1 < per_epoch <= len(sizes)):
        report.add(
            verdict("shuffled", False, "can't tell the epochs apart in history['loss']", case=case)
        )
        return
    epochs = values.reshape(param_epochs, per_epoch)  # (epochs, batches), also without the last one
    same_order = np.allclose(epochs[0], in_order[:per_epoch], rtol=1e-9, atol=1e-12)
    repeated = param_epochs > 1 and np.allclose(epochs[0], epochs[1], rtol=1e-9, atol=1e-12)
    problem = (
        "the first epoch visits the samples in their stored order"
        if same_order
        else "every epoch uses the same order: draw a new permutation each epoch"
        if repeated
        else None
    )
    report.add(
        verdict("shuffled", problem is None, problem or "a new random order every epoch", case=case)
    )


def _early_stopping_history(history: dict[str, Any]) -> dict[str, Any]:
    """What early stopping grades of a train_mb history (the rest need not be recorded)."""
    return {"val_accuracy": history["val_accuracy"], "best_epoch": history["best_epoch"]}


def check_early_stopping(
    fn: Any,
    *,
    seed: int,
    N: int,
    M: int,
    D: int,
    C: int,
    param_epochs: int,
    param_delta: float,
    hidden: list[int] = (),
) -> Report:
    """fn (train_mb) with X_val (M, D) and Y_val (M,) and batch_size >= N on a given model:
    'val_accuracy': the validation accuracy after each epoch; 'best_epoch': the (1-based) epoch
    with the highest one, the earliest on ties (as the reference train_mb's). Runs with the
    reference ``eval`` where installed (the grader); in the handout with the student's own."""
    report, rng = _start("early_stopping", seed)
    case = case_label(
        seed=seed,
        N=N,
        M=M,
        D=D,
        C=C,
        hidden=list(hidden) or None,
        param_epochs=param_epochs,
        param_delta=param_delta,
    )
    X, _, Yoh_, model = _problem_data(seed, N, D, C, list(hidden))
    X_val, Y_val = _classes(np.random.default_rng(seed + 1), M, D, C)
    X_val = _tensor(X_val + rng.standard_normal(X_val.shape))  # noisier than training: it varies
    args = dict(
        param_epochs=param_epochs, param_delta=param_delta, batch_size=N, X_val=X_val, Y_val=Y_val
    )
    expected = _expected(
        f"early_stopping/{case}/history",
        lambda: _early_stopping_history(
            _reference("train_mb")(copy.deepcopy(model), X, Yoh_, **args)
        ),
    )
    with _isolated(fn, eval=_reference("eval")):  # the reference may run as eval, not otherwise
        ok, history = call_student(
            report,
            case,
            fn,
            model,
            X,
            Yoh_,
            name="train_mb",
            forbidden=_references("l2_penalty", "train", "train_mb", "predict"),
            **args,
        )
    if not ok:
        return show(report)
    accuracies = _history(report, case, history, ["val_accuracy", "best_epoch"], key="val_accuracy")
    if accuracies is None:
        return show(report)
    values, problem = _floats(accuracies, "history['val_accuracy']", param_epochs)
    report.add(
        verdict("val_accuracy", False, problem + " (one per epoch)", case=case)
        if problem
        else compare("val_accuracy", values, np.array(expected["val_accuracy"]), case=case)
    )
    best = history.get("best_epoch")
    report.add(
        compare(
            "best_epoch", best, np.int64(expected["best_epoch"]), case=f"{case}, counted from 1"
        )
        if best is not None
        else verdict("best_epoch", False, "history['best_epoch'] is missing", case=case)
    )
    return show(report)


# ----------------------------------------------------------------------------- SVM


def check_ksvmwrap(
    KSVMWrap: Any, *, seed: int, N: int, C: int, param_svm_c: float, param_svm_gamma: float | str
) -> Report:
    """KSVMWrap(X, Y_, param_svm_c, param_svm_gamma) on 2D data against sklearn's
    SVC(C=param_svm_c, gamma=param_svm_gamma) (RBF kernel): 'predict' and 'scores'
    (get_scores = decision_function) on new points, 'support' the indices of the support vectors."""
    report, rng = _start("ksvmwrap", seed)
    case = case_label(seed=seed, N=N, C=C, param_svm_c=param_svm_c, param_svm_gamma=param_svm_gamma)
    X, Y_ = _classes(rng, N, 2, C)
    X_new = rng.standard_normal((20, 2)) * X.std(axis=0) + X.mean(axis=0)
    reference = SVC(C=param_svm_c, gamma=param_svm_gamma).fit(X, Y_)
    ok, svm = call_student(
        report,
        case,
        KSVMWrap,
        X,
        Y_,
        param_svm_c,
        param_svm_gamma,
        name="KSVMWrap",
        forbidden=_references("KSVMWrap"),
    )
    if not ok:
        return show(report)
    for quantity, method, expected in (
        ("predict", "predict", reference.predict(X_new)),
        ("scores", "get_scores", reference.decision_function(X_new)),
    ):
        ok, out = call_student(
            report,
            case,
            getattr(svm, method, None),
            X_new,
            name=f"KSVMWrap.{method}",
            quantities=[quantity],
        )
        if ok:
            report.add(compare(quantity, out, expected, case=case))
    try:
        support = getattr(svm, "support", None)
    except Exception as exc:  # a property that raises: the student's bug, not the grader's
        support = exc
    if isinstance(support, Exception):
        report.add(
            verdict(
                "support",
                False,
                f"reading KSVMWrap.support raised " f"{type(support).__name__}: {support}",
                case=case,
            )
        )
    elif support is None or callable(support):
        report.add(
            verdict(
                "support",
                False,
                "KSVMWrap.support must be an attribute or property "
                "holding the indices of the support vectors",
                case=case,
            )
        )
    else:
        ok = isinstance(support, (np.ndarray, list, tuple))
        mine = np.sort(np.asarray(support)) if ok else support
        report.add(compare("support", mine, np.sort(reference.support_), case=case))
    return show(report)


# ----------------------------------------------------------------------------- batch norm (bonus)


def check_batchnorm(
    BatchNorm: Any, *, seed: int, N: int, D: int, momentum: float = 0.1, eps: float = 1e-5
) -> Report:
    """BatchNorm(D, eps=..., momentum=...) with parameters gamma, beta (D,) and buffers
    running_mean, running_var (D,) set to random values, against torch.nn.functional.batch_norm:
    'train_output' and 'train_grads' (w.r.t. x, gamma, beta) in training mode, 'running_stats'
    after that step, 'eval': output and gradients in eval mode (from the reference's running
    statistics, so that a wrong update costs only 'running_stats')."""
    report, rng = _start("batchnorm", seed)
    case = case_label(seed=seed, N=N, D=D, momentum=momentum, eps=eps)
    x = 3 * rng.standard_normal((N, D)) + rng.standard_normal(D)  # (N, D), per-feature offsets
    state = {
        "gamma": rng.standard_normal(D),
        "beta": rng.standard_normal(D),
        "running_mean": rng.standard_normal(D),
        "running_var": rng.random(D) + 0.5,
    }
    rm, rv = torch.tensor(state["running_mean"]), torch.tensor(state["running_var"])  # copies
    F.batch_norm(
        torch.tensor(x), rm, rv, training=True, momentum=momentum, eps=eps
    )  # updates rm, rv
    updated = {"running_mean": rm.numpy(), "running_var": rv.numpy()}
    ok, bn = call_student(
        report,
        case,
        BatchNorm,
        D,
        eps=eps,
        momentum=momentum,
        name="BatchNorm",
        forbidden=_references("BatchNorm"),
    )
    if not (
        ok
        and _state(
            report,
            case,
            bn,
            "BatchNorm",
            {k: (D,) for k in state},
            "train_output",
            ["train_grads", "running_stats", "eval"],
        )
        and _load(report, case, bn, "BatchNorm", state, list(QUANTITIES["batchnorm"]))
    ):
        return show(report)
    for mode, output, gradients, stats in (
        ("train", "train_output", "train_grads", state),
        ("eval", "eval", "eval", updated),
    ):
        quantities = sorted({output, gradients})
        ok, _ = call_student(
            report, case, getattr(bn, mode, None), name=f"BatchNorm.{mode}", quantities=quantities
        )
        if ok and mode == "eval":  # from the reference's statistics: a wrong update costs once
            ok = _load(report, case, bn, "BatchNorm", updated, quantities)
        if ok:
            ok, out, grads = student_autograd(
                report,
                case,
                getattr(bn, "forward", None),
                {"x": x},
                ["x"],
                module=bn,
                seed=seed,
                name="BatchNorm.forward",
                quantities=quantities,
            )
        if not ok:
            continue
        ref_out, ref_grads = autograd_reference(
            partial(
                _batch_norm,
                running_mean=stats["running_mean"],
                running_var=stats["running_var"],
                training=mode == "train",
                momentum=momentum,
                eps=eps,
            ),
            dict(x=x, gamma=state["gamma"], beta=state["beta"]),
            ["x", "gamma", "beta"],
            seed=seed,
        )
        report.add(compare(output, out, ref_out, case=f"{case}, {mode} mode"))
        for k, g in ref_grads.items():
            report.add(
                compare(
                    gradients, grads.get(k), g, case=f"{case}, {mode} mode, gradient w.r.t. {k}"
                )
            )
        if mode == "train":
            ok, after = call_student(
                report,
                case,
                getattr(bn, "state_dict", None),
                name="BatchNorm.state_dict",
                quantities=["running_stats"],
            )
            for k in updated if ok else ():
                report.add(compare("running_stats", after.get(k), updated[k], case=f"{case}, {k}"))
    return show(report)
