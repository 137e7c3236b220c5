"""The sandbox of a student's kernel while grading: the operating system's, and Python's inside it.

**The OS sandbox** (``Jail``, ``options``, ``launch``): the kernel runs under bubblewrap (``bwrap``)
in its own mount, PID, IPC, UTS and network namespaces. Of the filesystem it sees, read-only,
the system (``SYSTEM``: programs, libraries, settings), its Python and ``Jail.visible`` (what it
imports, the data): no one's files, so not the course folder, the submissions, the solutions or
the gradebook; what of ``Jail.hidden`` lies inside what it sees is an empty tmpfs. Its ``/tmp``
(also its working directory and ``$HOME``), ``/dev/shm`` and ``/run`` are private tmpfs mounts,
size-capped, that vanish with it. It sees no other process (``/proc`` is its PID namespace's), no
network but its own loopback, and talks to the grader over Unix sockets in the one host folder it
may write, and only while it starts (``Jail.sockets``); the grader's requests come through
another, read-only (``Jail.requests``). Nothing survives it: bubblewrap is PID 1 of the namespace
and dies with the grader (``--die-with-parent``); when PID 1 ends, the kernel (the OS one) ends
every process left in the namespace.

Which user: when the grader is root, the kernel runs as a uid of its own (see ``launch``), never
as root: for root ``RLIMIT_NPROC`` is not enforced at all, and root in a user namespace keeps
capabilities that would let it unmount what hides the course folder. Otherwise bwrap makes a user
namespace (``--disable-userns``: no nested one) and the kernel runs as the grader's user. Either
way ``RLIMIT_NPROC`` counts the kernel's own processes only. Limits per process: ``RLIMIT_DATA``
(memory), ``RLIMIT_FSIZE`` (file size), ``RLIMIT_NPROC`` (tasks, threads included).

**The Python sandbox** (``install``, run by the kernel before any of the notebook's code): sets
those limits, and adds a PEP 578 audit hook that refuses new processes and the hidden folders.
Inside the OS sandbox it is defence in depth (a clear ``PermissionError`` instead of a missing
file); without one (``autograde --unsafe-no-sandbox``) it is all there is, and native code
(ctypes) goes around it. Its settings reach each kernel in that kernel's own environment
(``$DLCOURSE_SANDBOX``), never through the grader's.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV = "DLCOURSE_SANDBOX"
FIRST_UID = 1_000_000_000
"""A kernel started by root runs as uid and gid ``FIRST_UID`` + its launcher's PID: a user of
its own, far above any real account's (Debian gives them 1000-59999, containers 100000 up)."""
PASSED_ENV = (
    "LANG",
    "LC_ALL",
    "TZ",
    "DLCOURSE_DATA",
    "DLCOURSE_DEVICE",
    "DLCOURSE_FAST",
    "DLCOURSE_OFFLINE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "MPLBACKEND",
)
"""The grader's environment variables a kernel gets (``--clearenv`` drops every other)."""
GRADER_ONLY_ENV = ("DLCOURSE_HIDDEN_SECRET",)  # dlcourse.check.SECRET_ENV: this file imports none
"""The grader's environment variables no process of a kernel's gets, sandboxed or not (the
course's secret: it would tell the hidden cases)."""
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
"""All a kernel sees of the machine, read-only, besides its Python (``sys.prefix``,
``sys.base_prefix``) and ``Jail.visible``: programs, libraries, settings. No one's files: not
``/home``, ``/root``, ``/srv``, ``/var``, ``/opt``, ``/mnt``, nor wherever the course folder or the
submissions are."""
PRIVATE = ("/tmp", "/dev/shm", "/run")
"""Folders each kernel gets its own empty tmpfs of."""
_PROCESS_EVENTS = {
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "subprocess.Popen",
    "pty.spawn",
}
_PATH_EVENTS = {
    "open": 0,
    "os.remove": 0,
    "os.rename": 0,
    "os.rmdir": 0,
    "os.mkdir": 0,
    "os.chmod": 0,
    "os.symlink": 1,
    "os.link": 0,
    "os.truncate": 0,
    "os.listdir": 0,
    "os.scandir": 0,
    "shutil.rmtree": 0,
    "os.chdir": 0,
}


@dataclass(frozen=True)
class Limits:
    """Per-kernel limits, in bytes (``memory`` None: no memory limit) and tasks (threads count)."""

    memory: int | None = 4 * 2**30
    file_size: int = 256 * 2**20
    processes: int = 256
    tmp: int = 512 * 2**20
    shm: int = 256 * 2**20


@dataclass(frozen=True)
class Jail:
    """One kernel's OS sandbox: what it may not see, what it sees again inside that, its folders."""

    limits: Limits
    hidden: tuple[str, ...]
    visible: tuple[str, ...] = ()
    sockets: str = ""
    requests: str = ""

    def rules(self, *, sandboxed: bool = True) -> str:
        """``$DLCOURSE_SANDBOX`` for ``install``: the limits, and the audit hook's folders. The
        process count only in the OS sandbox (outside, it would count every process of the
        grader's user)."""
        limits = self.limits
        return json.dumps(
            {
                "memory": limits.memory,
                "file_size": limits.file_size,
                "processes": limits.processes if sandboxed else None,
                "deny": [_real(p) for p in self.hidden],
                "allow": [_real(p) for p in (*self.visible, sys.prefix, sys.base_prefix)],
            }
        )


# ------------------------------------------------------------------------ the OS sandbox


def options(jail: Jail, *, privileged: bool) -> list[str]:
    """bwrap's options for ``jail`` (the command to run follows them). ``privileged``: bwrap runs
    as root, with no user namespace (the kernel gets its own uid instead, see ``launch``)."""
    args = [
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
    ]
    if not privileged:
        args += ["--unshare-user", "--disable-userns"]
    system = tuple(_real(p) for p in SYSTEM if os.path.exists(p))
    for path in SYSTEM:  # on merged-/usr systems /bin, /lib... are links into /usr
        args += (
            ["--symlink", os.readlink(path), path]
            if os.path.islink(path)
            else ["--ro-bind", path, path]
            if os.path.exists(path)
            else []
        )
    args += ["--proc", "/proc", "--dev", "/dev"]
    for device in sorted(glob.glob("/dev/nvidia*")):  # CUDA grading keeps its GPU
        args += ["--dev-bind", device, device]
    args += [
        "--perms",
        "1777",
        "--size",
        str(jail.limits.tmp),
        "--tmpfs",
        "/tmp",
        "--perms",
        "1777",
        "--size",
        str(jail.limits.shm),
        "--tmpfs",
        "/dev/shm",
        "--tmpfs",
        "/run",
    ]
    hidden = _outermost([_real(p) for p in jail.hidden if os.path.lexists(p)])
    hidden = [p for p in hidden if _inside(p, system)]  # what is not shown needs no hiding
    args += _hide(hidden)
    shown = tuple(p for p in system if not _inside(p, tuple(hidden)))
    visible = [_real(p) for p in (*jail.visible, sys.prefix, sys.base_prefix) if os.path.exists(p)]
    for path in _outermost([p for p in visible if not _inside(p, shown)]):
        args += _bind("--ro-bind", path, shown)
    args += _bind("--bind", _real(jail.sockets), shown)
    args += _bind("--ro-bind", _real(jail.requests), shown) + ["--chdir", "/tmp", "--clearenv"]
    env = {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
        "HOME": "/tmp",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "NBGRADER_EXECUTION": "autograde",
        "JPY_PARENT_PID": "1",  # bwrap: ipykernel neither watches it nor prints how to connect
        "PYTHONSAFEPATH": "1",  # no working folder on its path: it can't import what it wrote
        **{name: os.environ[name] for name in PASSED_ENV if name in os.environ},
        ENV: jail.rules(),
    }
    for name, value in env.items():
        args += ["--setenv", name, value]
    return args


def _hide(paths: list[str]) -> list[str]:
    args = []
    for path in paths:  # a folder becomes an empty tmpfs, a file an empty one
        args += ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]
    return args


def _bind(how: str, path: str, shown: tuple[str, ...]) -> list[str]:
    """Mount ``path`` at the same place, making the folders above it that the sandbox lacks
    (readable: bwrap would make them 0700, and the kernel's user must pass through them)."""
    args = []
    parent = os.path.dirname(path)
    while parent != "/" and parent not in PRIVATE and not _inside(parent, shown):
        args = ["--perms", "0755", "--dir", parent] + args
        parent = os.path.dirname(parent)
    return args + [how, path, path]


def _outermost(paths: list[str]) -> list[str]:
    """``paths`` without those inside another one, sorted."""
    paths = sorted(set(paths))
    return [p for p in paths if not _inside(p, tuple(q for q in paths if q != p))]


def kernel_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` less ``GRADER_ONLY_ENV``: what a kernel (or bwrap, its PID 1) may inherit."""
    return {name: value for name, value in env.items() if name not in GRADER_ONLY_ENV}


def launcher(spec: str) -> list[str]:
    """The command that runs the kernel as ``spec`` (a file written by ``write_spec``) says."""
    return [sys.executable, "-I", os.path.abspath(__file__), spec]


def write_spec(path: str, jail: Jail, kernel: list[str], own: list[str]) -> None:
    """What ``launch`` needs, in a file only the grader can read; ``own``: files and folders the
    kernel's user must own (its sockets)."""
    privileged = os.getuid() == 0
    spec = {
        "bwrap": shutil.which("bwrap"),
        "setpriv": shutil.which("setpriv") if privileged else None,
        "options": options(jail, privileged=privileged),
        "kernel": kernel,
        "own": own,
    }
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        json.dump(spec, f)


def launch(spec_path: str) -> None:
    """Become bwrap, with its options in a memfd (the kernel's command stays on bwrap's command
    line: it names no hidden folder, and ``/proc/1/cmdline`` is bwrap's).

    As root, bwrap makes the mounts as root (it can reach a Python installed under ``/root``) and
    ``setpriv`` then runs the kernel as a uid of its own, ``FIRST_UID`` + this process's PID
    (unique while the kernel lives), with no capabilities and no way to regain any
    (``--no-new-privs``: setuid programs don't work): so ``RLIMIT_NPROC`` counts exactly the
    kernel's processes. Otherwise bwrap makes a user namespace, which counts them the same way.
    """
    with open(spec_path) as f:
        spec = json.load(f)
    kernel = spec["kernel"]
    if spec["setpriv"]:
        uid = str(FIRST_UID + os.getpid())
        for path in spec["own"]:
            os.chown(path, int(uid), int(uid))
        kernel = [
            spec["setpriv"],
            "--reuid",
            uid,
            "--regid",
            uid,
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
            *kernel,
        ]
    fd = os.memfd_create("bwrap-args", 0)  # flags 0: inherited by bwrap, which reads and closes it
    os.write(fd, b"".join(arg.encode() + b"\0" for arg in spec["options"]))
    os.lseek(fd, 0, os.SEEK_SET)
    os.execve(
        spec["bwrap"], ["bwrap", "--args", str(fd), "--", *kernel], kernel_environment(os.environ)
    )


def processes_of(uid: int) -> list[int]:
    """PIDs of the processes running as ``uid`` (a kernel's own user, see ``launch``)."""
    found = []
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            with open(status) as f:
                if any(line.split()[1:2] == [str(uid)] for line in f if line.startswith("Uid:")):
                    found.append(int(status.split("/")[2]))
        except (OSError, IndexError):
            pass  # ended meanwhile
    return found


@functools.cache
def unavailable() -> str | None:
    """Why kernels can't be sandboxed here (None: they can): a tool missing, or no namespaces.
    Asked once per process (``unavailable.cache_clear()`` asks again)."""
    for tool in ("bwrap",) + (("setpriv",) if os.getuid() == 0 else ()):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install bubblewrap util-linux)"
    with tempfile.TemporaryDirectory(prefix="dlcourse-probe-") as folder:
        jail = Jail(Limits(), hidden=(), sockets=folder, requests=folder)
        spec = os.path.join(folder, "spec.json")
        write_spec(spec, jail, ["/bin/true"], own=[folder])
        done = subprocess.run(launcher(spec), capture_output=True, text=True, timeout=60)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return f"bubblewrap can't make a sandbox here ({last})"
    return None


# ------------------------------------------------------------------------ inside the kernel


def install() -> None:
    """Apply ``$DLCOURSE_SANDBOX`` to this process (no-op when it is not set)."""
    text = os.environ.pop(ENV, None)  # not left for the notebook to read
    if not text:
        return
    rules = json.loads(text)
    for name, key in (
        ("RLIMIT_DATA", "memory"),
        ("RLIMIT_FSIZE", "file_size"),
        ("RLIMIT_NPROC", "processes"),
    ):
        if rules.get(key):  # DATA, not AS: torch reserves GiBs it never uses
            limit = int(rules[key])
            resource.setrlimit(getattr(resource, name), (limit, limit))
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


if __name__ == "__main__":
    launch(sys.argv[1])
