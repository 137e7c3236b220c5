"""The student's side of the grader's calls: runs inside the student's Jupyter kernel.

While autograding, test cells run in the grader's process (``autograder.rpc``). Each time they
need the student's code, the grader executes ``serve(path=...)`` in the kernel: the request is a
pickle made by the grader (trusted data going in), in a file of the kernel's folder; the answer goes back as a display output of
type ``MIME`` holding JSON and numpy's own ``.npy`` format, never a pickle, so nothing the
student's code returns can run code in the grader.

Answers: plain data (None, bool, int, float, str, numpy arrays and scalars, torch tensors
(detached: checks get gradients through ``dlcourse.check.student_autograd``), and
lists/tuples/dicts of those) by value; anything else (a student's function, class, object) as a
numbered handle the grader can call and read attributes of.
"""
from __future__ import annotations

import base64
import io
import json
import os
import pickle
import sys
import traceback
from typing import Any

import numpy as np

MIME = "application/x-dlcourse-rpc+json"
MAX_DEPTH = 20

_handles: dict[int, Any] = {}


def serve(request: str = "", path: str | None = None) -> None:
    """Answer one grader request (see ``autograder.rpc.Link``) with a display output; the
    request comes in base64 or, from ``path``, as a file (deleted once read)."""
    from IPython.display import publish_display_data

    nonce = None
    try:
        data = base64.b64decode(request) if path is None else _take(path)
        nonce, op, args = _Unpickler(io.BytesIO(data)).load()
        answer = {"ok": True, "value": encode(_OPS[op](*args))}
    except Exception as exc:  # the student's code raised: the grader reports it
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc(limit=-3)}
    publish_display_data({MIME: json.dumps({"nonce": nonce, **answer})})


def _take(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def _lookup(name: str) -> Any:
    namespace = get_ipython().user_ns  # noqa: F821  (IPython puts get_ipython in builtins)
    if name not in namespace:
        raise NameError(f"name '{name}' is not defined in the notebook")
    return namespace[name]


def _call(target: Any, args: tuple, kwargs: dict) -> Any:
    return target(*args, **kwargs)


_OPS = {
    "lookup": _lookup,
    "call": _call,
    "getattr": getattr,
    "getitem": lambda obj, key: obj[key],
    "len": len,
    "list": list,
    "release": lambda handle_id: _handles.pop(handle_id, None) and None,
}


class _Unpickler(pickle.Unpickler):
    """The grader's request; handles it sent back are resolved to the objects they stand for."""

    def persistent_load(self, pid: Any) -> Any:
        return _handles[pid]


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-able data, or a handle for what is not plain data."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply to send back")
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "py", "v": value}
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype != object:
        return {"t": "nd", "npy": _npy(np.asarray(value)), "scalar": isinstance(value, np.generic)}
    torch = _torch()
    if torch is not None and isinstance(value, torch.Tensor):  # detached: grads via student_autograd
        return {"t": "tensor", "npy": _npy(_tensor_array(value)), "dtype": str(value.dtype)}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "v": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):  # OrderedDict too (a state_dict)
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    handle = id(value)
    _handles[handle] = value
    return {"t": "handle", "id": handle, "type": f"{type(value).__module__}.{type(value).__qualname__}",
            "callable": callable(value)}


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
