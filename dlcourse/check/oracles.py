"""The references a student's answer is checked against, and the seeds that make cases repeat.

- ``seed_all``/``start_case``: every case of every lab starts seeded, with an empty ``Report``
  (``case_starter``: from the lab's tables).
- ``autograd_reference``: output and gradients by PyTorch autograd in float64, backpropagating
  a random upstream gradient (``upstream_gradient``: a ``.sum()`` would hide errors that cancel).
- ``numerical_gradient``: central differences, for students' own gradient checks.
- ``AUTOGRAD``: what computes gradients for a student (torch's autograd and the two oracles):
  forbidden in the tasks that ask for a gradient derived by hand.

Calls ``dlcourse.check.report`` and ``hidden``, never ``student``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from dlcourse import config
from dlcourse.check.hidden import HiddenSeed
from dlcourse.check.report import Report, _describe, case_label


def seed_all(seed: int) -> None:
    """Seed python's ``random``, ``np.random`` and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def start_case(
    task: str, quantities: Sequence[str], seed: int | None, *, points: float | None = None
) -> tuple[Report, np.random.Generator]:
    """An empty report of ``task``'s quantities (worth ``points``) and the case's generator, all
    seeded (a check's first line: every case of every lab starts the same way). A ``hidden``
    seed makes it a hidden case's report (``Report.add`` redacts all it records)."""
    if seed is not None:
        seed_all(seed)
    report = Report(task, quantities, worth=points)
    if isinstance(seed, HiddenSeed):
        report.hidden = case_label(seed=seed)
    return report, np.random.default_rng(seed)


def case_starter(
    quantities: Mapping[str, Sequence[str]],
    points: Mapping[str, float],
) -> Callable[[str, int | None], tuple[Report, np.random.Generator]]:
    """A lab's ``start(task, seed)``: ``start_case`` with the task's quantities and points looked
    up in the lab's tables (``QUANTITIES``, ``TASKS``: ``dlcourse.tasks``), declared once there."""

    def start(task: str, seed: int | None) -> tuple[Report, np.random.Generator]:
        return start_case(task, quantities[task], seed, points=points[task])

    return start


@contextmanager
def _no_tf32(device: torch.device) -> Iterator[None]:
    """Full-precision matmuls and convolutions on CUDA while active; restores the flags."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def upstream_gradient(shape: tuple[int, ...], seed: int | None = None) -> np.ndarray:
    """The random upstream gradient ``autograd_reference`` uses when given none: standard
    normal float64 of ``shape`` from ``np.random.default_rng(seed)`` (seed 0 when None)."""
    return np.random.default_rng(0 if seed is None else seed).standard_normal(shape)


def _to_tensor(value: Any, device: torch.device, requires_grad: bool) -> torch.Tensor:
    """A float64 copy of a floating value (integer labels keep their dtype) on ``device``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    t = torch.as_tensor(np.array(value), device=device)
    if t.is_floating_point():
        t = t.to(torch.float64)
    return t.requires_grad_(requires_grad)


def autograd_reference(
    fn: Callable[..., torch.Tensor],
    inputs: Mapping[str, Any],
    wrt: Iterable[str],
    *,
    grad_out: Any = None,
    device: str | torch.device | None = None,
    seed: int | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Output and gradients of a torch function, computed by autograd in float64.

    With y = fn(**inputs) and upstream gradient g (``grad_out``, of y's shape), returns y and
    d(sum(g * y))/dx for each input x named in ``wrt``. For a scalar y, g = 1 unless given;
    otherwise g defaults to ``upstream_gradient(y.shape, seed)``: random, never all ones (a
    .sum() would hide errors that cancel). TF32 is off on CUDA while fn runs.

    Args:
        fn: torch function of the inputs (by name) returning one tensor.
        inputs: name -> array or number; floating ones become float64 tensors on ``device``.
        wrt: names of the inputs to differentiate with respect to.
        grad_out: upstream gradient, shape of the output.
        device: 'cpu', 'cuda', 'cuda:1' or a torch.device; None: ``dlcourse.config.device()``
            ($DLCOURSE_DEVICE, else CUDA when available, else the CPU), so graders pick the device
            by environment and every lab's checks follow.
        seed: seed of the default upstream gradient.

    Returns:
        (output, {name: gradient}) as numpy float64 arrays of the shapes of output and inputs.
    """
    device = config.device() if device is None else torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {str(device)!r} was asked for but no CUDA device is "
            "available (torch.cuda.is_available() is False); use device='cpu'"
        )
    wrt = list(wrt)
    unknown = set(wrt) - set(inputs)
    if unknown:
        raise KeyError(f"wrt names inputs that don't exist: {sorted(unknown)}")
    tensors = {k: _to_tensor(v, device, k in wrt) for k, v in inputs.items()}
    with _no_tf32(device):
        y = fn(**tensors)
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"fn must return one tensor, got {_describe(y)}")
        if grad_out is None and y.dim() > 0:
            grad_out = upstream_gradient(tuple(y.shape), seed)
        g = (
            None
            if grad_out is None
            else torch.as_tensor(np.asarray(grad_out, dtype=np.float64), device=device).to(y.dtype)
        )
        # materialize_grads: zeros for an input the output does not depend on
        grads = (
            torch.autograd.grad(y, [tensors[k] for k in wrt], g, materialize_grads=True)
            if wrt
            else []
        )
    gradients = {k: dx.detach().cpu().numpy() for k, dx in zip(wrt, grads)}
    return y.detach().cpu().numpy(), gradients


def numerical_gradient(
    f: Callable[[np.ndarray], Any], x: np.ndarray, df: Any = None, h: float = 1e-5
) -> np.ndarray:
    """Central-difference gradient of L(x) = sum(df * f(x)) with respect to x (CS231n's
    ``eval_numerical_gradient``, names included).

    For each element x_i:  dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / (2 h), with an error of
    order h^2 from the step and of order 1e-16 / h from float64 rounding: h = 1e-5 keeps both
    at most ~1e-10 for values of order 1. ``df`` (the upstream gradient, of f(x)'s shape) defaults
    to ones (for a scalar f: plain df/dx). x is perturbed in place, one element at a time, and
    restored afterwards.

    Args:
        f: maps x to an array (any shape) or a scalar.
        x: float64 array, any shape.
        df: upstream gradient, f(x)'s shape; None: ones.
        h: the step.

    Returns:
        float64 array of x's shape.
    """
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64):
        raise TypeError("x must be a float64 numpy array (h is too small for lower precision)")
    g = 1.0 if df is None else np.asarray(df, dtype=np.float64)

    def loss() -> float:
        return float(np.sum(g * np.asarray(f(x), dtype=np.float64)))

    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        try:
            x[i] = old + h
            plus = loss()
            x[i] = old - h
            grad[i] = (plus - loss()) / (2 * h)
        finally:
            x[i] = old
    return grad


AUTOGRAD = (
    torch.Tensor.backward,
    torch.autograd.backward,
    torch.autograd.grad,
    autograd_reference,
    numerical_gradient,
)
"""Automatic or numerical differentiation: forbidden (``forbid_calls``) in the tasks whose
gradient is derived by hand, where either would skip the exercise."""
