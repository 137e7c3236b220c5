"""nbgrader's Execute, hardened for grading untrusted notebooks.

- Test cells (graded, not solution) run in the grader's process against proxies of the student's
  code (``autograder.rpc``): what the student's code does to its own kernel can't touch scores.
- A wall-clock limit for the whole notebook on top of the per-cell timeout; cells past it are
  not run and their tests score 0, with the reason.
- A kernel that dies (``os._exit``, a segfault, out of memory) costs only the cells it did not
  reach: the reason (exit code or signal) goes into each of them; the grading run goes on.
- Output is capped per cell while it arrives, so a print loop can't exhaust the grader's memory.
- The kernel starts in its own OS sandbox (``autograder.sandbox``, made by
  ``SandboxedKernelManager`` from this preprocessor's settings, per kernel): it can't see the
  course, the solutions, the
  gradebook or other kernels, write outside its private tmpfs, reach the network or outlive its
  grading; its memory, file sizes and process count are limited. With ``unsafe_no_sandbox`` only
  the audit hook inside the kernel remains (native code goes around it).
- A message from the kernel larger than ``MESSAGE_LIMIT`` bytes is dropped by ZeroMQ before it
  reaches memory here; the cell gets an error saying so and the notebook goes on.
- The per-cell timeout counts time the cell could run: the time its grading waited for a CPU
  (``autograder.load``) is added, so a loaded machine grades as an idle one, up to
  ``load.STRETCH`` times the limit; past that the notebook stops with ``OVERLOADED`` and is no
  grade (``autograder.grading`` grades it again, alone). A cell past its limit so counted is
  interrupted and says so (``TIMED_OUT``); a test cell makes no more calls into the kernel after
  one ran past it. A kernel that keeps running after the interrupt (as long again) stops the
  notebook, like a dead one.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat
import zmq
import zmq.asyncio
from jupyter_client import AsyncKernelClient, AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode, default

from . import load, sandbox
from .integrity import refusal
from .rpc import Link, run_test_cell

NOTEBOOK_TIMEOUT = 900
"""Seconds a whole notebook may run while grading."""
STOPPED = ("DeadKernelError", "NotRun", "KernelHung")
"""Error names of the outputs that say why the rest of a notebook was not run."""
TIMED_OUT = "CellTimeout"
"""Error name of the output of a cell that ran past the per-cell timeout and was interrupted."""
OVERLOADED = "GraderOverloaded"
"""Error name of the output of a cell that ran out of time because the grading machine was
overloaded: the notebook was not graded (``overloaded``)."""
WARM_UP_TIMEOUT = 120
"""Seconds the kernel may take to load the grader's side (torch) before the first test cell."""
OUTPUT_LIMIT = 1_000_000
"""Characters of output kept per cell (more is dropped as it arrives, with a note)."""
REAP_TIMEOUT = 10
"""Seconds the processes of an ended kernel get to vanish before they are killed."""
MESSAGE_LIMIT = 512 * 2**20
"""Bytes of one message from the kernel (ZeroMQ drops a larger one unread)."""


class StopGrading(Exception):
    """The notebook's grading stops at this cell: its kernel kept running after the interrupt
    of a cell past its time limit, or the machine was overloaded (``GradingExecute``)."""


class _LimitedClient(AsyncKernelClient):
    """A kernel client whose sockets drop a message over ``MESSAGE_LIMIT`` bytes unread."""

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        context = super()._context_default()
        context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_LIMIT)
        return context


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel in its own sandbox (``jail``), or only under the audit hook (``unsafe``).

    Every kernel gets a private host folder (``self.folder``, the grader's only): ``sockets/``
    holds its connection file and ZeroMQ's Unix sockets (the only host folder the kernel may
    write, and only until it has started: ``seal``), ``requests/`` the grader's RPC requests
    (read-only to the kernel). Interrupts go by message: a signal to bwrap does not reach the
    kernel's own session. Everything goes when the kernel does (``cleanup_resources``).
    """

    def __init__(self, *, jail: sandbox.Jail, unsafe: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = Path(tempfile.mkdtemp(prefix="dlcourse-kernel-"))  # 0700
        self.requests, sockets = self.folder / "requests", self.folder / "sockets"
        for folder in (self.requests, sockets, self.folder / "work"):
            folder.mkdir(mode=0o755)
        self.transport, self.connection_file = "ipc", str(sockets / "kernel.json")
        self.ip = str(sockets / "kernel")
        self.jail = replace(jail, sockets=str(sockets), requests=str(self.requests))
        self.unsafe = unsafe
        self.kernel_uid: int | None = None
        self.client_factory = _LimitedClient

    @property
    def kernel_spec(self) -> Any:
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        kernel = super().format_kernel_cmd(extra_arguments)
        if self.unsafe:
            return kernel
        spec = str(self.folder / "spec.json")
        sandbox.write_spec(spec, self.jail, kernel, own=[self.jail.sockets, self.connection_file])
        return sandbox.launcher(spec)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        kw["cwd"] = str(self.folder / "work")  # never the submission's folder
        if self.unsafe:
            kw["env"] = {
                **sandbox.kernel_environment(kw.get("env", os.environ)),
                sandbox.ENV: self.jail.rules(sandboxed=False),
            }
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if not self.unsafe and os.getuid() == 0:  # the kernel's own user: see sandbox.launch
            self.kernel_uid = sandbox.FIRST_UID + self.provisioner.pid

    def seal(self) -> None:
        """Once the kernel listens: its sockets folder is no longer its to write (where the
        grader is root; otherwise the kernel runs as the grader's own user, who owns it)."""
        sockets = self.jail.sockets
        if os.getuid() == 0 and not self.unsafe:
            os.chown(sockets, 0, 0)
        os.chmod(sockets, 0o755 if os.getuid() == 0 else 0o555)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart)
        await self._reap()
        shutil.rmtree(self.folder, ignore_errors=True)

    async def _reap(self) -> None:
        """Wait until every process the kernel started is gone: the OS kills them when the
        sandbox's PID 1 ends, but not at once (a fork bomb takes a while), and the next
        submission must not start beside them. Those still there after ``REAP_TIMEOUT`` are
        killed here. (Without a uid of its own, the kernel's PID namespace alone sees to it.)"""
        if self.kernel_uid is None:
            return
        deadline = time.monotonic() + REAP_TIMEOUT
        while (left := sandbox.processes_of(self.kernel_uid)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    cleanup_resources = _async_cleanup_resources

    def exit_code(self, code: int) -> int:
        """The kernel's exit code as ``Popen`` gives it (-N: killed by signal N) from its
        process's: bwrap says "killed by signal N" as 128 + N."""
        return 128 - code if not self.unsafe and code > 128 else code


class GradingExecute(Execute):
    """Execute with test cells run by the grader, a notebook time limit, kernel-death handling."""

    notebook_timeout = Integer(NOTEBOOK_TIMEOUT, help="Seconds the whole notebook may run.").tag(
        config=True
    )
    output_limit = Integer(OUTPUT_LIMIT, help="Characters of output kept per cell.").tag(
        config=True
    )
    memory_limit = Integer(
        sandbox.Limits.memory,
        allow_none=True,
        help="Bytes of memory (RLIMIT_DATA) the kernel may use.",
    ).tag(config=True)
    hidden = List(Unicode(), help="Paths the kernel must not see.").tag(config=True)
    visible = List(
        Unicode(),
        help="Paths it sees besides the system and its Python (what " "it imports, data).",
    ).tag(config=True)
    unsafe_no_sandbox = Bool(
        False,
        help="Run kernels without the OS sandbox (audit hook " "only: native code goes around it).",
    ).tag(config=True)

    def create_kernel_manager(self) -> SandboxedKernelManager:
        """A kernel manager carrying this run's sandbox settings (per kernel, not per process)."""
        jail = sandbox.Jail(
            replace(sandbox.Limits(), memory=self.memory_limit),
            hidden=tuple(self.hidden),
            visible=tuple(self.visible),
        )
        name = self.kernel_name or self.nb.metadata.get("kernelspec", {}).get("name", "python3")
        self.km = SandboxedKernelManager(
            kernel_name=name, config=self.config, jail=jail, unsafe=self.unsafe_no_sandbox
        )
        return self.km

    async def async_start_new_kernel_client(self) -> Any:
        client = await super().async_start_new_kernel_client()
        self.km.seal()  # the kernel answered: its sockets are there
        return client

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # nbconvert calls this one

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> Any:
        self._deadline = time.monotonic() + self.notebook_timeout
        self._cell_timeout = self.timeout
        self._stopped: str | None = None
        self._sizes: dict[int, int] = {}
        self._answering = False
        self._warm = False
        self._loaded: str | None = None  # why the machine's load ran the clock out
        self._start = (time.monotonic(), load.Usage())  # of the cell running (``execute_cell``)
        self._index, self._testing, self._interrupted = 0, False, False
        self._overran: str | None = None  # why the current cell was interrupted
        self._pids: list[int] = []
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        if cell.cell_type != "code":
            return cell, resources
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 and not self._stopped:
            self._stopped = f"the notebook ran past its time limit of {self.notebook_timeout} s"
        if self._stopped:
            cell.outputs = [_error(STOPPED[1], f"cell not run: {self._stopped}")]
            return cell, resources
        self.timeout = max(1, min(self._cell_timeout, int(remaining)))
        self._index, self._overran = index, None
        self._testing = utils.is_grade(cell) and not utils.is_solution(cell)
        self._pids = self._grading_pids()  # once a cell: a look through /proc takes milliseconds
        try:
            if self._testing:
                # the task's rules, checked here on the source: nothing the kernel says counts
                refused = refusal(self.nb, cell, resources, self.config.CourseDirectory.get("root"))
                if refused is not None:
                    cell.outputs = [refused]
                    return cell, resources
                self._warm_up(index)
                link = Link(lambda code: self._run_in_kernel(code, index), str(self.km.requests))
                cell.outputs = run_test_cell(cell.source, link, self._defined_names())
                if link.dead:
                    raise DeadKernelError(link.dead)
            else:
                super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = f"the kernel died in cell {index + 1} ({self._exit_reason()})"
            cell.outputs.append(_error(STOPPED[0], self._stopped))
        except StopGrading:
            pass  # the outputs below say why
        except CellTimeoutError:  # nbclient's "Timeout waiting for IOPub output"
            if not self._overloaded(f"part of cell {index + 1}'s output did not arrive in time"):
                cell.outputs.append(_output_lost())
        if self._overran:
            cell.outputs.append(_error(TIMED_OUT, self._overran))
        if self._loaded:
            self._stopped = self._loaded
            cell.outputs.append(_error(OVERLOADED, self._loaded))
        elif self._stopped and not any(o.get("ename") in STOPPED for o in cell.outputs):
            cell.outputs.append(_error(STOPPED[2], self._stopped))
        return cell, resources

    def execute_cell(self, *args: Any, **kwargs: Any) -> Any:
        """nbclient's, noting the time and the CPU the grading has had when the cell starts: a
        cell that runs past its limit is then told apart from one the machine's load starved."""
        self._start, self._interrupted = (time.monotonic(), self._usage()), False
        return super().execute_cell(*args, **kwargs)

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> None:
        """nbclient's clock ran out: first the cell gets the time the load took (``_owed``);
        past its limit so counted, it is interrupted and nbclient waits as long again for its
        reply; then the kernel is given up on (the interrupted cell would run on and every
        later cell would queue behind it)."""
        if not self._interrupted:
            if await self._owed(timeout):
                return None  # the reply is there: nbclient takes it
            self._interrupted = True
            self._overran = self._overran or self._overrun_text(timeout)
            await ensure_async(self.km.interrupt_kernel())
            return None
        self._stopped = (
            f"the kernel kept running cell {self._index + 1} for {timeout} s after "
            "it ran past the limit per cell and was interrupted (does it catch "
            "KeyboardInterrupt?)"
        )
        raise StopGrading(self._stopped)

    async def _owed(self, timeout: int) -> bool:
        """Wait while the running cell is owed time the machine's load took from it (``load.owed``);
        True once its reply has come. Past ``load.STRETCH`` times the limit the machine is too
        loaded to grade: ``StopGrading``, ``self._loaded`` says why."""
        start, before = self._start
        while True:
            wall, used = time.monotonic() - start, self._usage() - before
            if wall >= timeout + load.owed(used, wall):
                return False
            if wall >= load.STRETCH * timeout:
                self._loaded = (
                    f"the grading machine was overloaded: cell {self._index + 1} ran {wall:.0f} s, "
                    f"{load.STRETCH}x {self._limit(timeout)}, while the grading waited "
                    f"{used.waited:.1f} s for a CPU; this is no grade: grade it again"
                )
                raise StopGrading(self._loaded)
            await self._async_check_alive()
            if await self.kc.shell_channel.socket.poll(200):
                return True

    def _limit(self, timeout: int) -> str:
        """The limit a cell ran past: its own, or what was left of the notebook's."""
        return (
            f"the {timeout} s limit per cell"
            if timeout >= self._cell_timeout
            else f"the notebook's time limit of {self.notebook_timeout} s"
        )

    def _overrun_text(self, timeout: int) -> str:
        limit = self._limit(timeout)
        if self._testing:
            return (
                f"the student's code called by the test in cell {self._index + 1} ran past "
                f"{limit} and was interrupted; the test made no more calls"
            )
        return f"cell {self._index + 1} ran past {limit} and was interrupted"

    def _overloaded(self, what: str) -> bool:
        """Whether the grading was starved of CPU by other load while the running cell ran
        (``load.starved``); if so, ``self._loaded`` says so (the first time)."""
        start, before = self._start
        wall, used = time.monotonic() - start, self._usage() - before
        if not load.starved(used, wall):
            return False
        self._loaded = self._loaded or (
            f"the grading machine was overloaded: {what} while the grading waited "
            f"{used.waited:.1f} s of {wall:.1f} s for a CPU; this is no grade: grade it again"
        )
        return True

    def _usage(self) -> load.Usage:
        return load.usage(self._pids)

    def _grading_pids(self) -> list[int]:
        """The processes grading this notebook: this one and the kernel's (its own user's where
        it has one, else those its launcher started)."""
        km = getattr(self, "km", None)
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if km is None or pid is None:
            return [os.getpid()]
        kernel = (
            sandbox.processes_of(km.kernel_uid)
            if km.kernel_uid is not None
            else load.descendants(pid)
        )
        return [os.getpid(), *kernel]

    def _no_calls(self) -> NotebookNode | None:
        """Why the kernel is asked nothing more in this cell (an output saying so), or None."""
        if self._loaded:
            return _error(OVERLOADED, self._loaded)
        if self._stopped:
            return _error(STOPPED[2], self._stopped)
        return _error(TIMED_OUT, self._overran) if self._overran else None

    def _defined_names(self) -> set[str]:
        """Names the notebook's solution cells define with ``def``/``class`` (a task may be
        called ``eval``: the test cell must see the student's, not the builtin)."""
        names = set()
        for cell in self.nb.cells:
            if cell.cell_type == "code" and utils.is_solution(cell):
                try:
                    tree = ast.parse(cell.source)
                except SyntaxError:
                    continue
                names |= {
                    node.name
                    for node in tree.body
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                }
        return names

    def _warm_up(self, index: int) -> None:
        """Load the grader's side in the kernel once, before the first test cell, under its own
        time limit: imports (torch) must not eat into the time the student's code is given."""
        if not self._warm:
            timeout, self.timeout = self.timeout, max(self.timeout, WARM_UP_TIMEOUT)
            try:
                self._run_in_kernel("import autograder.kernel, dlcourse.check", index)
            finally:
                self.timeout, self._warm = timeout, True

    def _run_in_kernel(self, code: str, index: int) -> list[NotebookNode]:
        """Run grader code in the student's kernel (not stored in the notebook); its outputs.
        After a call that ran past the time limit, or on an overloaded machine, nothing more is
        run: the outputs say why (the grader's request then fails with that reason)."""
        if (why := self._no_calls()) is not None:
            return [why]
        cell, test_cell = nbformat.v4.new_code_cell(code), self.nb.cells[index]
        self._answering = True  # answers carry arrays: a larger cap
        try:
            self.execute_cell(cell, index, store_history=False)
        except CellTimeoutError:  # nbclient's "Timeout waiting for IOPub output"
            if not self._overloaded(f"an answer in cell {index + 1} did not arrive in time"):
                cell.outputs.append(_output_lost())
        except StopGrading:
            pass  # the kernel is given up on: the outputs say why, the test cell ends the run
        finally:
            self._answering = False
            self.nb.cells[index] = test_cell  # nbclient stores the executed cell at ``index``
        if (why := self._no_calls()) is not None:
            cell.outputs.append(why)
        return cell.outputs

    def _exit_reason(self) -> str:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "it stopped answering"
        code = self.km.exit_code(code)
        if code < 0:
            name = signal.Signals(-code).name
            hint = {"SIGKILL": ": often out of memory", "SIGSEGV": ": a crash in native code"}.get(
                name, ""
            )
            return f"killed by {name}{hint}"
        return f"it exited with code {code}: os._exit or sys.exit in a thread?"

    def output(self, outs: list[NotebookNode], msg: dict, display_id: Any, cell_index: int) -> Any:
        """Keep at most ``output_limit`` characters of output per cell."""
        size = len(str(msg.get("content", "")))
        used = self._sizes.get(id(outs), 0)
        self._sizes[id(outs)] = used + size
        limit = self.output_limit * (100 if self._answering else 1)
        if used + size <= limit:
            return super().output(outs, msg, display_id, cell_index)
        if used <= limit:
            outs.append(
                nbformat.v4.new_output(
                    "stream", name="stdout", text=f"\n[output cut: more than {limit} characters]\n"
                )
            )
        return None


def _output_lost() -> NotebookNode:
    """nbclient gave up waiting for the rest of a cell's output, and not for the machine's load:
    a message over the limit was dropped (ZeroMQ then disconnects its sender)."""
    return _error(
        "OutputLost",
        "part of this cell's output never arrived "
        f"(a message over {MESSAGE_LIMIT} bytes is dropped)",
    )


def _error(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


def overloaded(nb: NotebookNode) -> str | None:
    """Why the grading of this executed notebook is no grade (the machine was overloaded: see
    ``GradingExecute``), or None."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error" and output.ename == OVERLOADED:
                return output.evalue
    return None
