"""Lab 0 (shallow models): the graded checks, one per task (see docs/lab0-contract.md).

Every ``check_<task>(fn, *, seed, ...)``:

1. seeds ``random``/``np.random``/torch with ``seed`` (``seed_all``) and draws its inputs from
   ``np.random.default_rng(seed)``; the case label names the seed and the sizes;
2. calls the student's ``fn`` through ``call_student``: it must be the student's own code, must not
   call the instructors' references (``autograder.reference.lab0``, where installed), the course's
   mixture sampler or this module's oracles (nor autograd, for hand-derived gradients), and an
   exception costs only this case;
3. compares each quantity of the task with an independent oracle: PyTorch autograd in float64 for
   losses, gradients and probabilities, scikit-learn for the metrics;
4. prints the report and returns it.

Tasks that build on another one are graded on their own: ``*_train`` runs with the oracle's
gradient (and softmax) substituted for the student's (``isolate``), ``logreg_classify`` and
``logreg_loss_grad`` with the oracle's softmax, ``sample_gauss_2d`` with the reference
``Random2DGaussian`` where the references are installed (the grader); in the student handout it
runs on the student's own ``Random2DGaussian``, as the notebook does.

Every expected value comes from an oracle (autograd, scikit-learn) or a statistical test, so the
handout needs no control outputs for this lab.

Student functions are called as: ``Random2DGaussian().get_sample(n)``, ``sample_gauss_2d(C, N)``,
``*_loss_grad(X, Y_, w, b, param_lambda=...)`` -> (loss, grad_w, grad_b),
``*_train(X, Y_, param_niter=..., param_delta=..., param_lambda=...)`` -> (w, b),
``*_classify(X, w, b)``, ``stable_softmax(S)``, ``eval_perf_binary(Y, Y_)``, ``eval_AP(labels)``,
``eval_perf_multi(Y, Y_)``.
"""

from __future__ import annotations

import itertools
import reprlib
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import scipy.special
import torch
import torch.nn.functional as F
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_score,
    recall_score,
)

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
    swapped_variants,
    verdict,
    within_budget,
)
from dlcourse.data.gaussian import sample_gmm_2d

TASKS: dict[str, int] = {
    "random2dgaussian": 2,
    "sample_gauss_2d": 2,
    "binlogreg_loss_grad": 3,
    "binlogreg_train": 2,
    "binlogreg_classify": 1,
    "eval_perf_binary": 3,
    "eval_AP": 2,
    "stable_softmax": 2,
    "logreg_loss_grad": 3,
    "logreg_train": 2,
    "logreg_classify": 1,
    "eval_perf_multi": 4,
}
"""Task id -> points: the one place they are declared (``dlcourse.tasks``)."""

BONUS: frozenset[str] = frozenset()
"""No bonus task in this lab."""

QUESTIONS: dict[str, int] = {
    "q_numerical_gradient": 2,
    "q_average_precision": 1,
    "q_log_loss_and_hinge": 2,
    "q_regularisation": 2,
    "q_gmm_failure": 2,
}
"""Question id -> points of its written answer, graded by hand (``dlcourse.tasks``)."""

QUANTITIES: dict[str, tuple[str, ...]] = {
    "random2dgaussian": ("shape", "spread"),
    "sample_gauss_2d": ("shapes", "labels"),
    "binlogreg_loss_grad": ("loss", "grad_w", "grad_b"),
    "binlogreg_train": ("w", "b"),
    "binlogreg_classify": ("probs",),
    "eval_perf_binary": ("accuracy", "recall", "precision"),
    "eval_AP": ("AP",),
    "stable_softmax": ("probs", "large_logits"),
    "logreg_loss_grad": ("loss", "grad_W", "grad_b"),
    "logreg_train": ("W", "b"),
    "logreg_classify": ("probs",),
    "eval_perf_multi": ("accuracy", "confusion_matrix", "precision", "recall"),
}
"""Task id -> the quantities graded (each one an equal share of the task's points)."""


def _forbidden(fn: Any, names: tuple[str, ...], others: tuple[Any, ...]) -> tuple[Any, ...]:
    """What ``fn`` must not call: ``others`` and the named Lab 0 references where installed (a
    local hint: a grader's call watches nothing, its rules are checked on the source)."""
    return references.installed("lab0", names) + others


# the instructors' references and the library used as oracle: either would do the task
_METRICS = ("eval_perf_binary", "eval_perf_multi", "eval_AP")
_METRIC_ORACLES = (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_score,
    recall_score,
)
# a mixture sampler draws the Gaussians of Lab 0 for the student: not their own generator
_GAUSSIANS = ("Random2DGaussian", "sample_gauss_2d")
# Gaussians are told apart by their samples' means: 10000 samples put a sample mean within
# ~0.05 of the mean, so random means closer than ~0.1 (probability < 1e-3) would be missed
_SPREAD_GAUSSIANS, _SPREAD_SAMPLES = 3, 10_000
_MEAN_GAP = 5.0  # equal means: gap ~ chi with 2 degrees of freedom, P(gap > 5) = exp(-12.5)
_BOX_SLACK = 0.5  # sample means may leave [0, 10]^2 by sampling noise


# ----------------------------------------------------------------------------- torch oracles


def _binlogreg_loss(
    X: torch.Tensor, Y_: torch.Tensor, w: torch.Tensor, b: torch.Tensor, *, param_lambda: float
) -> torch.Tensor:
    """mean_i -log P(Y=Y_i|x_i) + param_lambda ||w||^2 with P(Y=1|x) = sigmoid(x w + b)."""
    scores = X @ w + b  # (N,)
    nll = F.binary_cross_entropy_with_logits(scores, Y_.to(scores.dtype))  # stable for large |s|
    return nll + param_lambda * (w**2).sum()


def _logreg_loss(
    X: torch.Tensor, Y_: torch.Tensor, W: torch.Tensor, b: torch.Tensor, *, param_lambda: float
) -> torch.Tensor:
    """mean_i -log softmax(W x_i + b)[Y_i] + param_lambda ||W||_F^2."""
    scores = X @ W.T + b  # (N, C)
    return F.cross_entropy(scores, Y_) + param_lambda * (W**2).sum()


def _sigmoid_scores(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(X @ w + b)  # (N,)


def _softmax_scores(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.softmax(X @ W.T + b, dim=1)  # (N, C)


def _binlogreg_reference(
    X: np.ndarray, Y_: np.ndarray, w: np.ndarray, b: float, param_lambda: float = 0.0
) -> tuple[float, np.ndarray, np.float64]:
    """What a correct binlogreg_loss_grad returns: (loss, grad_w (D,), grad_b scalar)."""
    loss, grads = autograd_reference(
        partial(_binlogreg_loss, param_lambda=param_lambda), dict(X=X, Y_=Y_, w=w, b=b), ["w", "b"]
    )
    return float(loss), grads["w"], grads["b"][()]


def _logreg_reference(
    X: np.ndarray, Y_: np.ndarray, W: np.ndarray, b: np.ndarray, param_lambda: float = 0.0
) -> tuple[float, np.ndarray, np.ndarray]:
    """What a correct logreg_loss_grad returns: (loss, grad_W (C, D), grad_b (C,))."""
    loss, grads = autograd_reference(
        partial(_logreg_loss, param_lambda=param_lambda), dict(X=X, Y_=Y_, W=W, b=b), ["W", "b"]
    )
    return float(loss), grads["W"], grads["b"]


def _stable_softmax_reference(S: np.ndarray) -> np.ndarray:
    """What a correct stable_softmax returns: (N, C) row-wise softmax of S (N, C)."""
    # plain torch, not autograd_reference: it stands in for the student's softmax inside checks
    # that forbid calling autograd_reference
    return torch.softmax(torch.as_tensor(S, dtype=torch.float64), dim=1).numpy()


def _gradient_descent(
    loss_grad: Callable[..., tuple],
    params: list[Any],
    X: np.ndarray,
    Y_: np.ndarray,
    param_niter: int,
    param_delta: float,
    param_lambda: float,
) -> list[Any]:
    """param_niter steps of p <- p - param_delta * dL/dp for each p, gradients from loss_grad."""
    for _ in range(param_niter):
        _, *grads = loss_grad(X, Y_, *params, param_lambda)
        params = [p - param_delta * g for p, g in zip(params, grads)]
    return params


# ----------------------------------------------------------------------------- shared steps

_start = case_starter(QUANTITIES, TASKS)


def _compare_all(
    report: Report, case: str, yours: tuple, expected: tuple, variants: list = ()
) -> None:
    """Compare each quantity of the report with its expected value, in order; ``variants``:
    each quantity's likely mistakes (``dlcourse.check.diagnosis``), for the hints."""
    for k, (quantity, mine, ref) in enumerate(zip(report.quantities, yours, expected)):
        report.add(
            compare(quantity, mine, ref, case=case, variants=variants[k] if variants else ())
        )


def _regularisation_variants(
    reference: Any, param_lambda: float, b: np.ndarray | float
) -> list[list[Variant]]:
    """Likely mistakes in (loss, grad_w, grad_b) of a regularised loss: lambda left out, doubled
    or halved (``regularisation_variants``), and the bias regularised too (+ lambda ||b||^2)."""
    variants = regularisation_variants(reference, param_lambda)
    if variants:
        loss, grad_w, grad_b = reference(param_lambda)
        biased = "is the bias regularised too? (your value fits lambda (||w||^2 + ||b||^2))"
        variants[0].append(Variant(loss + param_lambda * np.sum(np.square(b)), biased))
        variants[2].append(Variant(grad_b + 2 * param_lambda * np.asarray(b), biased))
    return variants


def _array_problem(what: str, x: Any, shape: tuple[int, ...], kinds: str) -> str | None:
    """Why x is not a numpy array of ``shape`` with a dtype kind in ``kinds``, or None."""
    if not isinstance(x, np.ndarray):
        return f"{what} is a {type(x).__name__}, expected a numpy array of shape {shape}"
    if x.shape != shape:
        return f"{what} has shape {x.shape}, expected {shape}"
    if x.dtype.kind not in kinds:
        return f"{what} has dtype {x.dtype}, expected {'floats' if kinds == 'f' else 'integers'}"
    return None


def _same_means(samples: list[np.ndarray]) -> tuple[int, int] | None:
    """The first pair (i, j) of samples (n_i, 2) whose means are statistically equal, or None.

    With d the difference of the sample means and S_i the sample covariances,
    gap = sqrt(d^T (S_i / n_i + S_j / n_j)^+ d) is about chi-distributed with 2 degrees of
    freedom when the means are equal, and grows like sqrt(n) when they differ.
    """
    for i, j in itertools.combinations(range(len(samples)), 2):
        d = samples[i].mean(axis=0) - samples[j].mean(axis=0)  # (2,)
        cov = np.cov(samples[i].T) / len(samples[i]) + np.cov(samples[j].T) / len(samples[j])
        if d @ np.linalg.pinv(cov) @ d < _MEAN_GAP**2:
            return i, j
    return None


def _is_sample(X: Any) -> bool:
    """True for a numeric (n, 2) numpy array of finite values, n >= 3."""
    return (
        isinstance(X, np.ndarray)
        and X.dtype.kind in "iuf"
        and X.ndim == 2
        and X.shape[1] == 2
        and len(X) >= 3
        and bool(np.isfinite(X).all())
    )


def _predictions(rng: np.random.Generator, N: int, C: int) -> tuple[np.ndarray, np.ndarray]:
    """(Y, Y_) predicted and true labels in 0..C-1 (N > C), about half right.

    Every class is once predicted correctly, so C = max + 1 and no precision or recall has a
    zero denominator; some class is predicted more or less often than it is true, so its
    precision and recall differ (swapping them shows).
    """
    Y_ = rng.integers(0, C, N)
    Y = np.where(rng.random(N) < 0.5, Y_, rng.integers(0, C, N))
    Y[:C] = Y_[:C] = np.arange(C)
    if N > C and np.array_equal(np.bincount(Y, minlength=C), np.bincount(Y_, minlength=C)):
        Y[C] = (Y[C] + 1) % C
    order = rng.permutation(N)
    return Y[order], Y_[order]


def _classes(rng: np.random.Generator, N: int, D: int, C: int) -> tuple[np.ndarray, np.ndarray]:
    """X (N, D) around C random centres, Y_ (N,) with every class present (N >= C)."""
    Y_ = rng.permutation(np.arange(N) % C)
    X = 2 * rng.standard_normal((C, D))[Y_] + rng.standard_normal((N, D))
    return X, Y_


def _lambda_scale(param_lambda: float, scale: float = 1.0) -> dict[str, float | None]:
    """Case-label entries for the optional parameters, left out at their defaults."""
    return dict(param_lambda=param_lambda or None, scale=None if scale == 1 else scale)


# ----------------------------------------------------------------------------- data


def _gaussian_samples(
    report: Report, case: str, cls: Any, n: int, count: int, quantity: str
) -> list[Any] | None:
    """``cls().get_sample(n)`` of ``count`` fresh instances; None after recording a failure."""
    samples = []
    forbidden = _forbidden(cls, _GAUSSIANS, (sample_gmm_2d,))
    for _ in range(count):
        ok, G = call_student(
            report, case, cls, name="Random2DGaussian", quantities=[quantity], forbidden=forbidden
        )
        if ok:
            ok, X = call_student(
                report,
                case,
                G.get_sample,
                n,
                quantities=[quantity],
                name="Random2DGaussian.get_sample",
                forbidden=forbidden,
            )
        if not ok:
            return None
        samples.append(X)
    return samples


def _spread_problem(samples: list[Any]) -> str | None:
    """Why samples of several Gaussians don't look like random Gaussians in [0, 10]^2, or None."""
    if not all(_is_sample(X) for X in samples):
        return "get_sample(n) must return a finite (n, 2) array to check the spread"
    for X in samples:
        eig = np.linalg.eigvalsh(np.cov(X.T))  # (2,) ascending
        if not eig[0] > 1e-9 * max(eig[1], 1e-300):
            return f"a sample covariance is not positive definite (eigenvalues {eig.tolist()})"
    pair = _same_means(samples)
    if pair:
        return (
            f"Gaussians {pair[0]} and {pair[1]}, made one after the other, have the same "
            "mean: draw a random mean for each"
        )
    for X in samples:
        mean = X.mean(axis=0)
        if np.any((mean < -_BOX_SLACK) | (mean > 10 + _BOX_SLACK)):
            return f"a sample mean {np.round(mean, 3).tolist()} is outside the box [0, 10]^2"
    return None


def check_random2dgaussian(Random2DGaussian: Any, *, seed: int, n: int) -> Report:
    """'shape': get_sample(n) is an (n, 2) float array; 'spread': several Gaussians made after
    seeding have different means, all in [0, 10]^2 (up to sampling noise), and samples with a
    positive definite covariance."""
    report, _ = _start("random2dgaussian", seed)
    case = case_label(seed=seed, n=n)
    samples = _gaussian_samples(report, case, Random2DGaussian, n, 1, "shape")
    if samples is not None:
        problem = _array_problem(f"get_sample({n})", samples[0], (n, 2), "f")
        report.add(
            verdict(
                "shape",
                problem is None,
                problem or f"get_sample({n}) is an " f"({n}, 2) float array",
                case=case,
            )
        )
    samples = _gaussian_samples(
        report, case, Random2DGaussian, _SPREAD_SAMPLES, _SPREAD_GAUSSIANS, "spread"
    )
    if samples is not None:
        problem = _spread_problem(samples)
        report.add(
            verdict(
                "spread",
                problem is None,
                problem
                or f"{_SPREAD_GAUSSIANS} Gaussians: "
                "different means in [0, 10]^2, positive definite covariances",
                case=case,
            )
        )
    return show(report)


def _labels_problem(Y_: Any, C: int, N: int) -> str | None:
    """Why Y_ does not label N samples of each of C classes, or None."""
    Y_ = np.asarray(Y_)
    if not (
        Y_.dtype.kind in "biuf"
        and Y_.ndim == 1
        and np.isfinite(Y_).all()
        and np.all(np.round(Y_) == Y_)
    ):
        return "Y_ must be a 1-D array of whole class indices"
    Y_ = Y_.astype(np.int64)  # float labels cost 'shapes' only
    if Y_.min() < 0 or Y_.max() >= C:
        return f"labels must be in 0..{C - 1}, got {Y_.min()}..{Y_.max()}"
    counts = np.bincount(Y_, minlength=C)
    if np.any(counts != N):
        return f"each class must appear N={N} times, counts are {counts.tolist()}"
    return None


def _class_means_problem(X: Any, Y_: Any, C: int) -> str | None:
    """Why the C classes of a large labelled sample don't have different means, or None."""
    Y_ = np.asarray(Y_)
    if not (_is_sample(X) and Y_.dtype.kind in "biuf" and Y_.shape == (len(X),)):
        return "needs X (C*N, 2) and Y_ (C*N,) to compare the class means"
    samples = [X[c == Y_] for c in range(C)]
    if min(map(len, samples)) < 3:
        return "needs samples of every class to compare the class means"
    pair = _same_means(samples)
    if pair:
        return f"classes {pair[0]} and {pair[1]} have the same mean: each needs its own Gaussian"
    return None


def check_sample_gauss_2d(sample_gauss_2d: Any, *, seed: int, C: int, N: int) -> Report:
    """'shapes': X is (C*N, 2) float, Y_ (C*N,) int; 'labels': each class 0..C-1 appears exactly
    N times and the classes' means differ. Runs with the reference Random2DGaussian where the
    references are installed (the grader); in the handout with the student's own."""
    report, _ = _start("sample_gauss_2d", seed)
    case = case_label(seed=seed, C=C, N=N)
    student = partial(
        call_student,
        report,
        case,
        sample_gauss_2d,
        name="sample_gauss_2d",
        forbidden=_forbidden(sample_gauss_2d, ("sample_gauss_2d",), (sample_gmm_2d,)),
        outputs=2,
    )
    gaussian = references.reference("lab0", "Random2DGaussian")
    with isolate(sample_gauss_2d, **({} if gaussian is None else {"Random2DGaussian": gaussian})):
        ok, out = student(C, N)
        # class means are told apart on a large sample; N may be a handful
        ok_large, large = (
            student(C, _SPREAD_SAMPLES, quantities=["labels"]) if ok else (False, None)
        )
    if ok:
        X, Y_ = out
        problem = _array_problem("X", X, (C * N, 2), "f") or _array_problem(
            "Y_", Y_, (C * N,), "iu"
        )
        report.add(
            verdict(
                "shapes",
                problem is None,
                problem or "X and Y_ have the right shapes" " and dtypes",
                case=case,
            )
        )
    if ok_large:
        problem = _labels_problem(Y_, C, N) or _class_means_problem(*large, C)
        report.add(
            verdict(
                "labels",
                problem is None,
                problem or f"{C} classes of {N} samples " "with different means",
                case=case,
            )
        )
    return show(report)


# ----------------------------------------------------------------------------- binary logreg


def check_binlogreg_loss_grad(
    fn: Any,
    *,
    seed: int,
    N: int,
    D: int,
    param_lambda: float = 0.0,
    scale: float = 1.0,
    time_budget: float | None = None,
) -> Report:
    """loss, grad_w, grad_b of fn(X, Y_, w, b, param_lambda=...) against autograd. With
    ``time_budget`` (seconds, measured here around the call) the gradients fail when the call
    takes longer: with a large D an O(N D) derivation meets it, an O(N D^2) numerical gradient
    can't."""
    report, rng = _start("binlogreg_loss_grad", seed)
    case = case_label(seed=seed, N=N, D=D, **_lambda_scale(param_lambda, scale))
    X = scale * rng.standard_normal((N, D))  # (N, D)
    Y_ = rng.integers(0, 2, N)  # (N,)
    w, b = rng.standard_normal(D), float(rng.standard_normal())  # (D,), scalar
    started = time.perf_counter()
    ok, out = call_student(
        report,
        case,
        fn,
        X,
        Y_,
        w,
        b,
        param_lambda=param_lambda,
        outputs=3,
        name="binlogreg_loss_grad",
        forbidden=AUTOGRAD + (_binlogreg_loss, _binlogreg_reference),
    )
    seconds = time.perf_counter() - started
    if ok:
        timely = within_budget(report, case, ["grad_w", "grad_b"], seconds, time_budget)
        reference = partial(_binlogreg_reference, X, Y_, w, b)
        _compare_all(
            report,
            case,
            out if timely else out[:1],
            reference(param_lambda),
            _regularisation_variants(reference, param_lambda, b),
        )
    return show(report)


def check_binlogreg_train(
    fn: Any,
    *,
    seed: int,
    N: int,
    D: int,
    param_niter: int,
    param_delta: float,
    param_lambda: float = 0.0,
) -> Report:
    """(w, b) of fn(X, Y_, param_niter=..., param_delta=..., param_lambda=...) against gradient
    descent from zeros; runs with the oracle as ``binlogreg_loss_grad``."""
    report, rng = _start("binlogreg_train", seed)
    case = case_label(
        seed=seed,
        N=N,
        D=D,
        param_niter=param_niter,
        param_delta=param_delta,
        **_lambda_scale(param_lambda),
    )
    X, Y_ = _classes(rng, N, D, 2)
    with isolate(fn, binlogreg_loss_grad=_binlogreg_reference):
        ok, out = call_student(
            report,
            case,
            fn,
            X,
            Y_,
            param_niter=param_niter,
            param_delta=param_delta,
            param_lambda=param_lambda,
            outputs=2,
            name="binlogreg_train",
            forbidden=(_gradient_descent,),
        )
    if ok:
        expected = _gradient_descent(
            _binlogreg_reference, [np.zeros(D), 0.0], X, Y_, param_niter, param_delta, param_lambda
        )
        _compare_all(report, case, out, expected)
    return show(report)


def check_binlogreg_classify(fn: Any, *, seed: int, N: int, D: int) -> Report:
    """probs = fn(X, w, b) against sigmoid(X w + b), shape (N,)."""
    report, rng = _start("binlogreg_classify", seed)
    case = case_label(seed=seed, N=N, D=D)
    X, w, b = rng.standard_normal((N, D)), rng.standard_normal(D), float(rng.standard_normal())
    ok, probs = call_student(
        report, case, fn, X, w, b, name="binlogreg_classify", forbidden=(_sigmoid_scores,)
    )
    if ok:
        _compare_all(
            report,
            case,
            (probs,),
            (autograd_reference(_sigmoid_scores, dict(X=X, w=w, b=b), [])[0],),
        )
    return show(report)


# ----------------------------------------------------------------------------- metrics


def check_eval_perf_binary(fn: Any, *, seed: int, N: int) -> Report:
    """(accuracy, recall, precision) = fn(Y, Y_) against scikit-learn (N > 2)."""
    report, rng = _start("eval_perf_binary", seed)
    case = case_label(seed=seed, N=N)
    Y, Y_ = _predictions(rng, N, 2)
    ok, out = call_student(
        report,
        case,
        fn,
        Y,
        Y_,
        name="eval_perf_binary",
        outputs=3,
        forbidden=_forbidden(fn, _METRICS, _METRIC_ORACLES),
    )
    if ok:
        expected = (
            accuracy_score(Y_, Y),
            recall_score(Y_, Y, zero_division=0),
            precision_score(Y_, Y, zero_division=0),
        )
        swapped = swapped_variants("recall", "precision", dict(zip(report.quantities, expected)))
        _compare_all(report, case, out, expected, [[], swapped["recall"], swapped["precision"]])
    return show(report)


def check_eval_AP(
    fn: Any,
    *,
    seed: int | None = None,
    N: int | None = None,
    cases: list[tuple[list[int], float]] | None = None,
) -> Report:
    """AP = fn(ranked_labels): for each (labels, AP) of ``cases``, and with ``seed`` and ``N``
    for N random labels against scikit-learn's average_precision_score(labels, arange(N))."""
    if cases is None and (seed is None or N is None):
        raise ValueError("check_eval_AP needs cases, or seed and N")
    report, rng = _start("eval_AP", seed)
    runs = [
        (case_label(ranked_labels=reprlib.repr(labels)), list(labels), ap)
        for labels, ap in cases or []
    ]
    if seed is not None and N is not None:
        labels = rng.integers(0, 2, N)
        labels[rng.integers(N)] = 1  # at least one positive: AP is defined
        runs.append(
            (case_label(seed=seed, N=N), labels, average_precision_score(labels, np.arange(N)))
        )
    for case, labels, ap in runs:
        ok, out = call_student(
            report,
            case,
            fn,
            labels,
            name="eval_AP",
            forbidden=_forbidden(fn, _METRICS, _METRIC_ORACLES),
        )
        if ok:
            reversed_ap = average_precision_score(labels, -np.arange(len(labels)))
            question = (
                "does your ranking run the wrong way (your AP fits the labels ranked by "
                "decreasing score; the list is ranked by increasing score)?"
            )
            variants = [Variant(np.float64(reversed_ap), question)]
            report.add(compare("AP", out, np.float64(ap), case=case, variants=variants))
    return show(report)


def check_eval_perf_multi(fn: Any, *, seed: int, N: int, C: int) -> Report:
    """(accuracy, confusion matrix (C, C), precision (C,), recall (C,)) = fn(Y, Y_) against
    scikit-learn (N > C); rows of the confusion matrix are true classes."""
    report, rng = _start("eval_perf_multi", seed)
    case = case_label(seed=seed, N=N, C=C)
    Y, Y_ = _predictions(rng, N, C)
    ok, out = call_student(
        report,
        case,
        fn,
        Y,
        Y_,
        name="eval_perf_multi",
        outputs=4,
        forbidden=_forbidden(fn, _METRICS, _METRIC_ORACLES),
    )
    if ok:
        classes = np.arange(C)
        M = confusion_matrix(Y_, Y, labels=classes)  # (C, C) int
        # the contract does not fix the counts' dtype: whole-number floats count as well
        if isinstance(out[1], np.ndarray) and out[1].dtype.kind == "f":
            M = M.astype(np.float64)
        expected = (
            accuracy_score(Y_, Y),
            M,
            precision_score(Y_, Y, labels=classes, average=None, zero_division=0),
            recall_score(Y_, Y, labels=classes, average=None, zero_division=0),
        )
        swapped = swapped_variants("recall", "precision", dict(zip(report.quantities, expected)))
        _compare_all(report, case, out, expected, [[], [], swapped["precision"], swapped["recall"]])
    return show(report)


# ----------------------------------------------------------------------------- multiclass logreg


def check_stable_softmax(fn: Any, *, seed: int, N: int, C: int, scale: float = 1.0) -> Report:
    """'probs': fn(S) for S (N, C) standard normal times ``scale``; 'large_logits': fn(1000 S),
    which overflows a naive exp; both against torch.softmax."""
    report, rng = _start("stable_softmax", seed)
    case = case_label(seed=seed, N=N, C=C, scale=None if scale == 1 else scale)
    S = scale * rng.standard_normal((N, C))  # (N, C)
    forbidden = (_softmax_scores, _stable_softmax_reference, scipy.special.softmax)
    for quantity, logits in (("probs", S), ("large_logits", 1000 * S)):
        ok, probs = call_student(
            report,
            case,
            fn,
            logits,
            name="stable_softmax",
            quantities=[quantity],
            forbidden=forbidden,
        )
        if ok:
            expected = _stable_softmax_reference(logits)
            variants = softmax_variants(logits)
            report.add(compare(quantity, probs, expected, case=case, variants=variants))
    return show(report)


def check_logreg_loss_grad(
    fn: Any,
    *,
    seed: int,
    N: int,
    D: int,
    C: int,
    param_lambda: float = 0.0,
    scale: float = 1.0,
    time_budget: float | None = None,
) -> Report:
    """loss, grad_W, grad_b of fn(X, Y_, W, b, param_lambda=...) against autograd; runs with the
    oracle as ``stable_softmax``. ``time_budget``: as in ``check_binlogreg_loss_grad``."""
    report, rng = _start("logreg_loss_grad", seed)
    case = case_label(seed=seed, N=N, D=D, C=C, **_lambda_scale(param_lambda, scale))
    X = scale * rng.standard_normal((N, D))  # (N, D)
    Y_ = rng.integers(0, C, N)  # (N,)
    W, b = rng.standard_normal((C, D)), rng.standard_normal(C)  # (C, D), (C,)
    with isolate(fn, stable_softmax=_stable_softmax_reference):  # its own task
        started = time.perf_counter()
        ok, out = call_student(
            report,
            case,
            fn,
            X,
            Y_,
            W,
            b,
            param_lambda=param_lambda,
            outputs=3,
            name="logreg_loss_grad",
            forbidden=AUTOGRAD + (_logreg_loss, _logreg_reference),
        )
        seconds = time.perf_counter() - started
    if ok:
        timely = within_budget(report, case, ["grad_W", "grad_b"], seconds, time_budget)
        reference = partial(_logreg_reference, X, Y_, W, b)
        _compare_all(
            report,
            case,
            out if timely else out[:1],
            reference(param_lambda),
            _regularisation_variants(reference, param_lambda, b),
        )
    return show(report)


def check_logreg_train(
    fn: Any,
    *,
    seed: int,
    N: int,
    D: int,
    C: int,
    param_niter: int,
    param_delta: float,
    param_lambda: float = 0.0,
) -> Report:
    """(W, b) of fn(X, Y_, param_niter=..., param_delta=..., param_lambda=...) against gradient
    descent from zeros (N >= C: every class is present); runs with the oracles as
    ``logreg_loss_grad`` and ``stable_softmax``."""
    report, rng = _start("logreg_train", seed)
    case = case_label(
        seed=seed,
        N=N,
        D=D,
        C=C,
        param_niter=param_niter,
        param_delta=param_delta,
        **_lambda_scale(param_lambda),
    )
    X, Y_ = _classes(rng, N, D, C)
    with isolate(fn, logreg_loss_grad=_logreg_reference, stable_softmax=_stable_softmax_reference):
        ok, out = call_student(
            report,
            case,
            fn,
            X,
            Y_,
            param_niter=param_niter,
            param_delta=param_delta,
            param_lambda=param_lambda,
            outputs=2,
            name="logreg_train",
            forbidden=(_gradient_descent,),
        )
    if ok:
        expected = _gradient_descent(
            _logreg_reference,
            [np.zeros((C, D)), np.zeros(C)],
            X,
            Y_,
            param_niter,
            param_delta,
            param_lambda,
        )
        _compare_all(report, case, out, expected)
    return show(report)


def check_logreg_classify(fn: Any, *, seed: int, N: int, D: int, C: int) -> Report:
    """probs = fn(X, W, b) against softmax(X W^T + b), shape (N, C); runs with the oracle as
    ``stable_softmax``."""
    report, rng = _start("logreg_classify", seed)
    case = case_label(seed=seed, N=N, D=D, C=C)
    X, W, b = rng.standard_normal((N, D)), rng.standard_normal((C, D)), rng.standard_normal(C)
    with isolate(fn, stable_softmax=_stable_softmax_reference):
        ok, probs = call_student(
            report, case, fn, X, W, b, name="logreg_classify", forbidden=(_softmax_scores,)
        )
    if ok:
        _compare_all(
            report,
            case,
            (probs,),
            (autograd_reference(_softmax_scores, dict(X=X, W=W, b=b), [])[0],),
            [softmax_variants(X @ W.T + b)],
        )
    return show(report)
