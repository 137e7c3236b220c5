"""The student's side of the grader's calls: runs inside the student's Jupyter kernel.

While autograding, test cells run in the grader's process (``autograder.rpc``). Each time they
need the student's code, the grader executes ``serve(path=...)`` in the kernel: the request is a
pickle made by the grader (trusted data going in), in a file of a folder the kernel may only read
(the grader deletes it); the answer goes back as a display output of
type ``MIME`` holding JSON and numpy's own ``.npy`` format, never a pickle, so nothing the
student's code returns can run code in the grader.

Answers: plain data (None, bool, int, float, str, numpy arrays and scalars, torch tensors
(detached: checks get gradients through ``dlcourse.check.student_autograd``), and
lists/tuples/dicts of those) by value; anything else (a student's function, class, object) as a
numbered handle the grader can call and read attributes of.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
import sys
import types
from typing import Any

import numpy as np

MIME = "application/x-dlcourse-rpc+json"
MAX_DEPTH = 20

_handles: dict[int, Any] = {}


def serve(request: str = "", path: str | None = None) -> None:
    """Answer one grader request (see ``autograder.rpc.Link``) with a display output; the
    request comes in base64 or, from ``path``, as a file."""
    from IPython.display import publish_display_data

    nonce = None
    try:
        data = base64.b64decode(request) if path is None else _read(path)
        nonce, op, args = _Unpickler(io.BytesIO(data)).load()
        answer = {"ok": True, "value": encode(_OPS[op](*args))}
    except Exception as exc:  # the student's code raised: the grader reports it
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    publish_display_data({MIME: json.dumps({"nonce": nonce, **answer})})


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _lookup(name: str) -> Any:
    namespace = get_ipython().user_ns  # noqa: F821  (IPython puts get_ipython in builtins)
    if name not in namespace:
        raise NameError(f"name '{name}' is not defined in the notebook")
    return namespace[name]


def _release(*handle_ids: int) -> None:
    """Forget the objects of these handles: the grader holds no proxy of them any more."""
    for handle in handle_ids:
        _handles.pop(handle, None)


def _call(target: Any, args: tuple, kwargs: dict) -> Any:
    return target(*args, **kwargs)


_OPS = {
    "lookup": _lookup,
    "call": _call,
    "getattr": getattr,
    "getitem": lambda obj, key: obj[key],
    "len": len,
    "list": list,
    "release": _release,
}


class _Unpickler(pickle.Unpickler):
    """The grader's request; handles it sent back are resolved to the objects they stand for,
    and instructors' references it sent by source (``autograder.rpc._Pickler``) are built."""

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and pid[:1] == ("reference",):
            return _reference(*pid[1:])
        return _handles[pid]


_references: dict[str, types.ModuleType] = {}
"""Reference modules built from the grader's source, by the hash of their name and source."""


def _reference(name: str, source: str, qualname: str) -> Any:
    """``qualname`` of the module ``name`` built from ``source`` (once per distinct source).

    This kernel cannot import the instructors' references (the sandbox hides them), so the grader
    sends their source. The module is private: not in ``sys.modules``, so an import of its name
    from the notebook still fails.
    """
    key = hashlib.sha256(f"{name}\0{source}".encode()).hexdigest()
    if key not in _references:
        module = types.ModuleType(name)
        exec(compile(source, f"<grader's {name}>", "exec"), module.__dict__)
        _references[key] = module
    found: Any = _references[key]
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-able data, or a handle for what is not plain data."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply to send back")
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "py", "v": value}
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype != object:
        return {"t": "nd", "npy": _npy(np.asarray(value)), "scalar": isinstance(value, np.generic)}
    torch = _torch()
    if torch is not None and isinstance(
        value, torch.Tensor
    ):  # detached: grads via student_autograd
        return {"t": "tensor", "npy": _npy(_tensor_array(value))}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "v": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):  # OrderedDict too (a state_dict)
        return {
            "t": "dict",
            "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()],
        }
    handle = id(value)
    _handles[handle] = value
    return {
        "t": "handle",
        "id": handle,
        "type": f"{type(value).__module__}.{type(value).__qualname__}",
    }


def _torch() -> Any:
    """torch if the notebook imported it (a lab without torch never loads it)."""
    return sys.modules.get("torch")


def _tensor_array(t: Any) -> np.ndarray:
    t = t.detach().cpu()
    return (t.float() if t.dtype == _torch().bfloat16 else t).numpy()  # numpy has no bfloat16


def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()
