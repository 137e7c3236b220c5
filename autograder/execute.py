"""nbgrader's Execute, hardened for grading untrusted notebooks.

- Test cells (graded, not solution) run in the grader's process against proxies of the student's
  code (``autograder.rpc``): what the student's code does to its own kernel can't touch scores.
- A wall-clock limit for the whole notebook on top of the per-cell timeout; cells past it are
  not run and their tests score 0, with the reason.
- A kernel that dies (``os._exit``, a segfault, out of memory) costs only the cells it did not
  reach: the reason (exit code or signal) goes into each of them; the grading run goes on.
- Output is capped per cell while it arrives, so a print loop can't exhaust the grader's memory.
- The kernel starts sandboxed (``autograder.sandbox``): memory limit, no reading the course's
  hidden tests, solutions or gradebook, no writing outside its folder, no subprocesses.
"""
from __future__ import annotations

import ast
import signal
import time
from typing import Any

import nbformat
from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Integer

from .rpc import Link, run_test_cell

NOTEBOOK_TIMEOUT = 900
"""Seconds a whole notebook may run while grading."""
STOPPED = ("DeadKernelError", "NotRun")
"""Error names of the outputs that say why the rest of a notebook was not run."""
WARM_UP_TIMEOUT = 120
"""Seconds the kernel may take to load the grader's side (torch) before the first test cell."""
OUTPUT_LIMIT = 1_000_000
"""Characters of output kept per cell (more is dropped as it arrives, with a note)."""


class GradingExecute(Execute):
    """Execute with test cells run by the grader, a notebook time limit and kernel-death handling."""

    notebook_timeout = Integer(NOTEBOOK_TIMEOUT, help="Seconds the whole notebook may run.").tag(config=True)
    output_limit = Integer(OUTPUT_LIMIT, help="Characters of output kept per cell.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> Any:
        self._deadline = time.monotonic() + self.notebook_timeout
        self._cell_timeout = self.timeout
        self._stopped: str | None = None
        self._sizes: dict[int, int] = {}
        self._answering = False
        self._warm = False
        self._folder = (resources or {}).get("metadata", {}).get("path")  # the kernel's working directory
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
        try:
            if utils.is_grade(cell) and not utils.is_solution(cell):
                self._warm_up(index)
                link = Link(lambda code: self._run_in_kernel(code, index), self._folder)
                cell.outputs = run_test_cell(cell.source, link, self._defined_names())
                if link.dead:
                    raise DeadKernelError(link.dead)
            else:
                super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = f"the kernel died in cell {index + 1} ({self._exit_reason()})"
            cell.outputs.append(_error(STOPPED[0], self._stopped))
        return cell, resources

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
                names |= {node.name for node in tree.body
                          if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
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
        """Run grader code in the student's kernel (not stored in the notebook); its outputs."""
        cell, test_cell = nbformat.v4.new_code_cell(code), self.nb.cells[index]
        self._answering = True  # answers carry arrays: a larger cap
        try:
            self.execute_cell(cell, index, store_history=False)
        finally:
            self._answering = False
            self.nb.cells[index] = test_cell  # nbclient stores the executed cell at ``index``
        return cell.outputs

    def _exit_reason(self) -> str:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "it stopped answering"
        if code < 0:
            name = signal.Signals(-code).name
            hint = {"SIGKILL": ": often out of memory", "SIGSEGV": ": a crash in native code"}.get(name, "")
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
            outs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"\n[output cut: more than {limit} characters]\n"))
        return None


def _error(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
