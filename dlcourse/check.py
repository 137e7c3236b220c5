"""Checking machinery shared by every lab's graded checks (``dlcourse.tasks``) and by students.

- ``compare`` one quantity with its reference -> a ``Comparison`` (ok, message, worst element);
  a ``Report`` collects them per quantity and case and turns them into nbgrader partial credit.
- Oracles: ``autograd_reference`` (PyTorch autograd in float64 with a random upstream gradient)
  and ``numerical_gradient`` (central differences, for students' own checks).
- Grading a student's function fairly: ``call_student`` (catches its exceptions;
  ``call_student_many`` for many calls at once), ``isolate`` (grade one task on its own),
  ``within_budget`` (a time limit measured by the caller).
- An early hint for students: where the student's code runs in this process (their own checks,
  ``validate``), ``call_student`` also refuses course objects (``own_code``) and watches calls
  into ``forbidden`` ones (``forbid_calls``). While grading, the grader checks the same rules on
  the submitted source (``autograder.integrity``); nothing the student's kernel reports about
  itself decides a score.

Arrays are numpy arrays or torch tensors; every comparison happens on the CPU in float64.
"""
from __future__ import annotations

import copy
import inspect
import os
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlcourse import config

_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def seed_all(seed: int) -> None:
    """Seed python's ``random``, ``np.random`` and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- comparisons

@dataclass(frozen=True)
class Comparison:
    """The verdict on one quantity in one case.

    ``message`` is the full line shown to the student (it names the quantity and the case).
    ``max_abs``/``max_rel`` are the largest absolute/relative errors, ``worst_index`` the element
    furthest outside the tolerance, ``yours``/``expected`` the two values there; all are None
    where not applicable (a wrong shape, an exception, a property check).
    """

    quantity: str
    case: str
    ok: bool
    message: str
    max_abs: float | None = None
    max_rel: float | None = None
    worst_index: tuple[int, ...] | None = None
    yours: float | None = None
    expected: float | None = None


def label(quantity: str, case: str = "") -> str:
    """'grad_w [seed=3, N=6]': how messages name a quantity in a case."""
    return f"{quantity} [{case}]" if case else quantity


def case_label(**params: Any) -> str:
    """'seed=3, N=6, D=2' from keyword arguments; None values are left out."""
    return ", ".join(f"{key}={value}" for key, value in params.items() if value is not None)


def verdict(quantity: str, ok: bool, detail: str, *, case: str = "") -> Comparison:
    """A Comparison for a property check (no reference values): message = label + detail."""
    return Comparison(quantity, case, ok, f"{label(quantity, case)}: {detail}")


def _raised(exc: BaseException) -> str:
    """'raised TypeError: message' on one line, at most ~200 characters of message."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"raised {type(exc).__name__}" + (f": {text}" if text else "")


def _describe(x: Any) -> str:
    """'a tuple of 3 items', 'None', 'a str': how to name a value that is not an array."""
    if x is None:
        return "None"
    if isinstance(x, (tuple, list, dict)):
        return f"a {type(x).__name__} of {len(x)} items"
    return f"a {type(x).__name__}"


def _as_array(x: Any) -> tuple[np.ndarray | None, str]:
    """(numpy array on the CPU, dtype name) or (None, what is wrong with x).

    Tuples are refused on purpose: a tuple where one array is expected is nearly always several
    return values. Lists of numbers are array-like and accepted.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        name = str(t.dtype).removeprefix("torch.")
        return (t.float() if t.dtype == torch.bfloat16 else t).numpy(), name  # numpy has no bf16
    if isinstance(x, (np.ndarray, np.generic, bool, int, float, complex, list)):
        try:
            a = np.asarray(x)
        except ValueError:  # a ragged list
            return None, f"{_describe(x)} that is not a rectangular array"
        if a.dtype.kind not in "biufc":
            return None, f"an array of {a.dtype}, not of numbers"
        return a, str(a.dtype)
    hint = " (several return values?)" if isinstance(x, tuple) else ""
    return None, f"{_describe(x)}{hint}; expected an array or a number"


def _dtype_problem(yours: np.dtype, name: str, expected: np.dtype) -> str | None:
    """Why dtype ``yours`` (called ``name``) can't stand for ``expected``, or None."""
    if expected.kind == "f":
        if yours.kind != "f":
            return f"yours is {name}; expected floating point values (float64)"
        if name != "float64":
            return f"yours is {name}; compute in float64: the inputs are float64"
    elif expected.kind in "biu" and yours.kind not in "biu":
        return f"yours is {name}; expected integers (counts or labels)"
    return None


def _fmt(v: float) -> str:
    """A value for a message: 4 decimals, or scientific notation when far from 1."""
    return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.4e}"


def _fmt_pair(a: float, b: float) -> tuple[str, str]:
    """Format two values so that different values never print the same."""
    pair = _fmt(a), _fmt(b)
    return pair if pair[0] != pair[1] or a == b else (repr(float(a)), repr(float(b)))


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index (i, j, ...) of the flat position ``flat`` in an array of ``shape``."""
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _shape(shape: tuple[int, ...]) -> str:
    """A shape for a message; () is spelled out as a scalar."""
    return f"{shape} (a scalar)" if shape == () else str(shape)


def compare(quantity: str, yours: Any, expected: Any, *, case: str = "",
            atol: float = 1e-6, rtol: float = 1e-5) -> Comparison:
    """Compare ``yours`` with the reference ``expected``, elementwise as ``np.isclose``:
    |yours - expected| <= atol + rtol * |expected|.

    Checked in order, the first problem decides the message: the type (an array, tensor or
    number), the shape (a scalar has shape ()), the dtype (float64 where the reference is
    floating; integers or bools where it is integer), NaN/inf where the reference is finite,
    then the values: max absolute and relative errors and the worst element, e.g.
    ``grad_w [seed=3]: max abs error 2.4e-01, max rel error 2.0e+00 at index (1,): yours
    -0.1200, expected 0.1200``.
    """
    name = label(quantity, case)
    a, a_dtype = _as_array(yours)
    if a is None:
        return verdict(quantity, False, f"yours is {a_dtype}", case=case)
    b, _ = _as_array(expected)
    if b is None:
        raise TypeError(f"{name}: the reference is not an array: {_describe(expected)}")
    if a.shape != b.shape:
        return verdict(quantity, False, f"yours has shape {_shape(a.shape)}, expected "
                       f"{_shape(b.shape)}", case=case)
    problem = _dtype_problem(a.dtype, a_dtype, b.dtype)
    if problem:
        return verdict(quantity, False, problem, case=case)
    a, b = a.astype(np.float64), b.astype(np.float64)
    broken = ~np.isfinite(a) & np.isfinite(b)
    if broken.any():
        i = _index(int(np.flatnonzero(broken)[0]), a.shape)
        return Comparison(quantity, case, False,
                          f"{name}: yours has {a[i]} at index {i} (expected {_fmt(b[i])}); "
                          f"{int(broken.sum())} non-finite value(s) in all",
                          worst_index=i, yours=float(a[i]), expected=float(b[i]))
    return _compare_values(quantity, case, a, b, atol, rtol)


def _compare_values(quantity: str, case: str, a: np.ndarray, b: np.ndarray,
                    atol: float, rtol: float) -> Comparison:
    """The value step of ``compare``: float64 arrays of one shape."""
    if a.size == 0:
        return verdict(quantity, True, "empty, as expected", case=case)
    same = (a == b) | (np.isnan(a) & np.isnan(b))  # also equal infinities
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(same, 0.0, np.abs(a - b))  # nan where only the reference is nan
        tol = atol + rtol * np.abs(b)
        close = same | ((err <= tol) & np.isfinite(b))  # an infinite reference must be met exactly
        ratio = err / tol  # error in units of the tolerance: > 1 fails
        rel = np.where(same, 0.0, err / np.abs(b))
    # rank failing elements above close ones; nan (inf vs inf, nan vs number) counts as worst
    ratio = np.where(close, np.nan_to_num(ratio, nan=0.0), np.nan_to_num(ratio, nan=np.inf))
    ok = bool(close.all())
    worst = _index(int(np.argmax(ratio if ok else np.where(close, -1.0, ratio))), a.shape)
    max_abs, max_rel = float(np.max(err)), float(np.max(rel))
    text = f"{label(quantity, case)}: max abs error {max_abs:.1e}, max rel error {max_rel:.1e}"
    if not ok:
        at = f" at index {worst}" if a.ndim else ""
        mine, ref = _fmt_pair(float(a[worst]), float(b[worst]))
        text += f"{at}: yours {mine}, expected {ref}"
    return Comparison(quantity, case, ok, text, max_abs, max_rel, worst,
                      float(a[worst]), float(b[worst]))


# ----------------------------------------------------------------------------- reports

class Report:
    """Comparisons of one or more tasks' quantities over several cases, in order.

    ``quantities`` declared up front count even when no comparison of theirs was recorded (a
    quantity that was never checked does not pass), so a check that stops early can't raise the
    share of points. ``report += other`` merges; ``report.points(3)`` is the cell's credit.
    """

    def __init__(self, title: str = "", quantities: Iterable[str] = (),
                 comparisons: Iterable[Comparison] = ()) -> None:
        self.title = title
        self._declared = list(dict.fromkeys(quantities))
        self.comparisons: list[Comparison] = []
        for comparison in comparisons:
            self.add(comparison)

    def add(self, comparison: Comparison) -> Comparison:
        """Record one comparison (returns it, for chaining)."""
        self.comparisons.append(comparison)
        return comparison

    def fail(self, quantities: Iterable[str], case: str, detail: str) -> None:
        """Every one of ``quantities`` fails in ``case`` with the same explanation."""
        for quantity in quantities:
            self.add(verdict(quantity, False, detail, case=case))

    def failed_call(self, quantities: Iterable[str], case: str, exc: BaseException) -> None:
        """The student's function raised ``exc``: each quantity of the case fails with
        'raised NotImplementedError: Lab 0, task ...' (type and message, on one line)."""
        self.fail(quantities, case, _raised(exc))

    def __iadd__(self, other: Report) -> Report:
        if not isinstance(other, Report):
            return NotImplemented
        self._declared = list(dict.fromkeys(self._declared + other._declared))
        self.comparisons.extend(other.comparisons)
        return self

    def __iter__(self) -> Iterator[Comparison]:
        return iter(self.comparisons)

    def __len__(self) -> int:
        return len(self.comparisons)

    @property
    def quantities(self) -> list[str]:
        """Names of the quantities, declared ones first, in order, without repeats."""
        return list(dict.fromkeys(self._declared + [c.quantity for c in self.comparisons]))

    def passed(self, quantity: str) -> bool:
        """True if ``quantity`` was checked and passed in every comparison (every case)."""
        verdicts = [c.ok for c in self.comparisons if c.quantity == quantity]
        return bool(verdicts) and all(verdicts)

    @property
    def ok(self) -> bool:
        """True if every quantity passed."""
        return all(self.passed(q) for q in self.quantities)

    def points(self, max_points: float) -> float:
        """Partial credit max_points * (passed quantities) / (all quantities), a plain float
        rounded to 6 decimals (nbgrader reads it as the test cell's value)."""
        quantities = self.quantities
        if not quantities:
            return 0.0
        passed = sum(self.passed(q) for q in quantities)
        return round(float(max_points) * passed / len(quantities), 6)

    def __str__(self) -> str:
        quantities = self.quantities
        passed = sum(self.passed(q) for q in quantities)
        lines = [f"{self.title or 'report'}: {passed} of {len(quantities)} quantities pass"]
        for quantity in quantities:  # grouped by quantity, cases in the order they were run
            lines += [f"  {'✓' if c.ok else '✗'} {c.message}"
                      for c in self.comparisons if c.quantity == quantity]
            if not any(c.quantity == quantity for c in self.comparisons):
                lines.append(f"  ✗ {quantity}: not checked")
        return "\n".join(lines)

    def __repr__(self) -> str:
        passed = sum(self.passed(q) for q in self.quantities)
        return (f"<Report {self.title!r}: {passed}/{len(self.quantities)} quantities pass, "
                f"{len(self.comparisons)} comparisons>")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self) if cycle else str(self))


# ----------------------------------------------------------------------------- oracles

def start_case(task: str, quantities: Sequence[str], seed: int | None) -> tuple[Report, np.random.Generator]:
    """An empty report of ``task``'s quantities and the case's generator, all seeded (a check's
    first line: every case of every lab starts the same way)."""
    if seed is not None:
        seed_all(seed)
    return Report(task, quantities), np.random.default_rng(seed)


def show(report: Report) -> Report:
    """Print the report (the student sees what passes) and return it (a check's last line)."""
    print(report)
    return report


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


def autograd_reference(fn: Callable[..., torch.Tensor], inputs: Mapping[str, Any],
                       wrt: Iterable[str], *, grad_out: Any = None,
                       device: str | torch.device | None = None,
                       seed: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
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
        raise RuntimeError(f"device {str(device)!r} was asked for but no CUDA device is "
                           "available (torch.cuda.is_available() is False); use device='cpu'")
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
        g = None if grad_out is None else torch.as_tensor(
            np.asarray(grad_out, dtype=np.float64), device=device).to(y.dtype)
        # materialize_grads: zeros for an input the output does not depend on
        grads = torch.autograd.grad(y, [tensors[k] for k in wrt], g,
                                    materialize_grads=True) if wrt else []
    gradients = {k: dx.detach().cpu().numpy() for k, dx in zip(wrt, grads)}
    return y.detach().cpu().numpy(), gradients


def numerical_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray, *,
                       grad_out: Any = None, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of L(x) = sum(grad_out * f(x)) with respect to x.

    For each element x_i:  dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps),
    with an error of order eps^2. ``grad_out`` defaults to ones (for a scalar f: plain df/dx).
    x is perturbed in place, one element at a time, and restored afterwards.

    Args:
        f: maps x to an array (any shape) or a scalar.
        x: float64 array, any shape.

    Returns:
        float64 array of x's shape.
    """
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64):
        raise TypeError("x must be a float64 numpy array (eps is too small for lower precision)")
    g = 1.0 if grad_out is None else np.asarray(grad_out, dtype=np.float64)

    def loss() -> float:
        return float(np.sum(g * np.asarray(f(x), dtype=np.float64)))

    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        try:
            x[i] = old + eps
            plus = loss()
            x[i] = old - eps
            grad[i] = (plus - loss()) / (2 * eps)
        finally:
            x[i] = old
    return grad


# ----------------------------------------------------------------------------- grading student code

def _codes(obj: Any) -> dict[Any, str]:
    """Code objects of a python function (through wrappers, partials, methods) or of every
    method of a class -> qualified name."""
    if inspect.isclass(obj):
        codes: dict[Any, str] = {}
        for member in vars(obj).values():
            parts = ([member.fget, member.fset, member.fdel] if isinstance(member, property)
                     else [member])
            for part in parts:
                if part is not None and callable(getattr(part, "__func__", part)):
                    codes.update(_codes(part))
        return codes
    codes = {}
    while obj is not None:
        obj = getattr(obj, "func", None) or getattr(obj, "__func__", None) or obj  # partial, method
        code = getattr(obj, "__code__", None)
        if code is not None:
            codes[code] = f"{obj.__module__}.{obj.__qualname__}"
        obj = getattr(obj, "__wrapped__", None)
    return codes


@contextmanager
def forbid_calls(*functions: Any) -> Iterator[list[str]]:
    """Record calls into ``functions`` while active; yields the list of names called.

    Calls are recognised by code object (``sys.setprofile``), so aliases, wrappers and
    subclasses that run the same code are caught too; a class stands for all its methods.
    Only python functions can be watched (builtins have no code object).
    """
    watched: dict[Any, str] = {}
    for fn in functions:
        codes = _codes(fn)
        if not codes:
            raise TypeError(f"forbid_calls can only watch python functions and classes, "
                            f"not {fn!r}")
        watched.update(codes)
    called: list[str] = []
    previous = sys.getprofile()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            name = watched.get(frame.f_code)
            if name is not None and name not in called:
                called.append(name)

    # a profiler already running pauses meanwhile (cProfile's can't be chained)
    sys.setprofile(profile)
    try:
        yield called
    finally:
        if previous is None or callable(previous):
            sys.setprofile(previous)
        else:  # cProfile.Profile: not callable, it restarts itself
            previous.enable()


def _namespace(fn: Any) -> dict[str, Any]:
    """The global namespace ``fn``'s code looks names up in (a class: its module's)."""
    fn = inspect.unwrap(fn)
    if hasattr(fn, "__globals__"):
        return fn.__globals__
    return vars(sys.modules[fn.__module__])


@contextmanager
def isolate(fn: Any, **substitutes: Any) -> Iterator[list[str]]:
    """Temporarily replace global names that ``fn`` sees by ``substitutes``.

    Only names that already exist in ``fn``'s globals are replaced (none is added); all are
    restored on exit, also after an exception. Yields the names replaced. Used to grade one task
    on its own: e.g. ``binlogreg_train`` with a correct ``binlogreg_loss_grad``. Works the same on
    a grader's proxy of ``fn`` (the swap happens where ``fn`` lives).
    """
    swap = partial(fn.remote_run, _swap_globals) if is_remote(fn) else _swap_globals
    saved = swap(fn, substitutes)
    try:
        yield list(saved)
    finally:
        swap(fn, saved)


def _swap_globals(fn: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """Set those of ``values`` that already exist in ``fn``'s globals; returns their old values."""
    namespace = _namespace(fn)
    old = {name: namespace[name] for name in values if name in namespace}
    namespace.update({name: values[name] for name in old})
    return old


def own_code(fn: Any, name: str) -> str | None:
    """Why ``fn`` (the student's ``name``) can't be graded as their own code, or None.

    Refused: anything not callable, and objects of the dlcourse package itself (its references,
    oracles and checks), also behind ``functools.wraps``/``partial``.
    """
    if not callable(fn):
        return f"{name} is {_describe(fn)}, not a function"
    inner = inspect.unwrap(getattr(fn, "func", fn))
    module = getattr(inner, "__module__", None) or ""
    code = getattr(getattr(inner, "__func__", inner), "__code__", None)
    in_package = code is not None and code.co_filename.startswith(_PACKAGE_DIR)
    if module.split(".")[0] == "dlcourse" or in_package:
        where = f"{module}.{getattr(inner, '__qualname__', '?')}"
        return f"{name} is {where} from the dlcourse package; write your own"
    return None


class RemoteError(RuntimeError):
    """The student's kernel did not answer a grader's call (it died, hung, or sent garbage)."""


def is_remote(obj: Any) -> bool:
    """True for a grader's proxy of an object that lives in the student's kernel.

    While autograding, test cells run in the grader's own process and every student name in them
    is such a proxy (``autograder.rpc``); the helpers below then run the student's code where it
    lives and bring back only data, so nothing a student's code does can reach the comparisons.
    """
    return bool(getattr(type(obj), "__dlcourse_remote__", False))


def call_student(report: Report, case: str, fn: Any, /, *args: Any, name: str,
                 quantities: Iterable[str] | None = None, forbidden: Iterable[Any] = (),
                 outputs: int | None = None, **kwargs: Any) -> tuple[bool, Any]:
    """Call a student's ``fn(*args, **kwargs)`` so that what goes wrong costs only this case.

    ``fn`` gets deep copies of the arguments (it can't change the grader's inputs). On failure
    each of ``quantities`` (default: all the report's) fails in ``case`` and (False, None) is
    returned: it raised, or it returned other than a tuple/list of ``outputs`` values (when
    given); and, where ``fn`` runs in this process (not a grader's proxy), ``fn`` is not the
    student's own (``own_code``) or it called one of ``forbidden``: the early hint. A grader's
    call runs nothing but ``fn`` in the student's kernel and checks its result here.

    Returns:
        (True, fn's result) or (False, None).
    """
    quantities = report.quantities if quantities is None else list(quantities)
    try:
        if is_remote(fn):  # no watching in the kernel: the grader checks the source instead
            ok, result, problem = fn.remote_run(_run_student, fn, args, kwargs, name, (),
                                                watch=False)
        else:
            ok, result, problem = _run_student(fn, args, kwargs, name, tuple(forbidden))
    except RemoteError as exc:
        ok, result, problem = False, None, str(exc)
    if ok and outputs is not None and not (isinstance(result, (tuple, list))
                                           and len(result) == outputs):
        ok, problem = False, (f"{name} returned {_describe(result)}; expected a tuple of "
                              f"{outputs} values")
    if not ok:
        report.fail(quantities, case, problem)
    return ok, result if ok else None


def call_student_many(report: Report, case: str, fn: Any, /, arguments: Iterable[tuple], *,
                      name: str, quantities: Iterable[str] | None = None,
                      forbidden: Iterable[Any] = ()) -> tuple[bool, list[Any]]:
    """``fn(*args)`` for each tuple ``args`` of ``arguments``, each call as :func:`call_student`
    makes it, all in one round trip to a grader's kernel: a sampler drawn 40 times costs one
    request, not 40.

    Returns:
        (True, [the results, in order]) or (False, []) at the first failing call (recorded for
        ``quantities``, default all the report's).
    """
    quantities = report.quantities if quantities is None else list(quantities)
    calls = [tuple(args) for args in arguments]
    try:
        ok, results, problem = (fn.remote_run(_run_student_many, fn, calls, name, (), watch=False)
                                if is_remote(fn) else
                                _run_student_many(fn, calls, name, tuple(forbidden)))
    except RemoteError as exc:
        ok, results, problem = False, [], str(exc)
    if not ok:
        report.fail(quantities, case, problem)
    return ok, results


def _run_student_many(fn: Any, arguments: list[tuple], name: str, forbidden: tuple, *,
                      watch: bool = True) -> tuple[bool, list[Any], str]:
    """``call_student_many``'s work where ``fn`` lives."""
    results = []
    for args in arguments:
        ok, result, problem = _run_student(fn, args, {}, name, forbidden, watch=watch)
        if not ok:
            return False, [], problem
        results.append(result)
    return True, results, ""


def _run_student(fn: Any, args: tuple, kwargs: dict, name: str, forbidden: tuple, *,
                 copy_args: bool = True, watch: bool = True) -> tuple[bool, Any, str]:
    """``call_student``'s work where ``fn`` lives: (True, result, '') or (False, None, why).

    ``copy_args=False`` passes the arguments themselves: ``student_autograd``'s inputs, whose
    gradients a copy would cut off (they are made for this one call anyway). ``watch=False``
    (a grader's call, in the student's kernel) skips ``own_code`` and ``forbid_calls``: what
    they would find there is the student's kernel's word, which grades must not rest on.
    """
    problem = own_code(fn, name) if watch else None
    if problem:
        return False, None, problem
    if copy_args:
        args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
    result, error = None, None
    with forbid_calls(*forbidden) as called:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # any bug in student code: report it, grade the rest
            error = exc
    if called:
        return False, None, (f"calls {', '.join(called)}: write your own code "
                             "(no course references or automatic gradients)")
    if error is not None:
        return False, None, _raised(error)
    return True, result, ""


def within_budget(report: Report, case: str, quantities: Iterable[str], seconds: float,
                  budget: float | None) -> bool:
    """Whether a call that took ``seconds`` met ``budget`` (None: no budget); when not, each of
    ``quantities`` fails in ``case``: 'took 12.3 s, more than the 2 s budget: a numerical
    gradient?'. The caller measures ``seconds`` around its own call (the grader around its
    request), so the student's kernel has no say in it."""
    if budget is None or seconds <= budget:
        return True
    report.fail(quantities, case, f"took {seconds:.1f} s, more than the {budget:g} s budget: "
                "a numerical gradient?")
    return False


def student_autograd(report: Report, case: str, fn: Any, /, inputs: Mapping[str, Any],
                     wrt: Iterable[str], *, name: str, grad_out: Any = None,
                     module: Any = None, seed: int | None = None,
                     quantities: Iterable[str] | None = None, forbidden: Iterable[Any] = (),
                     device: str | torch.device | None = None,
                     ) -> tuple[bool, np.ndarray | None, dict[str, np.ndarray]]:
    """Output and gradients of a student's torch function, for comparison with a reference.

    Calls ``fn(**inputs)`` as :func:`call_student` does (not on copies: gradients must reach the
    inputs) on float64 tensors (integer ones keep their dtype) on ``device`` (default
    :func:`dlcourse.config.device`), then backpropagates ``grad_out`` (default as in
    :func:`autograd_reference`, with the same ``seed``: use the same one for both).
    Gradients: d(sum(g * y))/dx for each input named in ``wrt``, and, when ``module`` (a student's
    ``nn.Module``) is given, for each of its parameters as ``"<param name>"``; zeros where the
    output does not depend on one. Checks get student gradients only through this function (never
    ``.backward()`` on a student's output), so the grader can run the whole call where the
    student's code lives.

    Returns:
        (True, output, {name: gradient}) as float64 numpy arrays, or (False, None, {}) when the
        call failed (already reported in ``report`` for ``quantities``).
    """
    quantities = report.quantities if quantities is None else list(quantities)
    if is_remote(fn):  # the whole call and backward pass run where the student's code lives
        try:
            ok, y, grads, failures = fn.remote_run(
                _student_autograd_report, case, fn, inputs, list(wrt), name=name, grad_out=grad_out,
                module=module, seed=seed, quantities=quantities,
                device=None if device is None else str(device))
        except RemoteError as exc:
            ok, y, grads = False, None, {}
            failures = [(q, verdict(q, False, str(exc), case=case).message) for q in quantities]
        for quantity, message in failures:  # the kernel's word can only fail its own quantities
            if quantity in quantities:
                report.add(Comparison(quantity, case, False, str(message)))
        return ok, y, grads
    return _autograd_here(report, case, fn, inputs, list(wrt), name=name, grad_out=grad_out,
                          module=module, seed=seed, quantities=quantities,
                          forbidden=tuple(forbidden), device=device)


def _autograd_here(report: Report, case: str, fn: Any, inputs: Mapping[str, Any], wrt: list[str],
                   *, name: str, grad_out: Any, module: Any, seed: int | None,
                   quantities: list[str], forbidden: tuple, device: str | torch.device | None,
                   watch: bool = True) -> tuple[bool, np.ndarray | None, dict[str, np.ndarray]]:
    """``student_autograd`` where ``fn`` lives (``watch``: as in ``_run_student``)."""
    device = config.device() if device is None else torch.device(device)
    tensors = {k: _to_tensor(v, device, k in wrt) for k, v in inputs.items()}
    if module is not None:
        module.double().to(device).zero_grad(set_to_none=True)
    with _no_tf32(device):
        ok, y, problem = _run_student(fn, (), tensors, name, forbidden, copy_args=False,
                                      watch=watch)
        if not ok:
            report.fail(quantities, case, problem)
        if ok and not (isinstance(y, torch.Tensor) and y.is_floating_point()):
            report.fail(quantities, case, f"{name} returned {_describe(y)}; expected a float tensor")
            ok = False
        if not ok:
            return False, None, {}
        if grad_out is None and y.dim() > 0:
            grad_out = upstream_gradient(tuple(y.shape), seed)
        g = None if grad_out is None else torch.as_tensor(
            np.asarray(grad_out, dtype=np.float64), device=device).to(y.dtype)
        params = dict(module.named_parameters()) if module is not None else {}
        sources = [tensors[k] for k in wrt] + list(params.values())
        if not y.requires_grad:
            report.fail(quantities, case, f"{name}'s output does not depend on its inputs through "
                        "autograd (was it detached or computed in numpy?)")
            return False, None, {}
        try:
            grads = torch.autograd.grad(y, sources, g, materialize_grads=True, allow_unused=True)
        except RuntimeError as exc:
            report.failed_call(quantities, case, exc)
            return False, None, {}
    names = wrt + list(params)
    return True, y.detach().cpu().numpy(), {k: d.detach().cpu().numpy() for k, d in zip(names, grads)}


def _student_autograd_report(case: str, fn: Any, inputs: Mapping[str, Any], wrt: list[str], *,
                             quantities: list[str], **options: Any,
                             ) -> tuple[bool, Any, dict[str, np.ndarray], list[tuple[str, str]]]:
    """``student_autograd`` in the student's kernel, for the grader: nothing is watched there
    (``_run_student``'s ``watch``); failures come back as data."""
    report = Report(quantities=quantities)
    ok, y, grads = _autograd_here(report, case, fn, inputs, wrt, quantities=quantities,
                                  forbidden=(), watch=False, **options)
    return ok, y, grads, [(c.quantity, c.message) for c in report if not c.ok]
