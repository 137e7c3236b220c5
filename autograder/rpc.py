"""The grader's side of test cells: run them here, with the student's names as proxies.

While autograding, a test cell's code (the instructors' own, restored from the gradebook) runs in
the grader's process, not in the student's kernel. Every name it uses that the cell does not
define is looked up in the student's kernel and comes back as data or as a ``Remote`` proxy;
calling a proxy runs the student's code in the kernel (``autograder.kernel.serve``) and brings
back data. References, comparisons and points are all computed here, so a student's code can
redefine ``torch.allclose``, the check functions, ``sys.excepthook`` or print "passed" as it
likes: none of that reaches this process. Answers are JSON and ``.npy`` (never pickles).
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import functools
import inspect
import io
import json
import os
import pickle
import secrets
import sys
import traceback
import types
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode

from dlcourse.check import RemoteError

from .kernel import MIME

CELL_NAME = "<test cell>"  # no source lines in tracebacks: hidden tests stay hidden


class Link:
    """Requests to the student's kernel; ``execute(code)`` runs code there and returns its outputs.

    With a ``folder`` the kernel may read, a request travels as a file there and the code run is
    one short line: a request written into the code (arrays, in base64) makes the kernel parse,
    transform and echo it, several times slower. The folder is the grader's, made per kernel and
    read-only to it (``execute.SandboxedKernelManager.requests``): the grader writes each request
    file and deletes it once answered.
    """

    def __init__(
        self, execute: Callable[[str], list[NotebookNode]], folder: str | None = None
    ) -> None:
        self._execute = execute
        self._folder = Path(folder) if folder else None
        self.dead: str | None = None
        self._handles: set[int] = set()  # the kernel's objects this link holds proxies of

    def request(self, op: str, *args: Any) -> Any:
        """Run ``op`` (see ``autograder.kernel``) in the kernel; its answer as data or proxies."""
        if self.dead:
            raise RemoteError(self.dead)
        nonce = secrets.token_hex(8)
        request = _dumps((nonce, op, args))
        try:
            outputs = self._send(nonce, request)
        except DeadKernelError as exc:
            self.dead = f"the notebook's kernel died ({exc})"
            raise RemoteError(self.dead) from None
        answer = _answer(outputs, nonce)
        if not answer.get("ok"):
            raise RemoteError(
                str(answer.get("error", "the kernel sent no error message")),
            ) from None
        return self.decode(answer.get("value"))

    def release(self) -> None:
        """Let the kernel free every object this link got a proxy of (a test cell's are used up
        when it ends); a dead kernel has nothing to free."""
        if self._handles and not self.dead:
            handles, self._handles = sorted(self._handles), set()
            with contextlib.suppress(RemoteError):  # it stopped answering: the next one says so
                self.request("release", *handles)

    def _send(self, nonce: str, request: bytes) -> list[NotebookNode]:
        serve = "__import__('autograder.kernel').kernel.serve"
        if self._folder is None:
            return self._execute(f"{serve}({base64.b64encode(request).decode()!r})")
        path = self._folder / f".dlcourse-request-{nonce}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(fd, 0o644)  # the kernel's own user reads it, whatever the umask
            f.write(request)
        try:
            return self._execute(f"{serve}(path={str(path)!r})")
        finally:
            path.unlink(missing_ok=True)

    def decode(self, data: Any) -> Any:
        """Plain data, or a ``Remote`` for a handle; anything unexpected is a ``RemoteError``."""
        kind = data.get("t") if isinstance(data, dict) else None
        if kind == "py" and (data["v"] is None or type(data["v"]) in (bool, int, float, str)):
            return data["v"]
        if kind in ("nd", "tensor"):
            array = np.load(io.BytesIO(base64.b64decode(data["npy"])), allow_pickle=False)
            if kind == "tensor":
                import torch

                return torch.from_numpy(array.copy())
            return array[()] if data.get("scalar") else array
        if kind in ("list", "tuple"):
            items = [self.decode(v) for v in data["v"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {_hashable(self.decode(k)): self.decode(v) for k, v in data["v"]}
        if kind == "handle":
            self._handles.add(int(data["id"]))
            return Remote(self, int(data["id"]), str(data["type"]))
        raise RemoteError(f"unexpected answer from the kernel: {str(data)[:100]}")


def _hashable(key: Any) -> Any:
    hash(key)  # a list or array sent as a dict key: refuse rather than guess
    return key


def _answer(outputs: list[NotebookNode], nonce: str) -> dict:
    for output in outputs:
        text = (
            output.get("data", {}).get(MIME)
            if output.get("output_type") == "display_data"
            else None
        )
        if text is not None:
            try:
                answer = json.loads(text)
            except (TypeError, ValueError):
                continue
            if isinstance(answer, dict) and answer.get("nonce") == nonce:
                return answer
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.get("output_type") == "error"]
    raise RemoteError(
        "the notebook's kernel did not answer" + (f" ({errors[-1]})" if errors else "")
    )


class Remote:
    """A proxy of one object in the student's kernel: call it, read its attributes and items."""

    __dlcourse_remote__ = True  # dlcourse.check.student.is_remote

    def __init__(self, link: Link, handle: int, type_name: str) -> None:
        self._link, self._handle, self._type = link, handle, type_name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._link.request("call", self, args, kwargs)

    def remote_run(self, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` in the kernel (``dlcourse.check.run_where``); ``func`` must be
        importable there (a dlcourse function)."""
        return self._link.request("call", func, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_link", "_handle", "_type"):
            raise AttributeError(name)
        return self._link.request("getattr", self, name)

    def __getitem__(self, key: Any) -> Any:
        return self._link.request("getitem", self, key)

    def __len__(self) -> int:
        return self._link.request("len", self)

    def __iter__(self) -> Any:
        return iter(self._link.request("list", self))

    def __reduce__(self) -> Any:
        raise TypeError("a Remote is sent to the kernel by its handle, through Link only")

    def __repr__(self) -> str:
        return f"<the notebook's {self._type}>"


REFERENCE_PACKAGE = "autograder.reference"
"""Objects of its modules travel to the kernel by source: a grading kernel cannot import them."""


class _Pickler(pickle.Pickler):
    """Requests for the kernel: a ``Remote`` goes as its handle, an instructors' reference
    (a function or class of ``autograder.reference.<lab>``, e.g. a substitute ``isolate`` puts
    in for a task's dependency) as ``("reference", module name, source, qualified name)``."""

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, Remote):
            return obj._handle
        if isinstance(obj, (type, types.FunctionType)) and _is_reference(obj):
            return ("reference", *shipped_reference(obj))
        return None


def _is_reference(obj: Any) -> bool:
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and module.startswith(REFERENCE_PACKAGE + ".")


def shipped_reference(obj: Any) -> tuple[str, str, str]:
    """(module name, source, qualified name) that ``autograder.kernel`` rebuilds ``obj`` from.

    The source is the module's, cut down to its imports and the top-level definitions ``obj``
    needs (transitively): a substitute brings no other task's reference into the kernel.

    Raises:
        pickle.PicklingError: ``obj`` is not reachable from its module's top level by its name.
    """
    name, qualname = obj.__module__, obj.__qualname__
    module = sys.modules.get(name)
    found = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not obj:
        raise pickle.PicklingError(
            f"{name}.{qualname}: only top-level functions and classes of "
            f"{REFERENCE_PACKAGE} (and their methods) can be sent to a kernel"
        )
    return name, _needed_source(name, qualname.split(".")[0]), qualname


@functools.lru_cache(maxsize=256)
def _needed_source(module_name: str, top: str) -> str:
    """The module less its docstring and the top-level definitions ``top`` does not use."""
    body = ast.parse(inspect.getsource(sys.modules[module_name])).body
    defines = {name: node for node in body for name in _defined_names(node)}
    needed, todo = set(), [top]
    while todo:
        name = todo.pop()
        if name in needed or name not in defines:
            continue
        needed.add(name)
        todo += [n.id for n in ast.walk(defines[name]) if isinstance(n, ast.Name)]
    kept = [
        node
        for node in body
        if needed & set(_defined_names(node))
        or not (_defined_names(node) or isinstance(node, ast.Expr))
    ]  # imports, ifs, ...
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


def _defined_names(node: ast.stmt) -> list[str]:
    """Top-level names a module statement defines (imports excepted)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = (
        node.targets
        if isinstance(node, ast.Assign)
        else ([node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
    )
    return [n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)]


def _dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


class StudentNames(dict):
    """Locals of a test cell: names it assigns, else the student's (looked up in the kernel)."""

    def __init__(self, link: Link, defined: set[str] = frozenset()) -> None:
        super().__init__()
        self._link, self._defined = link, defined

    def __missing__(self, name: str) -> Any:
        if hasattr(builtins, name) and name not in self._defined:
            raise KeyError(name)  # exec falls back to the real builtins, whatever the kernel did
        try:
            value = self._link.request("lookup", name)
        except RemoteError as exc:
            if self._link.dead:
                raise
            raise KeyError(name) from exc  # -> NameError, as in the kernel
        self[name] = value
        return value


def run_test_cell(source: str, link: Link, defined: set[str] = frozenset()) -> list[NotebookNode]:
    """Execute a test cell here against the student's kernel; its outputs, as the kernel's would be.

    Builtin names are this process's builtins, except those in ``defined`` (tasks the notebook's
    solution cells define under a builtin's name, like ``eval``), which are the student's.

    The last expression's value becomes the cell's ``execute_result`` (nbgrader's partial credit);
    printed text is a stdout stream; an exception is an ``error`` output (0 points).
    """
    tree = ast.parse(source, CELL_NAME)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    scope = {"__name__": "__grader__", "__builtins__": builtins}
    names, printed = StudentNames(link, defined), io.StringIO()
    outputs, value = [], None
    try:
        with redirect_stdout(printed), redirect_stderr(printed):
            exec(compile(tree, CELL_NAME, "exec"), scope, names)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), CELL_NAME, "eval"), scope, names)
    except Exception as exc:  # a failing test: shown to the student, scores 0
        error = exc
    else:
        error = None
    finally:
        link.release()
    if printed.getvalue():
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed.getvalue()))
    if error is not None:
        outputs.append(
            nbformat.v4.new_output(
                "error",
                ename=type(error).__name__,
                evalue=str(error),
                traceback=traceback.format_exception_only(error),
            )
        )
    elif value is not None:
        outputs.append(
            nbformat.v4.new_output(
                "execute_result", data={"text/plain": repr(value)}, execution_count=None
            )
        )
    return outputs
