"""The instructors' references of graded tasks, where they are installed; control outputs elsewhere.

Reference implementations of graded tasks live instructor-side, in ``autograder.reference.<lab>``
(never in the student handout, never visible to a grading kernel). The checks in
``dlcourse.tasks`` reach them only through this module:

- ``reference(lab, name)``: the reference object, or None where the references are not installed
  (the student handout; a grading kernel). Checks use it for what only the grader needs: isolating
  a task from the student's earlier ones, expected values of hidden cases.
- ``expected(lab, key, compute)``: a check's expected value. With the references installed it is
  ``compute()``; in the handout it is the *control output* recorded for ``key`` when the handout
  was built (``python -m autograder release`` runs the visible test cells against the references
  while ``recording``). A key with no control raises ``NoControl``: that case is the grader's.

Control outputs are data (numbers, strings, arrays, tensors, and lists/tuples/dicts of them) in
``dlcourse/tasks/controls/<lab>.json``; never pickles.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
CONTROLS = Path(__file__).resolve().parent / "tasks" / "controls"
"""Folder of the handout's control outputs, one ``<lab>.json`` per lab."""

_recording: dict[str, dict[str, Any]] | None = None
_loaded: dict[str, dict[str, Any]] = {}


class NoControl(LookupError):
    """No reference is installed and no control output was recorded for this case."""


def reference(lab: str, name: str) -> Any | None:
    """``autograder.reference.<lab>.<name>``, or None where the references are not installed."""
    try:
        module = importlib.import_module(f"autograder.reference.{lab}")
    except ImportError:
        return None
    return getattr(module, name)


def installed(lab: str, names: tuple[str, ...]) -> tuple[Any, ...]:
    """The named references of ``lab`` that are installed (none in the handout, none in a
    grading kernel): what a check forbids a student's function to call, besides libraries."""
    found = (reference(lab, name) for name in names)
    return tuple(r for r in found if r is not None)


def available(lab: str) -> bool:
    """True where ``lab``'s references are installed (the instructors' repository, the grader)."""
    try:
        importlib.import_module(f"autograder.reference.{lab}")
    except ImportError:
        return False
    return True


def expected(lab: str, key: str, compute: Callable[[], T]) -> T:
    """The expected value for ``key``: computed from the references where they are installed
    (and recorded while ``recording``), else the control output recorded for ``key``."""
    if available(lab):
        value = compute()
        if _recording is not None:
            _recording.setdefault(lab, {})[key] = encode(value)
        return value
    controls = _controls(lab)
    if key not in controls:
        raise NoControl(f"{key}: the grader checks this case (no control output in the handout)")
    return decode(controls[key])


@contextmanager
def recording() -> Iterator[dict[str, dict[str, Any]]]:
    """Record every ``expected`` value computed meanwhile: yields lab -> key -> encoded value."""
    global _recording
    saved, _recording = _recording, {}
    try:
        yield _recording
    finally:
        _recording = saved


def write_controls(recorded: dict[str, dict[str, Any]], folder: Path = CONTROLS) -> list[Path]:
    """Write what ``recording`` collected as ``<folder>/<lab>.json``; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for lab, values in sorted(recorded.items()):
        path = folder / f"{lab}.json"
        path.write_text(json.dumps(values, sort_keys=True))
        paths.append(path)
    return paths


def _controls(lab: str) -> dict[str, Any]:
    if lab not in _loaded:
        path = CONTROLS / f"{lab}.json"
        _loaded[lab] = json.loads(path.read_text()) if path.exists() else {}
    return _loaded[lab]


def encode(value: Any) -> Any:
    """``value`` as JSON-able data (arrays and tensors as ``.npy`` in base64)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "py", "v": value}
    if isinstance(value, (np.ndarray, np.generic)):
        return {"t": "nd", "npy": _npy(np.asarray(value)), "scalar": isinstance(value, np.generic)}
    torch = _torch()
    if torch is not None and isinstance(value, torch.Tensor):
        return {"t": "tensor", "npy": _npy(value.detach().cpu().numpy())}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "v": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"a control output must be data, not a {type(value).__name__}")


def decode(data: dict[str, Any]) -> Any:
    """The value ``encode`` turned into ``data``."""
    kind = data["t"]
    if kind == "py":
        return data["v"]
    if kind in ("nd", "tensor"):
        array = np.load(io.BytesIO(base64.b64decode(data["npy"])), allow_pickle=False)
        if kind == "tensor":
            return _torch().from_numpy(array.copy())
        return array[()] if data.get("scalar") else array
    if kind in ("list", "tuple"):
        items = [decode(v) for v in data["v"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {decode(k): decode(v) for k, v in data["v"]}
    raise ValueError(f"unknown control output kind {kind!r}")


def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of every lab but Lab 0's data
        return None
    return torch
