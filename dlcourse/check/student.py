"""Calling the student's code fairly, wherever it lives: in this process or in a grading kernel.

- ``call_student`` (``call_student_many`` for many calls at once) and ``student_autograd`` call
  a student's function so that what goes wrong (it raised, returned the wrong thing, died) costs
  only the case at hand, recorded in the ``Report``; ``isolate`` grades one task on its own;
  ``within_budget`` is a time limit measured by the caller.
- Where the student's code lives: while autograding, test cells run in the grader's process and
  every student name in them is a proxy (``is_remote``) of an object in the student's kernel
  (``autograder.rpc``). ``run_where`` is the one place that tells the two apart: it runs a
  function of this module beside the student's code, here or in the kernel (``remote_run``),
  and only data comes back (a kernel that does not answer raises ``RemoteError``); comparisons
  and points are always made here, by the grader.
- An early hint for students: where the student's code runs in this process (their own checks,
  ``validate``), ``call_student`` also refuses course objects (``own_code``) and watches calls
  into ``forbidden`` ones (``forbid_calls``). While grading, the grader checks the same rules on
  the submitted source (``autograder.integrity``); nothing the student's kernel reports about
  itself decides a score.

Calls ``dlcourse.check.report`` and ``oracles``; nothing calls it back.
"""

from __future__ import annotations

import copy
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from dlcourse import config
from dlcourse.check.oracles import _no_tf32, _to_tensor, upstream_gradient
from dlcourse.check.report import Report, _describe, _raised

T = TypeVar("T")
_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


# ----------------------------------------------------------------------------- where the code lives


class RemoteError(RuntimeError):
    """The student's kernel did not answer a grader's call (it died, hung, or sent garbage)."""


def is_remote(obj: Any) -> bool:
    """True for a grader's proxy of an object that lives in the student's kernel.

    While autograding, test cells run in the grader's own process and every student name in them
    is such a proxy (``autograder.rpc``); the helpers below then run the student's code where it
    lives and bring back only data, so nothing a student's code does can reach the comparisons.
    """
    return bool(getattr(type(obj), "__dlcourse_remote__", False))


def run_where(student: Any, work: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``work(*args, **kwargs)`` where ``student`` (a student's object) lives: here, or, for a
    grader's proxy, in the student's kernel, whose answer comes back as data.

    ``work`` must be importable there by name (a top-level function of ``dlcourse``), and its
    arguments and result plain data or the student's own objects (proxies travel as handles).

    Raises:
        RemoteError: the student's kernel did not answer, or ``work`` raised there.
    """
    if is_remote(student):
        return student.remote_run(work, *args, **kwargs)
    return work(*args, **kwargs)


def _watching(fn: Any, forbidden: Iterable[Any]) -> tuple[Any, ...] | None:
    """What ``_run_student`` watches ``fn`` for: ``forbidden``, or None (nothing, not even
    ``own_code``) for a grader's call: in the student's kernel, what the watch finds is the
    kernel's word, which grades must not rest on; the grader checks the source instead."""
    return None if is_remote(fn) else tuple(forbidden)


# ----------------------------------------------------------------------------- early hints


def _codes(obj: Any) -> dict[Any, str]:
    """Code objects of a python function (through wrappers, partials, methods) or of every
    method of a class -> qualified name."""
    if inspect.isclass(obj):
        codes: dict[Any, str] = {}
        for member in vars(obj).values():
            parts = (
                [member.fget, member.fset, member.fdel]
                if isinstance(member, property)
                else [member]
            )
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
            raise TypeError(
                f"forbid_calls can only watch python functions and classes, " f"not {fn!r}"
            )
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


# ----------------------------------------------------------------------------- calling the student


def call_student(
    report: Report,
    case: str,
    fn: Any,
    /,
    *args: Any,
    name: str,
    quantities: Iterable[str] | None = None,
    forbidden: Iterable[Any] = (),
    outputs: int | None = None,
    **kwargs: Any,
) -> tuple[bool, Any]:
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
        ok, result, problem = run_where(
            fn, _run_student, fn, args, kwargs, name, _watching(fn, forbidden)
        )
    except RemoteError as exc:
        ok, result, problem = False, None, str(exc)
    if (
        ok
        and outputs is not None
        and not (isinstance(result, tuple | list) and len(result) == outputs)
    ):
        ok, problem = (
            False,
            (f"{name} returned {_describe(result)}; expected a tuple of " f"{outputs} values"),
        )
    if not ok:
        report.fail(quantities, case, problem)
    return ok, result if ok else None


def call_student_many(
    report: Report,
    case: str,
    fn: Any,
    /,
    arguments: Iterable[tuple],
    *,
    name: str,
    quantities: Iterable[str] | None = None,
    forbidden: Iterable[Any] = (),
) -> tuple[bool, list[Any]]:
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
        ok, results, problem = run_where(
            fn, _run_student_many, fn, calls, name, _watching(fn, forbidden)
        )
    except RemoteError as exc:
        ok, results, problem = False, [], str(exc)
    if not ok:
        report.fail(quantities, case, problem)
    return ok, results


def _run_student_many(
    fn: Any, arguments: list[tuple], name: str, forbidden: tuple | None
) -> tuple[bool, list[Any], str]:
    """``call_student_many``'s work where ``fn`` lives."""
    results = []
    for args in arguments:
        ok, result, problem = _run_student(fn, args, {}, name, forbidden)
        if not ok:
            return False, [], problem
        results.append(result)
    return True, results, ""


def _run_student(
    fn: Any,
    args: tuple,
    kwargs: dict,
    name: str,
    forbidden: tuple | None,
    *,
    copy_args: bool = True,
) -> tuple[bool, Any, str]:
    """``call_student``'s work where ``fn`` lives: (True, result, '') or (False, None, why).

    ``copy_args=False`` passes the arguments themselves: ``student_autograd``'s inputs, whose
    gradients a copy would cut off (they are made for this one call anyway). ``forbidden=None``
    (a grader's call, in the student's kernel: ``_watching``) skips ``own_code`` and
    ``forbid_calls``.
    """
    problem = own_code(fn, name) if forbidden is not None else None
    if problem:
        return False, None, problem
    if copy_args:
        args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
    result, error = None, None
    with forbid_calls(*(forbidden or ())) as called:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # any bug in student code: report it, grade the rest
            error = exc
    if called:
        return (
            False,
            None,
            (
                f"calls {', '.join(called)}: write your own code "
                "(no course references or automatic gradients)"
            ),
        )
    if error is not None:
        return False, None, _raised(error)
    return True, result, ""


def within_budget(
    report: Report, case: str, quantities: Iterable[str], seconds: float, budget: float | None
) -> bool:
    """Whether a call that took ``seconds`` met ``budget`` (None: no budget); when not, each of
    ``quantities`` fails in ``case``: 'took 12.3 s, more than the 2 s budget: a numerical
    gradient?'. The caller measures ``seconds`` around its own call (the grader around its
    request), so the student's kernel has no say in it."""
    if budget is None or seconds <= budget:
        return True
    report.fail(
        quantities,
        case,
        f"took {seconds:.1f} s, more than the {budget:g} s budget: " "a numerical gradient?",
    )
    return False


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
    saved = run_where(fn, _swap_globals, fn, substitutes)
    try:
        yield list(saved)
    finally:
        run_where(fn, _swap_globals, fn, saved)


def _swap_globals(fn: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """Set those of ``values`` that already exist in ``fn``'s globals; returns their old values."""
    namespace = _namespace(fn)
    old = {name: namespace[name] for name in values if name in namespace}
    namespace.update({name: values[name] for name in old})
    return old


def student_autograd(
    report: Report,
    case: str,
    fn: Any,
    /,
    inputs: Mapping[str, Any],
    wrt: Iterable[str],
    *,
    name: str,
    grad_out: Any = None,
    module: Any = None,
    seed: int | None = None,
    quantities: Iterable[str] | None = None,
    forbidden: Iterable[Any] = (),
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
    try:
        ok, y, grads, problem = run_where(
            fn,
            _autograd_here,
            fn,
            inputs,
            list(wrt),
            name=name,
            grad_out=grad_out,
            module=module,
            seed=seed,
            forbidden=_watching(fn, forbidden),
            device=None if device is None else str(device),
        )
    except RemoteError as exc:
        ok, y, grads, problem = False, None, {}, str(exc)
    if not ok:  # the kernel's word can only fail the quantities the grader asked about
        report.fail(quantities, case, str(problem))
        return False, None, {}
    return True, y, grads


def _autograd_here(
    fn: Any,
    inputs: Mapping[str, Any],
    wrt: list[str],
    *,
    name: str,
    grad_out: Any,
    module: Any,
    seed: int | None,
    forbidden: tuple | None,
    device: str | None,
) -> tuple[bool, np.ndarray | None, dict[str, np.ndarray], str]:
    """``student_autograd``'s work where ``fn`` lives: (True, output, gradients, '') or
    (False, None, {}, why), which the grader records (``forbidden``: as in ``_run_student``)."""
    device = config.device() if device is None else torch.device(device)
    tensors = {k: _to_tensor(v, device, k in wrt) for k, v in inputs.items()}
    if module is not None:
        module.double().to(device).zero_grad(set_to_none=True)
    with _no_tf32(device):
        ok, y, problem = _run_student(fn, (), tensors, name, forbidden, copy_args=False)
        if not ok:
            return False, None, {}, problem
        if not (isinstance(y, torch.Tensor) and y.is_floating_point()):
            return False, None, {}, f"{name} returned {_describe(y)}; expected a float tensor"
        if grad_out is None and y.dim() > 0:
            grad_out = upstream_gradient(tuple(y.shape), seed)
        g = (
            None
            if grad_out is None
            else torch.as_tensor(np.asarray(grad_out, dtype=np.float64), device=device).to(y.dtype)
        )
        params = dict(module.named_parameters()) if module is not None else {}
        sources = [tensors[k] for k in wrt] + list(params.values())
        if not y.requires_grad:
            return (
                False,
                None,
                {},
                (
                    f"{name}'s output does not depend on its inputs through "
                    "autograd (was it detached or computed in numpy?)"
                ),
            )
        try:
            grads = torch.autograd.grad(y, sources, g, materialize_grads=True, allow_unused=True)
        except RuntimeError as exc:
            return False, None, {}, _raised(exc)
    names = wrt + list(params)
    gradients = {k: d.detach().cpu().numpy() for k, d in zip(names, grads)}
    return True, y.detach().cpu().numpy(), gradients, ""
