"""Limits for the student's kernel, installed when it starts (``IPKernelApp.exec_lines``).

The grader passes them in ``$DLCOURSE_SANDBOX`` (JSON): ``memory`` (bytes of data memory, or
null), ``deny`` (folders the notebook may neither read nor write: the course's hidden tests,
solutions and gradebook, other students) and ``allow`` (folders inside those it may use: its
own). A Python audit hook (PEP 578) enforces them; once added it can't be removed from Python,
so code in the notebook can't undo it. It also refuses new processes (a shell could read what
``open`` may not). What it does not stop: native code (ctypes) that bypasses Python; the notes in
README.md say so. Denials raise ``PermissionError`` naming the rule.
"""
from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any

ENV = "DLCOURSE_SANDBOX"
_PROCESS_EVENTS = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                   "subprocess.Popen", "pty.spawn"}
_PATH_EVENTS = {"open": 0, "os.remove": 0, "os.rename": 0, "os.rmdir": 0, "os.mkdir": 0,
                "os.chmod": 0, "os.symlink": 1, "os.link": 1, "os.truncate": 0, "os.listdir": 0,
                "os.scandir": 0, "shutil.rmtree": 0, "os.chdir": 0}


def settings(*, memory: int | None, deny: list[str], allow: list[str]) -> str:
    """The value of ``$DLCOURSE_SANDBOX`` for these limits."""
    return json.dumps({"memory": memory, "deny": [_real(p) for p in deny],
                       "allow": [_real(p) for p in allow]})


def install() -> None:
    """Apply ``$DLCOURSE_SANDBOX`` to this process (no-op when it is not set)."""
    text = os.environ.pop(ENV, None)  # not left for the notebook to read
    if not text:
        return
    rules = json.loads(text)
    if rules.get("memory"):
        limit = int(rules["memory"])
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))  # not AS: torch reserves GiBs it never uses
    deny, allow = tuple(rules.get("deny", ())), tuple(rules.get("allow", ()))
    sys.addaudithook(_hook(deny, allow))


def _real(path: Any) -> str:
    return os.path.realpath(os.fsdecode(path))


def _inside(path: str, folders: tuple[str, ...]) -> bool:
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _hook(deny: tuple[str, ...], allow: tuple[str, ...]) -> Any:
    def hook(event: str, args: tuple) -> None:
        if event in _PROCESS_EVENTS:
            raise PermissionError(f"grading sandbox: {event} is not allowed while grading")
        position = _PATH_EVENTS.get(event)
        if position is None or len(args) <= position or isinstance(args[position], int):
            return
        path = _real(args[position])
        if _inside(path, deny) and not _inside(path, allow):
            raise PermissionError(f"grading sandbox: {path} is not the notebook's to use")
    return hook
